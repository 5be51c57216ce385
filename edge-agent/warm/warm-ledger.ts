/**
 * The warm ledger: an append-only, fsynced journal of what happened to each warm file — sealed (with its manifest
 * entry), uploaded (verified in the store), quarantined, deleted by retention. It is the agent's memory across
 * restarts: the upload queue is "sealed and not uploaded", retention may delete only "uploaded", and recovery knows
 * how far each partition's events are already in sealed files.
 *
 * One JSON object per line. A torn last line (a crash mid-append) is ignored on load and cut off, since its file
 * state is recovered from the warm directory itself (see adoptOrphans in the agent).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DatasetName } from '../../core/datasets.ts';

/** The manifest entry of a sealed warm file. */
export interface SealedEntry {
  readonly type: 'sealed';
  /** Path relative to the warm directory (also the tail of the store key). */
  readonly path: string;
  readonly dataset: DatasetName;
  readonly date: string;
  readonly symbol: string;
  readonly part: number;
  readonly rows: number;
  readonly bytes: number;
  readonly minTsNs: string;
  readonly maxTsNs: string;
  /** Trade-id range, for trades only. */
  readonly minTradeId?: string;
  readonly maxTradeId?: string;
  /** SHA-256 of the file bytes, base64. */
  readonly sha256: string;
  readonly schemaVersion: number;
  /** Highest write-ahead-log sequence whose event is in this file; every earlier event of the partition is sealed too. */
  readonly walSeq?: string;
  readonly sealedAtMs: number;
}

export interface UploadedEntry {
  readonly type: 'uploaded';
  readonly path: string;
  readonly key: string;
  readonly uploadedAtMs: number;
}

export interface RemovedEntry {
  readonly type: 'deleted' | 'quarantined';
  readonly path: string;
  readonly reason: string;
  readonly atMs: number;
}

/** The next unused part number of a partition, kept when its files' own entries are forgotten. */
export interface PartsEntry {
  readonly type: 'parts';
  /** warmPartitionPath of the partition. */
  readonly partition: string;
  readonly next: number;
  /** Highest write-ahead-log sequence sealed in the partition's files, deleted ones included. */
  readonly walSeq?: string;
}

export type LedgerEntry = SealedEntry | UploadedEntry | RemovedEntry | PartsEntry;

export interface WarmFileState {
  readonly sealed: SealedEntry;
  uploaded: UploadedEntry | undefined;
  removed: RemovedEntry | undefined;
}

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
}

export class WarmLedger {
  private readonly files = new Map<string, WarmFileState>();
  /** Part numbers are never reused: a store key, once written, names one file forever. */
  private readonly nextParts = new Map<string, number>();
  /**
   * Per partition, the highest log sequence ever sealed there. Kept when retention deletes the files: recovery must
   * not replay those events into a new file (the store already has them).
   */
  private readonly sealedSeqs = new Map<string, bigint>();
  /** Files uploaded and still on the host, kept as entries apply (the status page asks every second). */
  private uploadedOnHostCount = 0;
  private fd: number;
  /** Lines that could not be parsed on load (a torn tail), for the operator's log. */
  readonly skippedLines: number;

  private constructor(
    readonly path: string,
    entries: LedgerEntry[],
    skipped: number,
  ) {
    for (const e of entries) this.apply(e);
    this.skippedLines = skipped;
    this.fd = openSync(path, 'a');
  }

  /** Opens (or creates) the ledger, rewriting it compactly when it has a torn tail or much dead history. */
  static open(path: string): WarmLedger {
    mkdirSync(dirname(path), { recursive: true });
    const entries: LedgerEntry[] = [];
    let skipped = 0;
    let lineCount = 0;
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      for (const line of text.split('\n')) {
        if (line === '') continue;
        lineCount++;
        try {
          entries.push(JSON.parse(line) as LedgerEntry);
        } catch {
          skipped++;
        }
      }
    }
    const ledger = new WarmLedger(path, entries, skipped);
    if (skipped > 0 || lineCount > 2 * ledger.files.size + 1000) ledger.rewrite();
    return ledger;
  }

  private apply(entry: LedgerEntry): void {
    if (entry.type === 'parts') {
      this.nextParts.set(entry.partition, Math.max(this.nextParts.get(entry.partition) ?? 0, entry.next));
      if (entry.walSeq !== undefined) this.noteSealedSeq(entry.partition, BigInt(entry.walSeq));
      return;
    }
    if (entry.type === 'sealed') {
      const replaced = this.files.get(entry.path);
      if (replaced !== undefined && isUploadedOnHost(replaced)) this.uploadedOnHostCount--;
      this.files.set(entry.path, { sealed: entry, uploaded: undefined, removed: undefined });
      const partition = entry.path.slice(0, entry.path.lastIndexOf('/'));
      this.nextParts.set(partition, Math.max(this.nextParts.get(partition) ?? 0, entry.part + 1));
      if (entry.walSeq !== undefined) this.noteSealedSeq(partition, BigInt(entry.walSeq));
      return;
    }
    const state = this.files.get(entry.path);
    if (state === undefined) return; // history of a file already forgotten by a rewrite
    const wasUploadedOnHost = isUploadedOnHost(state);
    if (entry.type === 'uploaded') state.uploaded = entry;
    else state.removed = entry;
    this.uploadedOnHostCount += Number(isUploadedOnHost(state)) - Number(wasUploadedOnHost);
  }

  /** Appends an entry durably (written and fsynced before it returns). */
  record(entry: LedgerEntry): void {
    if (entry.type !== 'sealed' && entry.type !== 'parts' && !this.files.has(entry.path)) {
      throw new LedgerError(`ledger ${this.path}: ${entry.type} entry for unknown warm file ${entry.path}`);
    }
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(this.fd);
    this.apply(entry);
  }

  private noteSealedSeq(partition: string, seq: bigint): void {
    if ((this.sealedSeqs.get(partition) ?? 0n) < seq) this.sealedSeqs.set(partition, seq);
  }

  /** Highest log sequence sealed in a partition (by warmPartitionPath), its deleted files included; 0 when none. */
  sealedThrough(partition: string): bigint {
    return this.sealedSeqs.get(partition) ?? 0n;
  }

  /** The lowest part number never used in a partition (by warmPartitionPath). */
  nextPart(partition: string): number {
    return this.nextParts.get(partition) ?? 0;
  }

  get(path: string): WarmFileState | undefined {
    return this.files.get(path);
  }

  /** Every file still on the host (not deleted or quarantined), oldest sealed first. */
  live(): WarmFileState[] {
    return [...this.files.values()].filter((f) => f.removed === undefined).sort((a, b) => a.sealed.sealedAtMs - b.sealed.sealedAtMs);
  }

  /** How many files are uploaded and still on the host. O(1). */
  uploadedOnHost(): number {
    return this.uploadedOnHostCount;
  }

  /** Sealed, not yet uploaded, still on the host: the upload backlog, oldest first. */
  pendingUpload(): SealedEntry[] {
    return this.live().filter((f) => f.uploaded === undefined).map((f) => f.sealed);
  }

  /** Rewrites the journal with only the current state of files still tracked, atomically. */
  rewrite(): void {
    const temp = join(dirname(this.path), `.${Date.now()}.ledger.tmp`);
    const fd = openSync(temp, 'w');
    try {
      for (const [partition, next] of this.nextParts) {
        const seq = this.sealedSeqs.get(partition);
        writeSync(fd, `${JSON.stringify(seq === undefined ? { type: 'parts', partition, next } : { type: 'parts', partition, next, walSeq: seq.toString() })}\n`);
      }
      for (const state of this.files.values()) {
        if (state.removed?.type === 'deleted') continue; // gone for good; its part number lives on above
        writeSync(fd, `${JSON.stringify(state.sealed)}\n`);
        if (state.uploaded !== undefined) writeSync(fd, `${JSON.stringify(state.uploaded)}\n`);
        if (state.removed !== undefined) writeSync(fd, `${JSON.stringify(state.removed)}\n`);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    closeSync(this.fd);
    renameSync(temp, this.path);
    const dirFd = openSync(dirname(this.path), 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
    for (const [path, state] of this.files) if (state.removed?.type === 'deleted') this.files.delete(path);
    this.fd = openSync(this.path, 'a');
  }

  close(): void {
    closeSync(this.fd);
  }
}

function isUploadedOnHost(state: WarmFileState): boolean {
  return state.uploaded !== undefined && state.removed === undefined;
}
