/**
 * Warm retention on the host: a warm file goes once its partition date is older than the retention period AND
 * the store holds a verified copy (the ledger says uploaded, and a HEAD now confirms size and checksum). Files are
 * judged by their partition date, walked through the ledger (no directory scan, no mtime). Free space comes from
 * the file system (statfs), not from the size of a directory entry.
 */
import { statfs } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseWarmObjectKey } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { type IsoDate, NS_PER_DAY, dateOfNs } from '../../core/time.ts';
import type { LogFn } from '../log.ts';
import type { WarmLedger } from './warm-ledger.ts';

export interface DiskSpace {
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly freeRatio: number;
}

export async function diskSpace(path: string): Promise<DiskSpace> {
  const s = await statfs(path);
  const freeBytes = s.bavail * s.bsize;
  const totalBytes = s.blocks * s.bsize;
  return { freeBytes, totalBytes, freeRatio: totalBytes === 0 ? 0 : freeBytes / totalBytes };
}

export interface RetentionResult {
  readonly deleted: string[];
  /** Old enough but not (verifiably) in the store: kept. */
  readonly keptUnsynced: string[];
}

export interface RetentionOptions {
  readonly ledger: WarmLedger;
  readonly warmDir: string;
  readonly store: ObjectStore;
  /** Files of partition dates older than this many days before today are eligible. @default 7 */
  readonly retentionDays: number;
  /** Today, for the cut-off. */
  readonly nowNs: bigint;
  readonly log: LogFn;
}

/** Deletes warm files past retention whose verified copy is in the store; keeps (and reports) the rest. */
export async function applyWarmRetention(options: RetentionOptions): Promise<RetentionResult> {
  const cutoff: IsoDate = dateOfNs(options.nowNs - BigInt(Math.round(options.retentionDays * 86_400)) * (NS_PER_DAY / 86_400n));
  const deleted: string[] = [];
  const keptUnsynced: string[] = [];
  for (const file of options.ledger.live()) {
    if (file.sealed.date >= cutoff) continue;
    const uploaded = file.uploaded;
    if (uploaded === undefined) {
      keptUnsynced.push(file.sealed.path);
      continue;
    }
    // Trust but verify: the copy must still be there, the same size, with the same checksum.
    const head = await options.store.head(uploaded.key).catch(() => undefined);
    const ok = head !== undefined && head.sizeBytes === file.sealed.bytes && (head.metadata?.['sha256'] ?? file.sealed.sha256) === file.sealed.sha256;
    if (!ok) {
      keptUnsynced.push(file.sealed.path);
      options.log('warn', 'warm file past retention kept: its store copy is missing or differs', { file: file.sealed.path, key: uploaded.key });
      continue;
    }
    parseWarmObjectKey(uploaded.key); // a ledger key that is not ours would be a bug; fail loudly
    await rm(join(options.warmDir, file.sealed.path), { force: true });
    options.ledger.record({ type: 'deleted', path: file.sealed.path, reason: `retention: partition ${file.sealed.date} older than ${cutoff}, verified in the store`, atMs: Date.now() });
    deleted.push(file.sealed.path);
  }
  return { deleted, keptUnsynced };
}
