/**
 * Snapshots of the agent's hot state, each tagged with the write-ahead log sequence it includes: recovery loads
 * the newest valid snapshot and replays the log from walSeq + 1.
 *
 * A snapshot is written to a temp file, fsynced, renamed into place and the directory fsynced, so a crash leaves
 * either the whole file under its final name or only a temp file (ignored, and removed by the next write). The
 * newest `keep` snapshots are kept. Loading tries the newest first and falls back to older ones when a file is
 * damaged, reporting each file it passes over.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SNAPSHOT_DEFECTS, type SnapshotDefect, decodeSnapshot, encodeSnapshotHeader, parseSnapshotFileName, snapshotFileName,
} from './snapshot-format.ts';

export { SNAPSHOT_DEFECTS, type SnapshotDefect } from './snapshot-format.ts';

export interface SnapshotStoreOptions {
  /** How many snapshots to keep; older ones are deleted after each successful write. @default 12 */
  readonly keep?: number;
  /** Called for each snapshot file loadNewestValid passes over, with the reason. */
  readonly onInvalidSnapshot?: (file: string, defect: SnapshotDefect, detail: string) => void;
  /** Clock for the creation time in names and headers. @default Date.now */
  readonly nowMs?: () => number;
}

export interface SnapshotInfo {
  /** File name inside the store's directory. */
  readonly file: string;
  readonly path: string;
  readonly walSeq: bigint;
  readonly createdAtMs: number;
  readonly payloadBytes: number;
}

export interface LoadedSnapshot extends SnapshotInfo {
  readonly payload: Uint8Array;
}

export class SnapshotOrderError extends Error {
  override readonly name = 'SnapshotOrderError';

  constructor(readonly dir: string, readonly walSeq: bigint, readonly newestWalSeq: bigint) {
    super(`snapshot store ${dir}: walSeq ${walSeq} is below the newest snapshot's walSeq ${newestWalSeq}; `
      + 'a snapshot must include at least as much of the log as the one before it');
  }
}

const TEMP_PREFIX = '.snapshot-';

export class SnapshotStore {
  readonly keep: number;
  private readonly onInvalidSnapshot: ((file: string, defect: SnapshotDefect, detail: string) => void) | undefined;
  private readonly nowMs: () => number;
  /** Writes run one at a time. */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string, options: SnapshotStoreOptions = {}) {
    this.keep = options.keep ?? 12;
    if (!Number.isInteger(this.keep) || this.keep < 1) throw new RangeError(`snapshot store option keep must be a positive integer (got ${this.keep})`);
    this.onInvalidSnapshot = options.onInvalidSnapshot;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Writes a snapshot atomically and durably, then deletes all but the newest `keep`. */
  write(walSeq: bigint, payload: Uint8Array): Promise<SnapshotInfo> {
    const result = this.writing.then(() => this.writeNow(walSeq, payload));
    this.writing = result.catch(() => undefined);
    return result;
  }

  /** Snapshot file names, oldest first (by walSeq, then creation time). Temp files are not listed. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
    return names.filter((n) => parseSnapshotFileName(n) !== undefined).sort();
  }

  /** The newest snapshot that passes every check, or undefined when there is none; damaged files are reported and skipped. */
  async loadNewestValid(): Promise<LoadedSnapshot | undefined> {
    const names = await this.list();
    for (let i = names.length - 1; i >= 0; i--) {
      const file = names[i]!;
      const path = join(this.dir, file);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (error) {
        this.report(file, 'unreadable', error instanceof Error ? error.message : String(error));
        continue;
      }
      const decoded = decodeSnapshot(bytes);
      if ('defect' in decoded) {
        this.report(file, decoded.defect, `${bytes.length} bytes`);
        continue;
      }
      const { header, payload } = decoded;
      if (header.walSeq !== parseSnapshotFileName(file)) {
        this.report(file, 'name-mismatch', `header walSeq ${header.walSeq}`);
        continue;
      }
      return { file, path, walSeq: header.walSeq, createdAtMs: header.createdAtMs, payloadBytes: header.payloadBytes, payload };
    }
    return undefined;
  }

  private report(file: string, defect: SnapshotDefect, detail: string): void {
    this.onInvalidSnapshot?.(file, defect, `snapshot ${join(this.dir, file)} ${SNAPSHOT_DEFECTS[defect]} (${detail})`);
  }

  private async writeNow(walSeq: bigint, payload: Uint8Array): Promise<SnapshotInfo> {
    if (walSeq < 0n || walSeq >= 2n ** 64n) throw new RangeError(`snapshot walSeq ${walSeq} must fit in 64 unsigned bits`);
    await mkdir(this.dir, { recursive: true });
    const existing = await this.list();
    const newest = existing.at(-1);
    const newestWalSeq = newest === undefined ? undefined : parseSnapshotFileName(newest);
    if (newestWalSeq !== undefined && walSeq < newestWalSeq) throw new SnapshotOrderError(this.dir, walSeq, newestWalSeq);

    const createdAtMs = this.nowMs();
    const file = snapshotFileName(walSeq, createdAtMs);
    const path = join(this.dir, file);
    const temp = join(this.dir, `${TEMP_PREFIX}${file}.tmp-${randomBytes(6).toString('hex')}`);
    const header = encodeSnapshotHeader(walSeq, createdAtMs, payload);
    try {
      const handle = await open(temp, 'wx');
      try {
        await writeFully(handle, header, 0);
        await writeFully(handle, payload, header.length);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await syncDirectory(this.dir);
    await this.prune(file);
    return { file, path, walSeq, createdAtMs, payloadBytes: payload.byteLength };
  }

  /** Deletes snapshots beyond `keep` and temp files left by interrupted writes (none is in flight: writes are serial). */
  private async prune(justWritten: string): Promise<void> {
    const names = await readdir(this.dir);
    const snapshots = names.filter((n) => parseSnapshotFileName(n) !== undefined).sort();
    const doomed = [
      ...snapshots.slice(0, Math.max(0, snapshots.length - this.keep)).filter((n) => n !== justWritten),
      ...names.filter((n) => n.startsWith(TEMP_PREFIX) && n.includes('.tmp-')),
    ];
    if (doomed.length === 0) return;
    for (const name of doomed) await rm(join(this.dir, name), { force: true });
    await syncDirectory(this.dir);
  }
}

/** Writes all of data at position: a single write may be short (a full disk gives a partial write before ENOSPC). */
async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.byteLength;) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write made no progress at byte ${position + done}`);
    done += bytesWritten;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}
