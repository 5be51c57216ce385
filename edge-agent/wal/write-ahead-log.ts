/**
 * Write-ahead log: every accepted event is appended here and acknowledged only once it is durable, so that after a
 * crash the agent rebuilds its state from the newest snapshot plus a replay of the log from the snapshot's sequence.
 *
 * Appends are synchronous and touch only memory: the record (header, CRC32C, payload copy) is encoded into a 1 MiB
 * chunk and gets its sequence number at once. Group commit: a timer, at most every fsyncIntervalMs while records are
 * pending, writes everything pending to the active segment with one write and one fdatasync, then advances
 * durableSeq and wakes whenDurable() waiters. See openLog for the guarantees.
 */
import { join } from 'node:path';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.ts';
import { MAX_PAYLOAD_BYTES, MAX_SEQ, RECORD_HEADER_BYTES, encodeRecord, segmentFileName } from './record-format.ts';
import {
  type CorruptRecordPolicy, DamageLedger, type RecoveredLog, type RecoveryReport, type SegmentState, type SkippedRecords, recoverLog,
} from './recovery.ts';
import { DEFAULT_WINDOW_BYTES, scanSegment } from './segment-scanner.ts';
import { WalBackpressureError, WalClosedError, WalWriteError, type WriteOperation } from './wal-errors.ts';
import { type WalFile, type WalFileSystem, nodeWalFileSystem } from './wal-file-system.ts';

export { DAMAGE_REASONS, type DamageReason, WalBackpressureError, WalClosedError, WalCorruptionError, WalError, WalWriteError, type WriteOperation } from './wal-errors.ts';
export type { CorruptRecordPolicy, RecoveryReport, SkippedRecords, TruncatedTail } from './recovery.ts';
export type { WalFile, WalFileSystem, WalOpenMode } from './wal-file-system.ts';
export type { LatencySummary } from './latency-histogram.ts';

export interface WalOptions {
  /** A segment is rolled when the next record would take it past this size. @default 64 MiB */
  readonly segmentBytes?: number;
  /** Group-commit period: pending records are written and fdatasync'ed at most this long after they were appended. @default 10 */
  readonly fsyncIntervalMs?: number;
  /** Bytes appended but not yet durable at which append() refuses with WalBackpressureError. @default 64 MiB */
  readonly maxPendingBytes?: number;
  /** Pending bytes at which a group commit starts at once instead of at the next tick. @default 4 MiB */
  readonly commitAtBytes?: number;
  /** Delay before a failed write or fsync is retried. @default 100 */
  readonly retryDelayMs?: number;
  /** Damaged records outside the torn tail of the last segment: throw ('stop') or skip and count ('skip'). @default 'stop' */
  readonly onCorruptRecord?: CorruptRecordPolicy;
  /** Sequence number of the first record when the directory holds no segment. @default 1n */
  readonly initialSeq?: bigint;
  /** Read buffer for recovery and replay; larger records get a buffer of their own. @default 1 MiB */
  readonly readWindowBytes?: number;
  /** fdatasync latencies kept for percentiles. @default 1024 */
  readonly latencySamples?: number;
  /** Called after each group commit with the new durableSeq. Must not throw (a throw is rethrown outside the log). */
  readonly onDurable?: (durableSeq: bigint) => void;
  /** Called after each failed disk operation; the records stay pending and are retried. Turn it into an alarm. */
  readonly onWriteError?: (error: WalWriteError) => void;
  /** File operations, injectable for fault tests. @default nodeWalFileSystem */
  readonly fileSystem?: WalFileSystem;
}

export interface CloseOptions {
  /**
   * Drop records not yet durable instead of flushing them (their whenDurable promises reject with WalClosedError).
   * For the second stage of a shutdown, after a flush that failed. @default false
   */
  readonly discardPending?: boolean;
}

export interface ReplayResult {
  readonly records: number;
  /** First and last sequence visited, undefined when none was. */
  readonly firstSeq: bigint | undefined;
  readonly lastSeq: bigint | undefined;
  /** Damage skipped on the way ('skip' policy only). */
  readonly skipped: readonly SkippedRecords[];
}

export interface WalStats {
  readonly recordsAppended: number;
  /** Bytes appended including the 16-byte record headers. */
  readonly bytesAppended: number;
  readonly pendingRecords: number;
  readonly pendingBytes: number;
  readonly durableSeq: bigint;
  readonly lastSeq: bigint;
  /** Bytes written and synced. */
  readonly bytesWritten: number;
  /** Successful write + fdatasync batches (one per group commit and segment). */
  readonly commits: number;
  readonly fsyncs: number;
  readonly writeErrors: number;
  /** Set while writes are failing; cleared by the next successful group commit. */
  readonly stalledBy: WalWriteError | undefined;
  readonly segments: number;
  readonly segmentsRemoved: number;
  readonly fsyncLatency: LatencySummary;
}

const CHUNK_BYTES = 1024 * 1024;

/** Records sealed for the disk: a slice of an append chunk, all bound for one segment. */
interface PendingPiece {
  readonly bytes: Buffer;
  readonly lastSeq: number;
  readonly segmentFirstSeq: number;
}

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type Timer = { readonly kind: 'timeout'; readonly handle: NodeJS.Timeout } | { readonly kind: 'immediate'; readonly handle: NodeJS.Immediate };

/**
 * Opens (creating if needed) the log in dir and recovers it. Guarantees the agent can rely on:
 *
 * - durableSeq: every record with a sequence up to it was written and fdatasync'ed (recovered records are synced at
 *   open). It only grows. Acknowledge an event once whenDurable(its seq) resolved, never before.
 * - Recovery cuts the torn or corrupt tail of the LAST segment at its last good record (bad length, short record,
 *   CRC mismatch, wrong sequence), fsyncs, and reports it in `recovery.truncatedTail`; it never throws for that.
 *   Damage in an earlier segment, or a gap between segments, throws WalCorruptionError (file, offset, seq) under
 *   'stop', or is skipped and counted in `recovery.skipped` under 'skip'.
 * - Disk errors (ENOSPC, EIO) never lose an accepted record and never leave a partial record behind: the segment is
 *   truncated back to its durable end, the records stay pending and the write is retried every retryDelayMs;
 *   onWriteError reports each failure. Pending memory is bounded by maxPendingBytes: past it append() throws
 *   WalBackpressureError and the record is NOT appended (it takes no sequence number); the caller stops taking
 *   input or sheds it, and raises an alarm.
 * - After a crash the log holds every durable record, and possibly more: records written but not yet synced when
 *   the process died are kept if whole (recovery syncs them), though they were never acknowledged. Records that
 *   never reached the disk are gone and their sequence numbers go to the next appends, so nothing outside the log
 *   (warm files, acknowledgements) may use a sequence number above durableSeq.
 * - One process per directory: two logs open on the same directory corrupt each other.
 */
export async function openLog(dir: string, options: WalOptions = {}): Promise<WriteAheadLog> {
  const fileSystem = options.fileSystem ?? nodeWalFileSystem;
  const initialSeq = Number(options.initialSeq ?? 1n);
  if (!Number.isSafeInteger(initialSeq) || initialSeq < 1) throw new RangeError(`initialSeq ${options.initialSeq} must be between 1 and 2^53`);
  const recovered = await recoverLog(dir, fileSystem, options.onCorruptRecord ?? 'stop', initialSeq, options.readWindowBytes ?? DEFAULT_WINDOW_BYTES);
  return new WriteAheadLog(dir, fileSystem, recovered, options);
}

export class WriteAheadLog {
  /** What recovery found and repaired when the log was opened. */
  readonly recovery: RecoveryReport;
  private readonly segmentBytes: number;
  private readonly fsyncIntervalMs: number;
  private readonly maxPendingBytes: number;
  private readonly commitAtBytes: number;
  private readonly retryDelayMs: number;
  private readonly policy: CorruptRecordPolicy;
  private readonly windowBytes: number;
  private readonly onDurable: ((durableSeq: bigint) => void) | undefined;
  private readonly onWriteError: ((error: WalWriteError) => void) | undefined;

  /** Segments on disk, oldest first; the last is the one being written. */
  private readonly segments: SegmentState[];
  private activeFile: WalFile;
  /** Bytes past the active segment's durable end may hold a failed write: truncate before writing again. */
  private tailDirty = false;

  // Append side: records go into `chunk`; [chunkSealed, chunkUsed) is not yet handed to the writer.
  private nextSeq: number;
  private durable: number;
  private chunk: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private chunkUsed = 0;
  private chunkSealed = 0;
  /** The segment appends currently go to (it exists on disk only once the writer reaches it) and its size so far. */
  private appendSegmentFirstSeq: number;
  private appendSegmentBytes: number;
  private pendingBytes = 0;
  private readonly sealed: PendingPiece[] = [];

  // Commit side.
  private timer: Timer | undefined;
  private round: Promise<WalWriteError | undefined> | undefined;
  private stalledBy: WalWriteError | undefined;
  private waiters: Waiter[] = [];
  private waiterHead = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private removal: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> = Promise.resolve();

  private recordsAppended = 0;
  private bytesAppended = 0;
  private bytesWritten = 0;
  private commits = 0;
  private fsyncs = 0;
  private writeErrors = 0;
  private segmentsRemoved = 0;
  private readonly fsyncLatency: LatencyHistogram;

  /** Use openLog. */
  constructor(readonly dir: string, private readonly fs: WalFileSystem, recovered: RecoveredLog, options: WalOptions) {
    this.segmentBytes = positive('segmentBytes', options.segmentBytes ?? 64 * 1024 * 1024);
    this.fsyncIntervalMs = positive('fsyncIntervalMs', options.fsyncIntervalMs ?? 10);
    this.maxPendingBytes = positive('maxPendingBytes', options.maxPendingBytes ?? 64 * 1024 * 1024);
    this.commitAtBytes = positive('commitAtBytes', options.commitAtBytes ?? 4 * 1024 * 1024);
    this.retryDelayMs = positive('retryDelayMs', options.retryDelayMs ?? 100);
    this.windowBytes = positive('readWindowBytes', options.readWindowBytes ?? DEFAULT_WINDOW_BYTES);
    this.policy = options.onCorruptRecord ?? 'stop';
    this.onDurable = options.onDurable;
    this.onWriteError = options.onWriteError;
    this.fsyncLatency = new LatencyHistogram(undefined, options.latencySamples ?? 1024);
    this.recovery = recovered.report;
    this.segments = recovered.segments;
    this.activeFile = recovered.activeFile;
    this.nextSeq = recovered.nextSeq;
    this.durable = recovered.nextSeq - 1;
    const active = this.active;
    this.appendSegmentFirstSeq = active.firstSeq;
    this.appendSegmentBytes = active.durableBytes;
  }

  /** Highest sequence such that it and every record before it are written and fdatasync'ed. */
  get durableSeq(): bigint {
    return BigInt(this.durable);
  }

  /** Sequence of the last record appended (durable or not); durableSeq when nothing is pending. */
  get lastSeq(): bigint {
    return BigInt(this.nextSeq - 1);
  }

  /** Lowest sequence the log can still hold (records below it were removed). */
  get firstSeq(): bigint {
    return BigInt(this.segments[0]!.firstSeq);
  }

  /**
   * Appends one record and returns its sequence number. Synchronous, memory only; the payload is copied. Throws
   * WalBackpressureError (record not appended) when maxPendingBytes would be passed, WalClosedError after close(),
   * RangeError for a payload over 16 MiB.
   */
  append(payload: Uint8Array): bigint {
    if (this.state !== 'open') throw new WalClosedError(this.dir);
    const length = payload.byteLength;
    if (length > MAX_PAYLOAD_BYTES) throw new RangeError(`write-ahead log ${this.dir}: payload of ${length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte record limit`);
    const recordBytes = RECORD_HEADER_BYTES + length;
    if (this.pendingBytes > 0 && this.pendingBytes + recordBytes > this.maxPendingBytes) {
      throw new WalBackpressureError(this.dir, this.pendingBytes, this.maxPendingBytes, this.stalledBy);
    }
    const seq = this.nextSeq;
    if (seq > MAX_SEQ) throw new RangeError(`write-ahead log ${this.dir}: sequence ${seq} is past 2^53`);
    if (this.appendSegmentBytes > 0 && this.appendSegmentBytes + recordBytes > this.segmentBytes) {
      this.seal();
      this.appendSegmentFirstSeq = seq;
      this.appendSegmentBytes = 0;
    }
    if (this.chunkUsed + recordBytes > this.chunk.length) {
      this.seal();
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, recordBytes));
      this.chunkUsed = 0;
      this.chunkSealed = 0;
    }
    this.chunkUsed += encodeRecord(this.chunk, this.chunkUsed, seq, payload);
    this.nextSeq = seq + 1;
    this.appendSegmentBytes += recordBytes;
    this.pendingBytes += recordBytes;
    this.recordsAppended++;
    this.bytesAppended += recordBytes;
    if (this.timer === undefined) {
      if (this.round === undefined) this.schedule(this.pendingBytes >= this.commitAtBytes ? 0 : this.fsyncIntervalMs);
    } else if (this.timer.kind === 'timeout' && this.pendingBytes >= this.commitAtBytes && this.stalledBy === undefined) {
      this.schedule(0);
    }
    return BigInt(seq);
  }

  /**
   * Resolves once record `seq` is durable. Waits through disk errors (the write is retried); rejects with
   * WalClosedError if the log is closed with discardPending first, RangeError for a sequence never appended.
   */
  whenDurable(seq: bigint): Promise<void> {
    const n = Number(seq);
    if (n <= this.durable) return Promise.resolve();
    if (n >= this.nextSeq) return Promise.reject(new RangeError(`write-ahead log ${this.dir}: seq ${seq} was never appended (last is ${this.nextSeq - 1})`));
    if (this.state === 'closed') return Promise.reject(new WalClosedError(this.dir));
    return new Promise((resolve, reject) => this.addWaiter({ seq: n, resolve, reject }));
  }

  /**
   * Group-commits now and resolves when every record appended before the call is durable. Rejects with the
   * WalWriteError if this attempt fails (the records stay pending and background retries go on).
   */
  async flush(): Promise<void> {
    const target = this.nextSeq - 1;
    while (this.durable < target) {
      if (this.state === 'closed') throw new WalClosedError(this.dir);
      const inFlight = this.round;
      if (inFlight !== undefined) {
        await inFlight;
        continue;
      }
      const failure = await this.runRound();
      if (failure !== undefined) throw failure;
    }
  }

  /**
   * Stops appends, flushes what is pending and closes the active segment. If the flush fails, close() rejects and
   * the log stays closing (appends refused, retries go on): call close() again, or close({ discardPending: true }).
   */
  close(options: CloseOptions = {}): Promise<void> {
    // Calls run one after the other, so a second-stage close({ discardPending }) follows a draining close in flight.
    const closing = this.closing.catch(() => undefined).then(() => this.closeNow(options));
    this.closing = closing;
    return closing;
  }

  private async closeNow(options: CloseOptions): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    if (options.discardPending !== true) await this.flush();
    this.state = 'closed';
    this.cancelTimer();
    if (this.round !== undefined) await this.round;
    this.sealed.length = 0;
    this.chunkSealed = this.chunkUsed;
    this.pendingBytes = 0;
    for (let i = this.waiterHead; i < this.waiters.length; i++) this.waiters[i]!.reject(new WalClosedError(this.dir));
    this.waiters = [];
    this.waiterHead = 0;
    await this.removal;
    await this.activeFile.close();
  }

  /**
   * Streams the durable records with sequence >= fromSeq, in order, to visit (awaited when it returns a promise).
   * The payload is a view into a read buffer, valid only during the call: copy it to keep it. Records appended
   * after the call started, or not yet durable, are not visited. Do not remove segments a replay is reading.
   */
  async replay(fromSeq: bigint, visit: (seq: bigint, payload: Uint8Array) => void | Promise<void>): Promise<ReplayResult> {
    const from = fromSeq < 1n ? 1 : fromSeq > BigInt(MAX_SEQ) ? MAX_SEQ : Number(fromSeq);
    const segments = this.segments.map((s) => ({ path: s.path, firstSeq: s.firstSeq, durableBytes: s.durableBytes, lastSeq: s.lastSeq }));
    const ledger = new DamageLedger(this.policy);
    let records = 0;
    let first: number | undefined;
    let last: number | undefined;
    let expected: number | undefined;
    for (const segment of segments) {
      if (segment.lastSeq < from) continue;
      ledger.segmentStart(segment.path, segment.firstSeq, expected);
      const file = await this.fs.open(segment.path, 'read');
      try {
        const result = await scanSegment({
          file,
          endOffset: segment.durableBytes,
          firstSeq: segment.firstSeq,
          windowBytes: this.windowBytes,
          onRecord: (seq, payload) => {
            if (seq < from) return undefined;
            records++;
            first ??= seq;
            last = seq;
            return visit(BigInt(seq), payload);
          },
          onDamage: () => (this.policy === 'skip' ? 'resync' : 'stop'),
        });
        ledger.segmentScanned(segment.path, result, false);
        expected = result.lastSeq + 1;
      } finally {
        await file.close();
      }
    }
    ledger.finish();
    return { records, firstSeq: first === undefined ? undefined : BigInt(first), lastSeq: last === undefined ? undefined : BigInt(last), skipped: ledger.skipped };
  }

  /**
   * Deletes, oldest first, the segments whose every record has a sequence below seq (call it once every event in
   * them is safe elsewhere), then fsyncs the directory. Never deletes the segment being written. Returns the file
   * names removed.
   */
  removeSegmentsBelow(seq: bigint): Promise<string[]> {
    const bound = seq > BigInt(MAX_SEQ) ? MAX_SEQ + 1 : Number(seq);
    const removal = this.removal.then(() => this.removeBelow(bound));
    this.removal = removal.catch(() => undefined);
    return removal;
  }

  stats(): WalStats {
    return {
      recordsAppended: this.recordsAppended,
      bytesAppended: this.bytesAppended,
      pendingRecords: this.nextSeq - 1 - this.durable,
      pendingBytes: this.pendingBytes,
      durableSeq: BigInt(this.durable),
      lastSeq: BigInt(this.nextSeq - 1),
      bytesWritten: this.bytesWritten,
      commits: this.commits,
      fsyncs: this.fsyncs,
      writeErrors: this.writeErrors,
      stalledBy: this.stalledBy,
      segments: this.segments.length,
      segmentsRemoved: this.segmentsRemoved,
      fsyncLatency: this.fsyncLatency.summary(),
    };
  }

  /** Names of the segment files on disk, oldest first. */
  segmentFiles(): string[] {
    return this.segments.map((s) => s.name);
  }

  private get active(): SegmentState {
    return this.segments[this.segments.length - 1]!;
  }

  /** Hands the unsealed records of the chunk to the writer. */
  private seal(): void {
    if (this.chunkUsed === this.chunkSealed) return;
    this.sealed.push({ bytes: this.chunk.subarray(this.chunkSealed, this.chunkUsed), lastSeq: this.nextSeq - 1, segmentFirstSeq: this.appendSegmentFirstSeq });
    this.chunkSealed = this.chunkUsed;
  }

  private schedule(delayMs: number): void {
    if (this.round !== undefined || this.state === 'closed') return;
    if (this.timer !== undefined) {
      if (delayMs > 0 || this.timer.kind === 'immediate') return;
      this.cancelTimer();
    }
    this.timer = delayMs > 0
      ? { kind: 'timeout', handle: setTimeout(this.onTimer, delayMs) }
      : { kind: 'immediate', handle: setImmediate(this.onTimer) };
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    void this.runRound();
  };

  private cancelTimer(): void {
    const timer = this.timer;
    if (timer === undefined) return;
    if (timer.kind === 'timeout') clearTimeout(timer.handle);
    else clearImmediate(timer.handle);
    this.timer = undefined;
  }

  /** One group commit of everything sealed so far; resolves to the failure, if any (never rejects). */
  private runRound(): Promise<WalWriteError | undefined> {
    if (this.round !== undefined) return this.round;
    this.cancelTimer();
    const startedAt = performance.now();
    const round = this.commitSealed().then(
      () => undefined,
      (error: unknown) => {
        const failure = error instanceof WalWriteError ? error : new WalWriteError('write', this.active.path, error);
        this.stalledBy = failure;
        this.writeErrors++;
        if (this.onWriteError !== undefined) callOutside(this.onWriteError, failure);
        return failure;
      },
    ).then((failure) => {
      this.round = undefined;
      if (this.pendingBytes > 0) {
        const elapsedMs = performance.now() - startedAt;
        this.schedule(failure !== undefined ? this.retryDelayMs : this.pendingBytes >= this.commitAtBytes ? 0 : Math.max(0, this.fsyncIntervalMs - elapsedMs));
      }
      return failure;
    });
    this.round = round;
    return round;
  }

  private async commitSealed(): Promise<void> {
    this.seal();
    let remaining = this.sealed.length;
    while (remaining > 0) {
      const first = this.sealed[0]!;
      let count = 1;
      let bytes = first.bytes.length;
      while (count < remaining && this.sealed[count]!.segmentFirstSeq === first.segmentFirstSeq) bytes += this.sealed[count++]!.bytes.length;
      if (this.active.firstSeq !== first.segmentFirstSeq) await this.roll(first.segmentFirstSeq);
      const data = count === 1 ? first.bytes : Buffer.concat(this.sealed.slice(0, count).map((p) => p.bytes), bytes);
      await this.writeAndSync(data);
      this.stalledBy = undefined;
      const lastSeq = this.sealed[count - 1]!.lastSeq;
      this.sealed.splice(0, count);
      remaining -= count;
      this.pendingBytes -= bytes;
      this.bytesWritten += bytes;
      this.commits++;
      this.active.lastSeq = lastSeq;
      this.advanceDurable(lastSeq);
    }
  }

  /** Writes data at the active segment's durable end and fdatasyncs; on failure leaves nothing past that end. */
  private async writeAndSync(data: Buffer): Promise<void> {
    const segment = this.active;
    const file = this.activeFile;
    if (this.tailDirty) {
      try {
        await file.truncate(segment.durableBytes);
      } catch (error) {
        throw new WalWriteError('truncate', segment.path, error);
      }
      this.tailDirty = false;
    }
    let operation: WriteOperation = 'write';
    try {
      for (let written = 0; written < data.length;) {
        const n = await file.write(data.subarray(written), segment.durableBytes + written);
        if (n <= 0) throw new Error(`write made no progress (${written} of ${data.length} bytes written)`);
        written += n;
      }
      operation = 'fsync';
      const started = performance.now();
      await file.datasync();
      this.fsyncLatency.record(performance.now() - started);
      this.fsyncs++;
    } catch (error) {
      // Past the durable end now sits a partial write, or data whose fsync failed (Linux may already have dropped
      // those dirty pages): cut it off so that no half record waits there, and rewrite all of it on the retry.
      this.tailDirty = true;
      try {
        await file.truncate(segment.durableBytes);
        this.tailDirty = false;
      } catch {
        // Retried before the next write; a crash meanwhile leaves a torn tail, which recovery cuts.
      }
      throw new WalWriteError(operation, segment.path, error);
    }
    segment.durableBytes += data.length;
  }

  /** Starts the segment whose first record is firstSeq; the current one is complete and synced. */
  private async roll(firstSeq: number): Promise<void> {
    const name = segmentFileName(firstSeq);
    const path = join(this.dir, name);
    let file: WalFile;
    try {
      file = await this.fs.open(path, 'create');
    } catch (error) {
      throw new WalWriteError('create-segment', path, error);
    }
    try {
      await this.fs.syncDirectory(this.dir);
    } catch (error) {
      await file.close().catch(() => undefined);
      throw new WalWriteError('sync-directory', this.dir, error);
    }
    const previous = this.activeFile;
    this.activeFile = file;
    this.tailDirty = false;
    this.segments.push({ name, path, firstSeq, durableBytes: 0, lastSeq: firstSeq - 1 });
    // Everything in it is synced: a failing close loses nothing.
    await previous.close().catch(() => undefined);
  }

  private async removeBelow(bound: number): Promise<string[]> {
    const removed: string[] = [];
    let failure: unknown;
    while (this.segments.length > 1 && this.segments[0]!.lastSeq < bound) {
      const segment = this.segments[0]!;
      try {
        await this.fs.remove(segment.path);
      } catch (error) {
        failure = new WalWriteError('remove-segment', segment.path, error);
        break;
      }
      this.segments.shift();
      this.segmentsRemoved++;
      removed.push(segment.name);
    }
    if (removed.length > 0) {
      try {
        await this.fs.syncDirectory(this.dir);
      } catch (error) {
        failure ??= new WalWriteError('sync-directory', this.dir, error);
      }
    }
    if (failure !== undefined) throw failure;
    return removed;
  }

  private addWaiter(waiter: Waiter): void {
    const waiters = this.waiters;
    let i = waiters.length;
    while (i > this.waiterHead && waiters[i - 1]!.seq > waiter.seq) i--;
    waiters.splice(i, 0, waiter);
  }

  private advanceDurable(seq: number): void {
    this.durable = seq;
    const waiters = this.waiters;
    let head = this.waiterHead;
    while (head < waiters.length && waiters[head]!.seq <= seq) waiters[head++]!.resolve();
    if (head === waiters.length) {
      this.waiters = [];
      head = 0;
    } else if (head > 1024 && head * 2 > waiters.length) {
      this.waiters = waiters.slice(head);
      head = 0;
    }
    this.waiterHead = head;
    if (this.onDurable !== undefined) callOutside(this.onDurable, BigInt(seq));
  }
}

/** Calls a user callback; a throw is rethrown on its own so it cannot derail the log's state. */
function callOutside<T>(callback: (value: T) => void, value: T): void {
  try {
    callback(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function positive(key: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`write-ahead log option ${key} must be a positive number (got ${value})`);
  return value;
}
