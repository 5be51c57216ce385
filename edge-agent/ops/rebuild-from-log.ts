/**
 * Rebuilding a sealed warm file from the write-ahead log, for `tickvault repair`: a file that is gone from the host
 * before it reached the store. Its rows are the events of its partition (dataset, date, symbol) logged after the
 * partition's previous file and up to the file's own walSeq — possible only while the log still holds them (the
 * agent removes segments once their events are sealed and a snapshot covers them, so this works for recent files).
 *
 * The rebuilt file is accepted only if its bytes hash to the ledger's SHA-256: the writer's encoding is
 * deterministic, so an exact rebuild is byte-identical, and anything else is refused rather than guessed at.
 * Files are encoded as the warm writer encodes them (DuckDB); files sealed before it did, by the pure-JavaScript
 * encoder, are rebuilt with that one.
 * The agent must be stopped (one process per log directory).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { ColumnarBatch } from '../../core/codec/columnar-batch.ts';
import { DuckDBParquetEncoder } from '../../core/codec/duckdb-parquet-encoder.ts';
import { encodeParquet } from '../../core/codec/parquet-file.ts';
import { dateOfNs } from '../../core/time.ts';
import { datasetOfEvent, decodeEventRecord } from '../ingest/event-codec.ts';
import { parseSegmentFileName } from '../wal/record-format.ts';
import { openLog } from '../wal/write-ahead-log.ts';
import type { SealedEntry } from '../warm/warm-ledger.ts';

export type RebuildOutcome =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly reason: string };

interface Target {
  readonly entry: SealedEntry;
  /** walSeq of the partition's previous file (0 when none). */
  readonly afterSeq: bigint;
  readonly rows: { readonly seq: bigint; readonly row: unknown }[];
}

const partitionOf = (dataset: string, date: string, symbol: string): string => `${dataset}\u0000${date}\u0000${symbol}`;

/**
 * Rebuilds each of `missing` from the log in walDir; `all` is every sealed entry the ledger knows (to find each
 * partition's previous file). Outcomes by ledger path.
 */
export async function rebuildFromLog(walDir: string, missing: readonly SealedEntry[], all: readonly SealedEntry[]): Promise<Map<string, RebuildOutcome>> {
  const outcomes = new Map<string, RebuildOutcome>();
  const fail = (entry: SealedEntry, reason: string): void => { outcomes.set(entry.path, { ok: false, reason }); };
  const hasSegments = existsSync(walDir) && readdirSync(walDir).some((n) => parseSegmentFileName(n) !== undefined);
  const targets = new Map<string, Target[]>();
  for (const entry of missing) {
    if (entry.walSeq === undefined) {
      fail(entry, 'the ledger does not record which log records it holds (written before the write-ahead log)');
      continue;
    }
    if (!hasSegments) {
      fail(entry, `its events are no longer in the write-ahead log (${walDir} holds no segments): the rows of this file are lost on this host`);
      continue;
    }
    let afterSeq = 0n;
    for (const other of all) {
      if (other.dataset === entry.dataset && other.date === entry.date && other.symbol === entry.symbol && other.part < entry.part && other.walSeq !== undefined) {
        const seq = BigInt(other.walSeq);
        if (seq > afterSeq) afterSeq = seq;
      }
    }
    const key = partitionOf(entry.dataset, entry.date, entry.symbol);
    const list = targets.get(key) ?? [];
    list.push({ entry, afterSeq, rows: [] });
    targets.set(key, list);
  }
  if (targets.size === 0) return outcomes;

  const log = await openLog(walDir);
  try {
    const firstSeq = log.firstSeq;
    const lastSeq = log.lastSeq;
    let from: bigint | undefined;
    for (const list of targets.values()) {
      for (const t of [...list]) {
        const last = BigInt(t.entry.walSeq as string);
        if (t.afterSeq + 1n < firstSeq || last > lastSeq) {
          fail(t.entry, `its events (log sequences ${t.afterSeq + 1n} to ${last}) are no longer in the write-ahead log, which holds ${firstSeq} to ${lastSeq}: the rows of this file are lost on this host`);
          list.splice(list.indexOf(t), 1);
          continue;
        }
        // From the previous file's last record too: a file sealed mid-record leaves the rest of it to the next one.
        const start = t.afterSeq < 1n ? 1n : t.afterSeq;
        if (from === undefined || start < from) from = start;
      }
    }
    if (from !== undefined) {
      await log.replay(from, (seq, payload) => {
        for (const event of decodeEventRecord(payload).events) {
          const row = event.row as { ts: bigint; symbol: string };
          const list = targets.get(partitionOf(datasetOfEvent(event), dateOfNs(row.ts), row.symbol));
          for (const t of list ?? []) {
            if (seq >= t.afterSeq && seq <= BigInt(t.entry.walSeq as string)) t.rows.push({ seq, row: event.row });
          }
        }
      });
    }
    const encoder = await DuckDBParquetEncoder.open();
    try {
      for (const list of targets.values()) {
        for (const t of list) outcomes.set(t.entry.path, await encodeExactly(t, encoder));
      }
    } finally {
      await encoder.close();
    }
  } finally {
    await log.close();
  }
  return outcomes;
}

/** The file from the logged rows, if they make the very bytes the ledger recorded. */
async function encodeExactly(t: Target, encoder: DuckDBParquetEncoder): Promise<RebuildOutcome> {
  const { entry } = t;
  const after = t.rows.filter((r) => r.seq > t.afterSeq);
  const carried = t.rows.filter((r) => r.seq === t.afterSeq);
  // The rows after the previous file's last record, preceded if need be by the tail of that record.
  const need = entry.rows - after.length;
  const rows = need > 0 ? [...carried.slice(Math.max(0, carried.length - need)), ...after] : after.slice(0, entry.rows);
  if (rows.length !== entry.rows) {
    return { ok: false, reason: `the write-ahead log holds ${rows.length} of its ${entry.rows} rows` };
  }
  const batch = new ColumnarBatch(entry.dataset, 256);
  for (const r of rows) batch.append(r.row as never);
  const bytes = await encoder.encode(batch);
  const sha256 = sha256Of(bytes);
  if (sha256 === entry.sha256) return { ok: true, bytes };
  const before = encodeParquet(batch);
  if (sha256Of(before) === entry.sha256) return { ok: true, bytes: before };
  return { ok: false, reason: `rebuilt ${rows.length} rows from the write-ahead log, but the file they make differs from the one the ledger recorded (sha256 ${sha256}, expected ${entry.sha256}); not restored` };
}

const sha256Of = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('base64');
