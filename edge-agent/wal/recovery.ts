/**
 * Opening a log directory: every segment is scanned and every record validated. The last segment may end in a torn
 * write (the process or the machine died mid group commit): it is cut back to its last good record and fsynced, so
 * a crash never becomes a crash loop. Damage anywhere else cannot be a torn write, because a segment is complete and
 * fsynced before the next one is created: that is corruption, reported by WalCorruptionError or, when the caller
 * chose 'skip', skipped and counted.
 */
import { join } from 'node:path';
import { MAX_SEQ, parseSegmentFileName, segmentFileName } from './record-format.ts';
import { type RecordDamage, type ScanResult, scanSegment } from './segment-scanner.ts';
import { type DamageReason, WalCorruptionError } from './wal-errors.ts';
import type { WalFile, WalFileSystem } from './wal-file-system.ts';

/**
 * What to do with a damaged record that is not in the torn tail of the last segment.
 * 'stop': throw WalCorruptionError naming the file, offset and sequence (nothing after it is trusted).
 * 'skip': resynchronise on the next valid record, count the sequence numbers lost, go on.
 */
export type CorruptRecordPolicy = 'stop' | 'skip';

/** A segment on disk. */
export interface SegmentState {
  readonly name: string;
  readonly path: string;
  readonly firstSeq: number;
  /** Bytes of whole, synced records from the start of the file (a write in flight may sit beyond). */
  durableBytes: number;
  /** Sequence of the last durable record, firstSeq - 1 when there is none. */
  lastSeq: number;
}

/** The end of the last segment that recovery cut off. */
export interface TruncatedTail {
  readonly file: string;
  /** Where the file now ends: just past its last good record. */
  readonly offset: number;
  readonly droppedBytes: number;
  /** Sequence the first dropped record should have carried; the next append gets it. */
  readonly seq: bigint;
  readonly reason: DamageReason;
  /**
   * Valid records found past the damage and dropped with it. 0 for an ordinary torn write; above 0 the damage may be
   * a flipped bit in records that had been acknowledged, so the dropped bytes are kept in quarantineFile.
   */
  readonly recordsAfterDamage: number;
  readonly quarantineFile: string | undefined;
}

/** Sequence numbers lost to damage ('skip' policy only). */
export interface SkippedRecords {
  readonly file: string;
  readonly offset: number;
  /** First sequence number lost. */
  readonly seq: bigint;
  /** How many sequence numbers were lost (0 when the damaged bytes held no record). */
  readonly count: number;
  readonly reason: DamageReason;
}

export interface RecoveryReport {
  readonly segments: number;
  /** Valid records found. */
  readonly records: number;
  /** Sequence of the last good record, undefined when the log holds none. */
  readonly lastSeq: bigint | undefined;
  readonly truncatedTail: TruncatedTail | undefined;
  readonly skipped: readonly SkippedRecords[];
  /** Sum of skipped[].count. */
  readonly skippedRecords: number;
  readonly elapsedMs: number;
}

export interface RecoveredLog {
  readonly segments: SegmentState[];
  /** The last segment, open for writing, ending at its last good record. */
  readonly activeFile: WalFile;
  readonly nextSeq: number;
  readonly report: RecoveryReport;
}

/** Counts what the policy lets a scan skip, and throws where it does not. Shared by recovery and replay. */
export class DamageLedger {
  readonly skipped: SkippedRecords[] = [];
  private carried: { readonly file: string; readonly damage: RecordDamage } | undefined;

  constructor(private readonly policy: CorruptRecordPolicy) {}

  get skippedRecords(): number {
    return this.skipped.reduce((sum, s) => sum + s.count, 0);
  }

  /** A segment starts at firstSeq where `expected` was due (undefined for the first segment read). */
  segmentStart(file: string, firstSeq: number, expected: number | undefined): void {
    const carried = this.carried;
    this.carried = undefined;
    if (expected === undefined) return;
    if (firstSeq < expected) throw new WalCorruptionError(file, 0, BigInt(expected), 'sequence-overlap');
    if (firstSeq === expected && carried === undefined) return;
    if (this.policy === 'stop') throw new WalCorruptionError(file, 0, BigInt(expected), 'missing-records');
    const count = firstSeq - expected;
    this.skipped.push(carried === undefined
      ? { file, offset: 0, seq: BigInt(expected), count, reason: 'missing-records' }
      : { file: carried.file, offset: carried.damage.offset, seq: BigInt(expected), count, reason: carried.damage.reason });
  }

  /** After a segment's scan. tailIsTorn: the scan's tail damage is a torn write the caller deals with. */
  segmentScanned(file: string, result: ScanResult, tailIsTorn: boolean): void {
    for (const s of result.skipped) {
      if (this.policy === 'stop') throw new WalCorruptionError(file, s.offset, BigInt(s.expectedSeq), s.reason);
      this.skipped.push({ file, offset: s.offset, seq: BigInt(s.expectedSeq), count: s.resumeSeq - s.expectedSeq, reason: s.reason });
    }
    const damage = result.tailDamage;
    if (damage === undefined || tailIsTorn) return;
    if (this.policy === 'stop') throw new WalCorruptionError(file, damage.offset, BigInt(damage.expectedSeq), damage.reason);
    this.carried = { file, damage };
  }

  /** Damage at the end of the last segment read, with no later segment to say how many records it held. */
  finish(): void {
    const carried = this.carried;
    this.carried = undefined;
    if (carried !== undefined) {
      this.skipped.push({ file: carried.file, offset: carried.damage.offset, seq: BigInt(carried.damage.expectedSeq), count: 0, reason: carried.damage.reason });
    }
  }
}

export async function recoverLog(
  dir: string, fs: WalFileSystem, policy: CorruptRecordPolicy, initialSeq: number, windowBytes: number,
): Promise<RecoveredLog> {
  const started = performance.now();
  await fs.makeDirectory(dir);
  const found = (await fs.list(dir))
    .flatMap((name) => {
      const firstSeq = parseSegmentFileName(name);
      return firstSeq === undefined ? [] : [{ name, firstSeq }];
    })
    .sort((a, b) => a.firstSeq - b.firstSeq);

  if (found.length === 0) {
    const name = segmentFileName(initialSeq);
    const path = join(dir, name);
    const activeFile = await fs.open(path, 'create');
    await fs.syncDirectory(dir);
    return {
      segments: [{ name, path, firstSeq: initialSeq, durableBytes: 0, lastSeq: initialSeq - 1 }],
      activeFile,
      nextSeq: initialSeq,
      report: { segments: 1, records: 0, lastSeq: undefined, truncatedTail: undefined, skipped: [], skippedRecords: 0, elapsedMs: performance.now() - started },
    };
  }

  const ledger = new DamageLedger(policy);
  const segments: SegmentState[] = [];
  let expected: number | undefined;
  let records = 0;
  let truncatedTail: TruncatedTail | undefined;
  let activeFile: WalFile | undefined;
  for (const [i, { name, firstSeq }] of found.entries()) {
    const path = join(dir, name);
    const isLast = i === found.length - 1;
    ledger.segmentStart(path, firstSeq, expected);
    const file = await fs.open(path, isLast ? 'write' : 'read');
    try {
      const sizeBytes = await file.sizeBytes();
      const result = await scanSegment({
        file, endOffset: sizeBytes, firstSeq, windowBytes, onDamage: () => (policy === 'skip' ? 'resync' : 'stop'),
      });
      ledger.segmentScanned(path, result, isLast);
      records += result.records;
      segments.push({ name, path, firstSeq, durableBytes: result.goodEnd, lastSeq: result.lastSeq });
      expected = result.lastSeq + 1;
      if (isLast) {
        if (result.tailDamage !== undefined) {
          truncatedTail = await cutTornTail(dir, fs, name, file, sizeBytes, result.goodEnd, result.tailDamage, windowBytes);
        }
        // Records a killed process left in the page cache become durable before anything counts on them.
        await file.datasync();
        activeFile = file;
      }
    } finally {
      if (activeFile !== file) await file.close();
    }
  }
  ledger.finish();
  if (activeFile === undefined || expected === undefined) throw new Error('unreachable: the last segment is always opened');
  if (expected > MAX_SEQ) throw new RangeError(`write-ahead log ${dir}: sequence ${expected} is past 2^53`);
  return {
    segments,
    activeFile,
    nextSeq: expected,
    report: {
      segments: segments.length,
      records,
      lastSeq: records > 0 ? BigInt(expected - 1) : undefined,
      truncatedTail,
      skipped: ledger.skipped,
      skippedRecords: ledger.skippedRecords,
      elapsedMs: performance.now() - started,
    },
  };
}

/** Cuts the last segment at goodEnd; keeps a copy of the dropped bytes when valid records sit past the damage. */
async function cutTornTail(
  dir: string, fs: WalFileSystem, name: string, file: WalFile, sizeBytes: number, goodEnd: number, damage: RecordDamage, windowBytes: number,
): Promise<TruncatedTail> {
  const after = await scanSegment({
    file, endOffset: sizeBytes, startOffset: damage.offset, firstSeq: damage.expectedSeq, windowBytes, onDamage: () => 'resync',
  });
  let quarantineFile: string | undefined;
  if (after.records > 0) {
    quarantineFile = join(dir, `${name}.tail-at-${goodEnd}.damaged`);
    await copyRange(fs, file, goodEnd, sizeBytes, quarantineFile);
    await fs.syncDirectory(dir);
  }
  await file.truncate(goodEnd);
  return {
    file: join(dir, name), offset: goodEnd, droppedBytes: sizeBytes - goodEnd, seq: BigInt(damage.expectedSeq), reason: damage.reason,
    recordsAfterDamage: after.records, quarantineFile,
  };
}

async function copyRange(fs: WalFileSystem, from: WalFile, start: number, end: number, toPath: string): Promise<void> {
  const to = await fs.open(toPath, 'create');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(1024 * 1024, end - start));
    for (let offset = start; offset < end;) {
      const n = await from.read(buffer.subarray(0, Math.min(buffer.length, end - offset)), offset);
      if (n === 0) break;
      for (let done = 0; done < n;) {
        const written = await to.write(buffer.subarray(done, n), offset - start + done);
        if (written <= 0) throw new Error(`${toPath}: write made no progress`);
        done += written;
      }
      offset += n;
    }
    await to.datasync();
  } finally {
    await to.close();
  }
}
