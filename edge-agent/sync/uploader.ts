/**
 * Copies sealed warm files to the object store, driven by the warm ledger, so that outages, retries and restarts
 * neither lose a file nor store one twice.
 *
 * - The queue is the ledger: `ledger.pendingUpload()` (sealed, not uploaded, still on the host), oldest first. It
 *   survives restarts and is unbounded in memory only by what is on disk: during an outage files accumulate in the
 *   warm directory (the writer never blocks on the store) and the in-memory queue holds one small record per file.
 * - Keys are deterministic (`warmObjectKey(ref, agentId)`), so every retry, and every run after a crash, rewrites
 *   the same object: there is no second key for a file, and a retry whose earlier answer was lost is harmless.
 * - A file is uploaded only after its bytes on disk are checked against the ledger's SHA-256; a file that changed
 *   is quarantined (moved to `<warmDir>/../quarantine/`, recorded in the ledger), never uploaded. A file that is
 *   gone is recorded as quarantined with reason 'missing'.
 * - Every upload carries a checksum the store checks (Content-MD5 on single PUTs; the SDK's checksums on multipart
 *   where the client computes them) and metadata (sha256, rows, time range, schema version). After the upload a
 *   HEAD compares size and metadata with the ledger; only then is 'uploaded' recorded. A mismatch is re-uploaded.
 * - Data first, manifest second: a day's manifest (warm-manifest.ts) names only files already recorded uploaded.
 * - Failures back off exponentially with full jitter, per file; when several store-wide failures come in a row the
 *   store is taken as down and a single probe at a time goes out, gated by a capped global backoff. A failing file
 *   never holds a worker while it waits. Each kind of failure is logged at most once per failureLogIntervalMs.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { type DatasetName } from '../../core/datasets.ts';
import { parseWarmFilePath, parseWarmObjectKey, validateAgentId, warmManifestKey, warmObjectKey } from '../../core/layout.ts';
import type { ObjectInfo, ObjectStore, PutOptions } from '../../core/object-store/object-store.ts';
import type { LogFn } from '../log.ts';
import { fsyncDirectory } from '../warm/atomic-file.ts';
import type { SealedEntry, WarmLedger } from '../warm/warm-ledger.ts';
import type { IncompleteUploadJanitor } from './multipart-janitor.ts';
import { manifestObjectOf, sha256OfFile, uploadMetadata } from './warm-object.ts';
import {
  backoffMs, classifyFailure, type FailureKind, LocalFileError, messageOf, STORE_WIDE_KINDS, UploadTimeoutError,
  VerifyMismatchError,
} from './upload-failure.ts';
import {
  encodeWarmManifest, readWarmManifest, WARM_MANIFEST_CONTENT_TYPE, WarmManifestError, type WarmManifestObject,
} from './warm-manifest.ts';

const MiB = 1024 * 1024;
/** Files up to this size are read once, hashed and sent from memory (the bytes checked are the bytes sent). */
export const IN_MEMORY_MAX_BYTES = 16 * MiB;
/** Upload timeouts grow by one second per this many bytes on top of requestTimeoutMs. */
const TIMEOUT_BYTES_PER_SECOND = MiB;
/** Store-wide failures in a row after which the store is taken as down (one probe at a time, global backoff). */
const STORE_DOWN_STREAK = 3;
export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';

export interface UploaderClock {
  nowMs(): number;
  /** Resolves after ms, or as soon as signal aborts (without throwing). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: UploaderClock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) => sleepTimer(ms, undefined, { signal }).catch(() => undefined),
};

export type UploaderEvent =
  | { readonly type: 'uploaded'; readonly path: string; readonly key: string; readonly bytes: number; readonly attempts: number; readonly alreadyInStore: boolean }
  | { readonly type: 'attempt-failed'; readonly path: string; readonly key: string; readonly kind: FailureKind; readonly failures: number; readonly retryInMs: number; readonly message: string }
  | { readonly type: 'quarantined'; readonly path: string; readonly reason: string; readonly movedTo: string | undefined }
  | { readonly type: 'parked'; readonly path: string; readonly failures: number }
  | { readonly type: 'manifest-written'; readonly key: string; readonly objects: number }
  | { readonly type: 'multipart-aborted'; readonly keys: readonly string[] };

export interface UploaderOptions {
  readonly store: ObjectStore;
  readonly ledger: WarmLedger;
  /** The warm directory; ledger paths are relative to it. */
  readonly warmDir: string;
  /** Part of every key (validateAgentId); must stay the same across restarts (see agent-id.ts). */
  readonly agentId: string;
  /** Uploads in flight at once. @default 4 */
  readonly concurrency?: number;
  /** Failed attempts after which a file is parked (left pending in the ledger) until the next start. @default Infinity */
  readonly maxAttempts?: number;
  /** Backoff ceiling after the first failure; doubles per failure. @default 1_000 */
  readonly initialBackoffMs?: number;
  /** Cap of every backoff, and so the longest gap between attempts during an outage. @default 60_000 */
  readonly maxBackoffMs?: number;
  /** Timeout of each store request; uploads get one more second per MiB. @default 60_000 */
  readonly requestTimeoutMs?: number;
  /** A day's manifest is rewritten at most once per this interval while files arrive (and at drain). @default 30_000 */
  readonly manifestIntervalMs?: number;
  /** Each failure kind is logged at most once per this interval (with a count of the ones not logged). @default 60_000 */
  readonly failureLogIntervalMs?: number;
  /** Where files whose bytes no longer match the ledger go. @default `<warmDir>/../quarantine` */
  readonly quarantineDir?: string;
  /** Cleans up incomplete multipart uploads this agent left (S3 only). @default none */
  readonly janitor?: IncompleteUploadJanitor;
  readonly log: LogFn;
  /** @default systemClock */
  readonly clock?: UploaderClock;
  /** Uniform random numbers in [0, 1) for backoff jitter. @default Math.random */
  readonly random?: () => number;
  /** Called for every upload, failed attempt, quarantine, parked file and manifest written (metrics, tests). */
  readonly onEvent?: (event: UploaderEvent) => void;
}

export interface UploadBacklog {
  /** Files sealed and not yet uploaded (in flight included). */
  readonly files: number;
  readonly bytes: number;
  /** Age of the oldest of them (now minus its sealing time); 0 when there is none. */
  readonly oldestAgeMs: number;
  readonly inFlight: number;
  /** Files that reached maxAttempts in this run; they stay pending in the ledger. */
  readonly parked: number;
}

export interface DrainResult {
  /** True when everything pending was uploaded and every manifest written; false on timeout or parked files. */
  readonly complete: boolean;
  readonly backlog: UploadBacklog;
  /** Ledger paths of parked files. */
  readonly parked: readonly string[];
}

export class UploaderError extends Error {
  override readonly name = 'UploaderError';
}

interface Job {
  readonly entry: SealedEntry;
  readonly key: string;
  failures: number;
  /** No attempt before this time (per-file backoff). */
  notBeforeMs: number;
  inFlight: boolean;
  parked: boolean;
  /** The store may hold the file already (an earlier run, or an attempt whose answer was lost): HEAD first. */
  checkStoreFirst: boolean;
}

interface DayManifest {
  readonly dataset: DatasetName;
  readonly date: string;
  readonly key: string;
  /** What the stored manifest lists, once read. */
  stored: Map<string, WarmManifestObject> | undefined;
  /** Verified objects the stored manifest does not list yet. */
  readonly pending: Map<string, WarmManifestObject>;
  /**
   * Files of this day the ledger said were uploaded when the uploader started; set until the stored manifest has
   * been compared with them (a crash may have come between a file's upload and the manifest naming it).
   */
  uploadedAtStart: WarmManifestObject[] | undefined;
  lastWrittenAtMs: number;
  failures: number;
  notBeforeMs: number;
}

interface FailureLogState {
  lastLoggedMs: number;
  suppressed: number;
}

export class Uploader {
  private readonly store: ObjectStore;
  private readonly ledger: WarmLedger;
  private readonly agentId: string;
  private readonly concurrency: number;
  private readonly maxAttempts: number;
  private readonly policy: { initialBackoffMs: number; maxBackoffMs: number };
  private readonly requestTimeoutMs: number;
  private readonly manifestIntervalMs: number;
  private readonly failureLogIntervalMs: number;
  private readonly quarantineDir: string;
  private readonly clock: UploaderClock;
  private readonly random: () => number;
  private readonly log: LogFn;

  private readonly jobs = new Map<string, Job>();
  /** The jobs, oldest sealed first. */
  private readonly order: Job[] = [];
  private readonly days = new Map<string, DayManifest>();
  /** Ledger paths no store key can be built for (logged once; drain does not wait for them). */
  private readonly unkeyable = new Set<string>();
  /** Keys with a store request running: in flight, or abandoned after a timeout but not yet settled. */
  private readonly busyKeys = new Map<string, number>();
  private readonly failureLog = new Map<FailureKind, FailureLogState>();
  private tasks: Promise<void>[] = [];
  private started = false;
  private stopping = false;
  private inFlight = 0;
  private housekeeping = false;
  private draining = 0;
  private sweepNeeded = false;
  private sweepFailures = 0;
  private sweepNotBeforeMs = 0;
  private storeFailureStreak = 0;
  private storeNotBeforeMs = 0;
  private storeDownSinceMs: number | undefined;
  private waker = newWaker();

  readonly stats = {
    filesUploaded: 0,
    bytesUploaded: 0,
    /** Uploaded files the store already held at the first look (a crash after the upload, before the ledger). */
    foundInStore: 0,
    attempts: 0,
    failures: {} as Partial<Record<FailureKind, number>>,
    quarantined: 0,
    manifestsWritten: 0,
    multipartAborted: 0,
  };

  constructor(private readonly options: UploaderOptions) {
    this.store = options.store;
    this.ledger = options.ledger;
    this.agentId = validateAgentId(options.agentId);
    this.concurrency = options.concurrency ?? 4;
    this.maxAttempts = options.maxAttempts ?? Infinity;
    this.policy = { initialBackoffMs: options.initialBackoffMs ?? 1_000, maxBackoffMs: options.maxBackoffMs ?? 60_000 };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.manifestIntervalMs = options.manifestIntervalMs ?? 30_000;
    this.failureLogIntervalMs = options.failureLogIntervalMs ?? 60_000;
    this.quarantineDir = options.quarantineDir ?? join(options.warmDir, '..', 'quarantine');
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = options.log;
    const positive = (name: string, value: number, integer: boolean): void => {
      if (!(value > 0) || (integer && !Number.isInteger(value) && value !== Infinity)) {
        throw new UploaderError(`uploader option ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
      }
    };
    positive('concurrency', this.concurrency, true);
    positive('maxAttempts', this.maxAttempts, true);
    positive('initialBackoffMs', this.policy.initialBackoffMs, false);
    positive('maxBackoffMs', this.policy.maxBackoffMs, false);
    positive('requestTimeoutMs', this.requestTimeoutMs, false);
    positive('manifestIntervalMs', this.manifestIntervalMs, false);
  }

  /** Loads the backlog from the ledger and starts the workers. Idempotent. */
  start(): void {
    if (this.stopping) throw new UploaderError('uploader: start() after stop()');
    if (this.started) return;
    this.started = true;
    this.loadFromLedger(true);
    // A crash may have come between a day's data and its manifest: check every day with uploaded files.
    for (const state of this.ledger.live()) {
      if (state.uploaded === undefined || !this.isOwnKey(state.uploaded.key)) continue;
      const day = this.dayOf(state.sealed);
      (day.uploadedAtStart ??= []).push(manifestObjectOf(state.sealed, state.uploaded.key));
    }
    this.sweepNeeded = this.options.janitor !== undefined;
    this.tasks = [...Array.from({ length: this.concurrency }, () => this.worker()), this.housekeeper()];
    const backlog = this.backlog();
    this.log('info', 'uploader started', {
      store: this.store.description, agentId: this.agentId, concurrency: this.concurrency,
      backlogFiles: backlog.files, backlogBytes: backlog.bytes, oldestAgeMs: backlog.oldestAgeMs,
    });
  }

  /** A file was sealed (recorded in the ledger): queue it. Without a path, re-reads the ledger's backlog. */
  notify(path?: string): void {
    if (path === undefined) this.loadFromLedger(false);
    else {
      const state = this.ledger.get(path);
      if (state !== undefined && state.uploaded === undefined && state.removed === undefined) this.enqueue(state.sealed, false);
    }
    this.wake();
  }

  /**
   * Uploads everything pending in the ledger (and files notify()'d meanwhile), then writes every manifest with
   * something new without waiting for the manifest interval, and sweeps multipart leftovers. Resolves when done, or
   * after timeoutMs with `complete: false`; never rejects because of the store. Throws after stop().
   */
  async drain(timeoutMs?: number): Promise<DrainResult> {
    this.start();
    const deadline = timeoutMs === undefined ? Infinity : this.clock.nowMs() + timeoutMs;
    this.draining++;
    this.loadFromLedger(false);
    this.wake();
    try {
      while (!this.isDrained()) {
        if (this.stopping || this.clock.nowMs() >= deadline) break;
        await this.sleepUntil(deadline);
      }
    } finally {
      this.draining--;
    }
    const parked = this.order.filter((j) => j.parked).map((j) => j.entry.path);
    return { complete: this.isDrained() && parked.length === 0, backlog: this.backlog(), parked };
  }

  /** Stops taking new work and waits for attempts in flight (bounded by their timeouts). Pending files stay in the ledger. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await Promise.all(this.tasks);
  }

  /** The backlog: files sealed and not uploaded, from the queue (the ledger's backlog before start). O(backlog). */
  backlog(): UploadBacklog {
    const pending = this.started
      ? this.order.filter((j) => this.isPending(j.entry.path)).map((j) => j.entry)
      : this.ledger.pendingUpload();
    const oldest = pending[0];
    return {
      files: pending.length,
      bytes: pending.reduce((sum, e) => sum + e.bytes, 0),
      oldestAgeMs: oldest === undefined ? 0 : Math.max(0, this.clock.nowMs() - oldest.sealedAtMs),
      inFlight: this.inFlight,
      parked: this.order.filter((j) => j.parked).length,
    };
  }

  // ---- Queue ------------------------------------------------------------------------------------------------------

  private loadFromLedger(checkStoreFirst: boolean): void {
    for (const entry of this.ledger.pendingUpload()) this.enqueue(entry, checkStoreFirst);
  }

  private enqueue(entry: SealedEntry, checkStoreFirst: boolean): void {
    if (this.jobs.has(entry.path) || this.unkeyable.has(entry.path)) return;
    let key: string;
    try {
      key = warmObjectKey(parseWarmFilePath(entry.path), this.agentId);
    } catch (err) {
      // Nothing can be uploaded under a key we cannot build; keep it out of the queue, loudly.
      this.unkeyable.add(entry.path);
      this.log('error', 'warm file has no valid store key; not uploaded', { file: entry.path, error: messageOf(err) });
      return;
    }
    const job: Job = { entry, key, failures: 0, notBeforeMs: 0, inFlight: false, parked: false, checkStoreFirst };
    this.jobs.set(entry.path, job);
    // Binary search for the place by (sealedAtMs, path); new files almost always go at the end.
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (olderThan(this.order[mid]!.entry, entry)) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, job);
  }

  private dequeue(job: Job): void {
    this.jobs.delete(job.entry.path);
    const i = this.order.indexOf(job);
    if (i !== -1) this.order.splice(i, 1);
  }

  private isPending(path: string): boolean {
    const state = this.ledger.get(path);
    return state !== undefined && state.uploaded === undefined && state.removed === undefined;
  }

  /** The oldest job ready to go, or undefined (none ready, the store is gated, or a probe is out). */
  private pick(): Job | undefined {
    const now = this.clock.nowMs();
    if (now < this.storeNotBeforeMs) return undefined;
    if (this.storeFailureStreak >= STORE_DOWN_STREAK && this.inFlight > 0) return undefined;
    const gone: Job[] = [];
    let picked: Job | undefined;
    for (const job of this.order) {
      if (job.inFlight || job.parked || job.notBeforeMs > now) continue;
      if (!this.isPending(job.entry.path)) {
        gone.push(job);
        continue;
      }
      picked = job;
      break;
    }
    for (const job of gone) this.dequeue(job);
    return picked;
  }

  /** When the next job may become ready: the later of the store gate and the earliest per-file backoff. */
  private nextReadyAtMs(): number {
    if (this.storeFailureStreak >= STORE_DOWN_STREAK && this.inFlight > 0) return Infinity; // the probe's end wakes us
    let earliest = Infinity;
    for (const job of this.order) {
      if (!job.inFlight && !job.parked) earliest = Math.min(earliest, job.notBeforeMs);
    }
    return earliest === Infinity ? Infinity : Math.max(earliest, this.storeNotBeforeMs);
  }

  private async worker(): Promise<void> {
    while (!this.stopping) {
      const job = this.pick();
      if (job === undefined) {
        await this.sleepUntil(this.nextReadyAtMs());
        continue;
      }
      job.inFlight = true;
      this.inFlight++;
      this.busyKeys.set(job.key, (this.busyKeys.get(job.key) ?? 0) + 1);
      try {
        await this.attempt(job);
      } catch (err) {
        // attempt() handles its failures; anything here is a bug, which must not stop the worker.
        this.log('error', 'uploader: unexpected error', { file: job.entry.path, error: messageOf(err) });
      } finally {
        job.inFlight = false;
        this.inFlight--;
        this.releaseKey(job.key);
        this.wake();
      }
    }
  }

  // ---- One attempt ------------------------------------------------------------------------------------------------

  private async attempt(job: Job): Promise<void> {
    const { entry, key } = job;
    this.stats.attempts++;
    const startedMs = this.clock.nowMs();
    try {
      if (job.checkStoreFirst) {
        const info = await this.withTimeout(this.store.head(key), this.requestTimeoutMs, `HEAD ${key}`, key);
        this.noteStoreSuccess();
        if (info !== undefined && mismatchOf(info, entry) === undefined) {
          this.recordUploaded(job, true, startedMs);
          return;
        }
      }
      const local = await this.readVerified(job);
      if (local === 'quarantined') return;
      // From here on the store may get the object even if no answer comes back.
      job.checkStoreFirst = true;
      const putOptions: PutOptions = { metadata: uploadMetadata(entry, this.agentId), contentType: PARQUET_CONTENT_TYPE };
      const timeoutMs = this.requestTimeoutMs + (entry.bytes / TIMEOUT_BYTES_PER_SECOND) * 1000;
      if (local.body !== undefined) {
        await this.withTimeout(this.store.put(key, local.body, putOptions), timeoutMs, `PUT ${key}`, key);
      } else {
        try {
          await this.withTimeout(this.store.putFile(key, local.absPath, putOptions), timeoutMs, `PUT (multipart) ${key}`, key);
        } finally {
          // Failed: its parts may linger. Succeeded: leftovers of earlier runs for this key, which the sweep at start
          // had to skip while this upload was in flight, can go now.
          this.sweepNeeded = this.options.janitor !== undefined;
        }
      }
      const info = await this.withTimeout(this.store.head(key), this.requestTimeoutMs, `HEAD ${key}`, key);
      const mismatch = info === undefined ? 'absent right after the upload' : mismatchOf(info, entry);
      if (mismatch !== undefined) throw new VerifyMismatchError(`${this.store.description} ${key}: ${mismatch}`);
      this.noteStoreSuccess();
      this.recordUploaded(job, false, startedMs);
    } catch (err) {
      this.onAttemptFailed(job, err);
    }
  }

  /**
   * Reads the local file and checks it against the ledger. Small files come back as bytes (sent as read); large
   * ones are hashed as a stream and sent with putFile. A changed file is quarantined, a missing one recorded.
   */
  private async readVerified(job: Job): Promise<{ body?: Uint8Array; absPath: string } | 'quarantined'> {
    const { entry } = job;
    const absPath = join(this.options.warmDir, entry.path);
    let read: { size: number; sha256: string; body: Uint8Array | undefined };
    try {
      read = await readAndHash(absPath, entry.bytes);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        await this.quarantine(job, 'missing', undefined);
        return 'quarantined';
      }
      if (code === 'EIO' || code === 'EISDIR') {
        await this.quarantine(job, `unreadable: ${messageOf(err)}`, absPath);
        return 'quarantined';
      }
      throw new LocalFileError(`warm file ${absPath}: cannot read (${messageOf(err)})`, { cause: err });
    }
    if (read.size !== entry.bytes) {
      await this.quarantine(job, `size changed on disk: ${read.size} bytes, ledger says ${entry.bytes}`, absPath);
      return 'quarantined';
    }
    if (read.sha256 !== entry.sha256) {
      await this.quarantine(job, `sha256 changed on disk: ${read.sha256}, ledger says ${entry.sha256}`, absPath);
      return 'quarantined';
    }
    return read.body === undefined ? { absPath } : { body: read.body, absPath };
  }

  /** Moves the file aside (when there is one) and records it quarantined: it will never be uploaded. */
  private async quarantine(job: Job, reason: string, absPath: string | undefined): Promise<void> {
    const { entry } = job;
    let movedTo: string | undefined;
    let moveError: string | undefined;
    if (absPath !== undefined) {
      // Moved first, recorded second: a crash in between leaves a missing file, which the next run records.
      try {
        movedTo = await this.moveToQuarantine(absPath, entry.path);
      } catch (err) {
        moveError = messageOf(err);
      }
    }
    try {
      this.ledger.record({ type: 'quarantined', path: entry.path, reason, atMs: this.clock.nowMs() });
    } catch (err) {
      throw new LocalFileError(`ledger ${this.ledger.path}: cannot record ${entry.path} quarantined (${messageOf(err)})`, { cause: err });
    }
    this.dequeue(job);
    this.stats.quarantined++;
    this.log('error', reason === 'missing' ? 'warm file missing before upload; recorded as quarantined' : 'warm file no longer matches the ledger; quarantined, not uploaded', {
      file: entry.path, reason, movedTo, ...(moveError === undefined ? {} : { moveError }),
    });
    this.emit({ type: 'quarantined', path: entry.path, reason, movedTo });
  }

  private async moveToQuarantine(absPath: string, relPath: string): Promise<string> {
    let target = join(this.quarantineDir, relPath);
    try {
      await stat(target);
      target = `${target}.${this.clock.nowMs()}`;
    } catch {
      // free
    }
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(absPath, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(absPath, target);
      await unlink(absPath);
    }
    await fsyncDirectory(dirname(target));
    return target;
  }

  private recordUploaded(job: Job, alreadyInStore: boolean, startedMs: number): void {
    const { entry, key } = job;
    if (!this.isPending(entry.path)) {
      this.dequeue(job);
      return;
    }
    try {
      this.ledger.record({ type: 'uploaded', path: entry.path, key, uploadedAtMs: this.clock.nowMs() });
    } catch (err) {
      throw new LocalFileError(`ledger ${this.ledger.path}: cannot record ${entry.path} uploaded (${messageOf(err)})`, { cause: err });
    }
    this.dequeue(job);
    this.stats.filesUploaded++;
    this.stats.bytesUploaded += entry.bytes;
    if (alreadyInStore) this.stats.foundInStore++;
    this.dayOf(entry).pending.set(key, manifestObjectOf(entry, key));
    const attempts = job.failures + 1;
    this.log('info', alreadyInStore ? 'warm file already in the store; recorded uploaded' : 'warm file uploaded', {
      file: entry.path, key, bytes: entry.bytes, attempts, ms: this.clock.nowMs() - startedMs,
    });
    this.emit({ type: 'uploaded', path: entry.path, key, bytes: entry.bytes, attempts, alreadyInStore });
  }

  private onAttemptFailed(job: Job, err: unknown): void {
    const kind = classifyFailure(err);
    const now = this.clock.nowMs();
    job.failures++;
    this.stats.failures[kind] = (this.stats.failures[kind] ?? 0) + 1;
    const storeDown = this.noteStoreFailure(kind);
    // While the store is down the global gate paces everyone, so files keep their place (oldest first on recovery).
    const retryInMs = storeDown ? Math.max(0, this.storeNotBeforeMs - now) : backoffMs(job.failures, kind, this.policy, this.random);
    if (!storeDown) job.notBeforeMs = now + retryInMs;
    const message = messageOf(err);
    this.emit({ type: 'attempt-failed', path: job.entry.path, key: job.key, kind, failures: job.failures, retryInMs, message });
    if (job.failures >= this.maxAttempts) {
      job.parked = true;
      this.log('error', 'warm file upload gave up after maxAttempts; it stays pending for the next start', {
        file: job.entry.path, key: job.key, failures: job.failures, kind, error: message,
      });
      this.emit({ type: 'parked', path: job.entry.path, failures: job.failures });
      return;
    }
    this.logFailure(kind, { file: job.entry.path, key: job.key, failures: job.failures, retryInMs, error: message });
  }

  private noteStoreSuccess(): void {
    if (this.storeFailureStreak >= STORE_DOWN_STREAK) {
      const downMs = this.storeDownSinceMs === undefined ? 0 : this.clock.nowMs() - this.storeDownSinceMs;
      const backlog = this.backlog();
      this.log('info', 'store reachable again; draining the backlog oldest first', {
        store: this.store.description, downMs, backlogFiles: backlog.files, backlogBytes: backlog.bytes, oldestAgeMs: backlog.oldestAgeMs,
      });
      // Waits set while the store was down are void: everyone goes again, in order.
      for (const job of this.order) job.notBeforeMs = 0;
      for (const day of this.days.values()) day.notBeforeMs = 0;
      this.sweepNotBeforeMs = 0;
    }
    this.storeFailureStreak = 0;
    this.storeNotBeforeMs = 0;
    this.storeDownSinceMs = undefined;
  }

  /** Counts a failure against the store; returns whether the store is now taken as down (and gated). */
  private noteStoreFailure(kind: FailureKind): boolean {
    if (!STORE_WIDE_KINDS.has(kind)) return false;
    this.storeFailureStreak++;
    if (this.storeFailureStreak < STORE_DOWN_STREAK) return false;
    const now = this.clock.nowMs();
    this.storeDownSinceMs ??= now;
    const wait = backoffMs(this.storeFailureStreak - STORE_DOWN_STREAK + 1, kind, this.policy, this.random);
    this.storeNotBeforeMs = Math.max(this.storeNotBeforeMs, now + wait);
    return true;
  }

  private logFailure(kind: FailureKind, fields: Record<string, unknown>): void {
    const now = this.clock.nowMs();
    const state = this.failureLog.get(kind) ?? { lastLoggedMs: -Infinity, suppressed: 0 };
    this.failureLog.set(kind, state);
    if (now - state.lastLoggedMs < this.failureLogIntervalMs) {
      state.suppressed++;
      return;
    }
    const backlog = this.backlog();
    const transient = kind === 'slow-down' || kind === 'server-error' || kind === 'timeout' || kind === 'network' || kind === 'verify-mismatch';
    this.log(transient ? 'warn' : 'error', `upload attempt failed (${kind}); retrying with backoff`, {
      kind, store: this.store.description, ...fields, notLoggedSinceLast: state.suppressed,
      storeDownMs: this.storeDownSinceMs === undefined ? 0 : now - this.storeDownSinceMs,
      backlogFiles: backlog.files, backlogBytes: backlog.bytes, oldestAgeMs: backlog.oldestAgeMs,
    });
    state.lastLoggedMs = now;
    state.suppressed = 0;
  }

  // ---- Manifests and multipart leftovers ----------------------------------------------------------------------------

  private dayOf(entry: { dataset: DatasetName; date: string }): DayManifest {
    const id = `${entry.dataset}\u0000${entry.date}`;
    let day = this.days.get(id);
    if (day === undefined) {
      day = {
        dataset: entry.dataset, date: entry.date, key: warmManifestKey(entry.dataset, entry.date, this.agentId),
        stored: undefined, pending: new Map(), uploadedAtStart: undefined, lastWrittenAtMs: -Infinity, failures: 0, notBeforeMs: 0,
      };
      this.days.set(id, day);
    }
    return day;
  }

  private dueAtMs(day: DayManifest): number {
    if (day.pending.size === 0 && day.uploadedAtStart === undefined) return Infinity;
    // Batched while files arrive; at once when a drain has nothing left to upload, and for the check at start.
    const now = day.uploadedAtStart !== undefined || (this.draining > 0 && this.uploadsIdle());
    const batched = now ? 0 : day.lastWrittenAtMs + this.manifestIntervalMs;
    return Math.max(batched, day.notBeforeMs, this.storeNotBeforeMs);
  }

  /** No upload in flight and none that could start (parked files aside). */
  private uploadsIdle(): boolean {
    return this.inFlight === 0 && !this.order.some((j) => !j.parked);
  }

  /** Writes due manifests and sweeps multipart leftovers, one thing at a time, beside the upload workers. */
  private async housekeeper(): Promise<void> {
    while (!this.stopping) {
      const now = this.clock.nowMs();
      let next = Infinity;
      let due: DayManifest | undefined;
      for (const day of this.days.values()) {
        const at = this.dueAtMs(day);
        if (at <= now) {
          due = day;
          break;
        }
        next = Math.min(next, at);
      }
      const sweepAt = this.sweepNeeded ? Math.max(this.sweepNotBeforeMs, this.storeNotBeforeMs) : Infinity;
      if (due === undefined && sweepAt > now) {
        await this.sleepUntil(Math.min(next, sweepAt));
        continue;
      }
      this.housekeeping = true;
      try {
        if (due !== undefined) await this.flushManifest(due);
        else await this.sweepMultipart();
      } finally {
        this.housekeeping = false;
        this.wake();
      }
    }
  }

  private async flushManifest(day: DayManifest): Promise<void> {
    try {
      if (day.stored === undefined) {
        let existing: WarmManifestObject[] = [];
        try {
          const read = readWarmManifest(this.store, day.dataset, day.date, this.agentId);
          existing = (await this.withTimeout(read, this.requestTimeoutMs, `GET ${day.key}`, day.key))?.objects ?? [];
        } catch (err) {
          if (!(err instanceof WarmManifestError)) throw err;
          // Unreadable: rebuilt from the ledger below (it may then miss files the ledger has forgotten).
          this.log('error', 'warm manifest unreadable; rewriting it from the ledger', { key: day.key, error: err.message });
        }
        day.stored = new Map(existing.map((o) => [o.key, o]));
      }
      for (const object of day.uploadedAtStart ?? []) {
        if (!day.stored.has(object.key) && !day.pending.has(object.key)) day.pending.set(object.key, object);
      }
      if (day.pending.size > 0) {
        const writing = new Map(day.pending);
        const bytes = encodeWarmManifest(
          { dataset: day.dataset, date: day.date, agentId: this.agentId, updatedAtMs: this.clock.nowMs() },
          [...day.stored.values(), ...writing.values()],
        );
        await this.withTimeout(this.store.put(day.key, bytes, { contentType: WARM_MANIFEST_CONTENT_TYPE }), this.requestTimeoutMs, `PUT ${day.key}`, day.key);
        const info = await this.withTimeout(this.store.head(day.key), this.requestTimeoutMs, `HEAD ${day.key}`, day.key);
        if (info?.sizeBytes !== bytes.byteLength) {
          throw new VerifyMismatchError(`${this.store.description} ${day.key}: ${info === undefined ? 'absent' : `${info.sizeBytes} bytes`} after writing ${bytes.byteLength}`);
        }
        for (const [key, object] of writing) {
          day.stored.set(key, object);
          if (day.pending.get(key) === object) day.pending.delete(key);
        }
        day.lastWrittenAtMs = this.clock.nowMs();
        this.stats.manifestsWritten++;
        this.emit({ type: 'manifest-written', key: day.key, objects: day.stored.size });
      }
      day.uploadedAtStart = undefined;
      day.failures = 0;
      day.notBeforeMs = 0;
      this.noteStoreSuccess();
    } catch (err) {
      const kind = classifyFailure(err);
      day.failures++;
      this.stats.failures[kind] = (this.stats.failures[kind] ?? 0) + 1;
      const storeDown = this.noteStoreFailure(kind);
      day.notBeforeMs = this.clock.nowMs() + (storeDown ? 0 : backoffMs(day.failures, kind, this.policy, this.random));
      this.logFailure(kind, { manifest: day.key, failures: day.failures, error: messageOf(err) });
    }
  }

  private async sweepMultipart(): Promise<void> {
    const janitor = this.options.janitor;
    this.sweepNeeded = false;
    if (janitor === undefined) return;
    try {
      const sweep = janitor.abortIncomplete('warm/', (key) => this.isOwnKey(key) && !this.busyKeys.has(key));
      const aborted = await this.withTimeout(sweep, this.requestTimeoutMs, 'multipart sweep', undefined);
      this.sweepFailures = 0;
      if (aborted.length > 0) {
        this.stats.multipartAborted += aborted.length;
        this.log('warn', 'aborted incomplete multipart uploads left by earlier attempts', { keys: aborted });
        this.emit({ type: 'multipart-aborted', keys: aborted });
      }
    } catch (err) {
      this.sweepNeeded = true;
      const kind = classifyFailure(err);
      this.sweepFailures++;
      this.stats.failures[kind] = (this.stats.failures[kind] ?? 0) + 1;
      const storeDown = this.noteStoreFailure(kind);
      this.sweepNotBeforeMs = this.clock.nowMs() + (storeDown ? 0 : backoffMs(this.sweepFailures, kind, this.policy, this.random));
      this.logFailure(kind, { task: 'multipart sweep', failures: this.sweepFailures, error: messageOf(err) });
    }
  }

  private isOwnKey(key: string): boolean {
    try {
      return parseWarmObjectKey(key).agentId === this.agentId;
    } catch {
      return false;
    }
  }

  // ---- Plumbing -----------------------------------------------------------------------------------------------------

  /** Nothing left to upload (parked files aside), no manifest to write, no multipart sweep due. */
  private isDrained(): boolean {
    if (this.inFlight > 0 || this.housekeeping) return false;
    if (this.order.some((j) => !j.parked && this.isPending(j.entry.path))) return false;
    for (const day of this.days.values()) if (day.pending.size > 0 || day.uploadedAtStart !== undefined) return false;
    return !this.sweepNeeded;
  }

  /**
   * Races a store request against a timeout. The request cannot be cancelled through the ObjectStore interface, so
   * on timeout it is abandoned: its key stays busy (the multipart sweep leaves it alone) until it settles.
   */
  private async withTimeout<T>(request: Promise<T>, ms: number, what: string, key: string | undefined): Promise<T> {
    const abort = new AbortController();
    let timedOut = false;
    const timer = this.clock.sleep(ms, abort.signal).then(() => {
      if (abort.signal.aborted) return undefined as never;
      timedOut = true;
      throw new UploadTimeoutError(`${what}: no answer from ${this.store.description} within ${Math.round(ms)} ms`);
    });
    try {
      return await Promise.race([request, timer]);
    } finally {
      abort.abort();
      timer.catch(() => undefined);
      if (timedOut) {
        if (key !== undefined) this.busyKeys.set(key, (this.busyKeys.get(key) ?? 0) + 1);
        request.then(
          () => { if (key !== undefined) this.releaseKey(key); },
          () => { if (key !== undefined) this.releaseKey(key); },
        );
      } else {
        request.catch(() => undefined);
      }
    }
  }

  private releaseKey(key: string): void {
    const n = (this.busyKeys.get(key) ?? 1) - 1;
    if (n <= 0) this.busyKeys.delete(key);
    else this.busyKeys.set(key, n);
  }

  private async sleepUntil(atMs: number): Promise<void> {
    const wake = this.waker.promise;
    if (this.stopping) return;
    if (atMs === Infinity) {
      await wake;
      return;
    }
    const abort = new AbortController();
    await Promise.race([this.clock.sleep(Math.max(0, atMs - this.clock.nowMs()), abort.signal), wake]);
    abort.abort();
  }

  private wake(): void {
    const current = this.waker;
    this.waker = newWaker();
    current.resolve();
  }

  private emit(event: UploaderEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch (err) {
      this.log('error', 'uploader onEvent handler threw', { event: event.type, error: messageOf(err) });
    }
  }
}

function newWaker(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function olderThan(a: SealedEntry, b: SealedEntry): boolean {
  return a.sealedAtMs < b.sealedAtMs || (a.sealedAtMs === b.sealedAtMs && a.path < b.path);
}

/** Why the stored object is not the ledger's file, or undefined when size and every metadata value match. */
function mismatchOf(info: ObjectInfo, entry: SealedEntry): string | undefined {
  if (info.sizeBytes !== entry.bytes) return `size ${info.sizeBytes}, expected ${entry.bytes}`;
  const meta = info.metadata ?? {};
  const expected: Record<string, string> = {
    sha256: entry.sha256,
    rows: String(entry.rows),
    'min-ts-ns': entry.minTsNs,
    'max-ts-ns': entry.maxTsNs,
    'schema-version': String(entry.schemaVersion),
  };
  for (const [name, value] of Object.entries(expected)) {
    if (meta[name] !== value) return `metadata ${name}=${JSON.stringify(meta[name])}, expected ${JSON.stringify(value)}`;
  }
  return undefined;
}

/** Size and SHA-256 (base64) of a file; its bytes too when small enough to send from memory. Skips hashing on a size mismatch. */
async function readAndHash(path: string, expectedBytes: number): Promise<{ size: number; sha256: string; body: Uint8Array | undefined }> {
  const size = (await stat(path)).size;
  if (size !== expectedBytes) return { size, sha256: '', body: undefined };
  if (size <= IN_MEMORY_MAX_BYTES) {
    const body = await readFile(path);
    // Hashed after reading: the bytes checked are exactly the bytes sent.
    return { size: body.byteLength, sha256: createHash('sha256').update(body).digest('base64'), body };
  }
  return { size, sha256: await sha256OfFile(path), body: undefined };
}
