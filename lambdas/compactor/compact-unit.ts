/**
 * Compaction of one unit (dataset, symbol, month): every warm object of that symbol and month, from every agent,
 * merged, deduplicated, sorted, written as one cold Parquet file, verified, then published to the store.
 *
 * DuckDB does the merge: it sorts and deduplicates out of core, spilling to disk under a memory limit, so one
 * symbol-month never has to fit in memory. The cold object is put only after verification, so a run killed at any
 * point leaves no visible partial output.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, listValue } from '@duckdb/node-api';
import { inspectParquet } from '../../core/codec/parquet-file.ts';
import { type DatasetName, SCHEMA_VERSION, columnsOf, parseDatasetName } from '../../core/datasets.ts';
import { COLD_PREFIX, WARM_PREFIX, coldFilePath, coldPeriodOf, parseWarmManifestKey, parseWarmObjectKey, warmMonthPrefix } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { validateSymbol } from '../../core/symbols.ts';
import { type IsoMonth, parseIsoMonth } from '../../core/time.ts';

export interface CompactionUnit {
  readonly dataset: DatasetName;
  readonly symbol: string;
  readonly month: IsoMonth;
}

export interface CompactionResult {
  readonly unit: CompactionUnit;
  readonly status: 'compacted' | 'no-input';
  readonly sourceKeys: readonly string[];
  readonly rowsIn: number;
  readonly rowsOut: number;
  readonly duplicatesRemoved: number;
  /** Trades removed by a cancel or error event (trades only). */
  readonly cancelsApplied: number;
  /** Trades replaced by a correction event (trades only). */
  readonly correctionsApplied: number;
  readonly coldKey: string | undefined;
  readonly bytes: number;
  readonly sha256: string | undefined;
}

export interface CompactionOptions {
  readonly store: ObjectStore;
  /** Scratch space for inputs, output and DuckDB's spill files; removed afterwards. */
  readonly workDir: string;
  /** DuckDB memory limit, e.g. '1GB'. @default '1GB' */
  readonly memoryLimit?: string;
}

export class CompactionError extends Error {
  override readonly name = 'CompactionError';
}

export function validateUnit(unit: { dataset: string; symbol: string; month: string }): CompactionUnit {
  return { dataset: parseDatasetName(unit.dataset), symbol: validateSymbol(unit.symbol), month: parseIsoMonth(unit.month) };
}

/** Warm object keys of one unit, found under the month's prefix. */
export async function warmKeysOf(store: ObjectStore, unit: CompactionUnit): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(`${WARM_PREFIX}${warmMonthPrefix(unit.dataset, unit.month)}`)) {
    if (parseWarmManifestKey(info.key) !== undefined) continue;
    const { ref } = parseWarmObjectKey(info.key);
    if (ref.symbol === unit.symbol) keys.push(info.key);
  }
  return keys.sort();
}

const q = (identifier: string): string => `"${identifier}"`;

/**
 * The deduplicating, sorting SELECT for a dataset over a list of files. Which copy of a duplicate survives is fixed
 * by a total order over every column, so reruns produce identical files.
 *
 * Trades also take the month's trade events: a cancel or error removes the trade it names; a correction replaces
 * that trade's id, price, size and conditions with the corrected ones and keeps its time (the latest correction of
 * a trade wins; a correction of a correction is applied once, not chained).
 */
export function compactionSelect(dataset: DatasetName, files: string, eventFiles?: string): string {
  const columns = columnsOf(dataset).map((c) => c.name);
  const all = columns.map(q).join(', ');
  const source = `read_parquet(${files}, hive_partitioning = false)`;
  if (dataset === 'trades') {
    const trades = `SELECT ${all} FROM ${source}
      QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ${all}) = 1`;
    if (eventFiles === undefined) return `${trades} ORDER BY ts, trade_id`;
    return `WITH trades AS (${trades}),
      events AS (SELECT DISTINCT * FROM read_parquet(${eventFiles}, hive_partitioning = false)),
      removed AS (SELECT DISTINCT symbol, trade_id FROM events WHERE action IN ('cancel', 'error')),
      corrected AS (
        SELECT symbol, trade_id, corrected_trade_id, corrected_price, corrected_size, corrected_conditions FROM events
        WHERE action = 'correction'
        QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ts_ns DESC, corrected_trade_id DESC) = 1)
      SELECT t.ts, t.ts_ns, t.symbol,
        coalesce(c.corrected_trade_id, t.trade_id) AS trade_id,
        coalesce(c.corrected_price, t.price) AS price,
        coalesce(c.corrected_size, t.size) AS size,
        t.exchange,
        CASE WHEN c.trade_id IS NULL THEN t.conditions ELSE c.corrected_conditions END AS conditions,
        t.tape
      FROM trades t
      LEFT JOIN corrected c ON c.symbol = t.symbol AND c.trade_id = t.trade_id
      ANTI JOIN removed r ON r.symbol = t.symbol AND r.trade_id = t.trade_id
      ORDER BY ts, trade_id`;
  }
  if (dataset === 'quotes' || dataset === 'trade_events') {
    return `SELECT DISTINCT ${all} FROM ${source} ORDER BY ${all}`;
  }
  // Bars: one per (symbol, start time); an updated bar carries more trades than the bar it replaces.
  return `SELECT ${all} FROM ${source}
    QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY trade_count DESC, volume DESC, ${all}) = 1
    ORDER BY ts`;
}

/** How many rows the cold file must hold: the distinct identities of the inputs. */
function distinctCountSelect(dataset: DatasetName, files: string): string {
  const identity = dataset === 'trades' ? ['symbol', 'trade_id']
    : dataset === 'quotes' || dataset === 'trade_events' ? columnsOf(dataset).map((c) => c.name)
    : ['symbol', 'ts'];
  return `SELECT count(*) AS rows_in, (SELECT count(*) FROM (SELECT DISTINCT ${identity.map(q).join(', ')} FROM read_parquet(${files}, hive_partitioning = false))) AS distinct_in,
    count(*) FILTER (WHERE symbol <> $2) AS foreign_rows
    FROM read_parquet(${files}, hive_partitioning = false)`;
}

function nextMonth(month: IsoMonth): IsoMonth {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export async function compactUnit(unitInput: CompactionUnit, options: CompactionOptions): Promise<CompactionResult> {
  const unit = validateUnit(unitInput);
  const { store } = options;
  const sourceKeys = await warmKeysOf(store, unit);
  const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: unit.dataset, period: coldPeriodOf(unit.dataset, unit.month), symbol: unit.symbol })}`;
  if (sourceKeys.length === 0) {
    return { unit, status: 'no-input', sourceKeys, rowsIn: 0, rowsOut: 0, duplicatesRemoved: 0, cancelsApplied: 0, correctionsApplied: 0, coldKey: undefined, bytes: 0, sha256: undefined };
  }
  const workDir = options.workDir;
  await mkdir(join(workDir, 'spill'), { recursive: true });
  try {
    const localFiles: string[] = [];
    for (const [i, key] of sourceKeys.entries()) {
      const bytes = await store.get(key);
      const info = inspectParquet(bytes, `${store.description}/${key}`);
      if (info.dataset !== unit.dataset) throw new CompactionError(`${key}: holds ${info.dataset}, not ${unit.dataset}`);
      const path = join(workDir, `in-${String(i).padStart(6, '0')}.parquet`);
      await writeFile(path, bytes);
      localFiles.push(path);
    }
    const eventFiles: string[] = [];
    if (unit.dataset === 'trades') {
      // A cancel can arrive after the month ends, so the next month's events are read too when they exist.
      const eventKeys = [
        ...(await warmKeysOf(store, { ...unit, dataset: 'trade_events' })),
        ...(await warmKeysOf(store, { ...unit, dataset: 'trade_events', month: nextMonth(unit.month) })),
      ];
      for (const [i, key] of eventKeys.entries()) {
        const bytes = await store.get(key);
        const info = inspectParquet(bytes, `${store.description}/${key}`);
        if (info.dataset !== 'trade_events') throw new CompactionError(`${key}: holds ${info.dataset}, not trade_events`);
        const path = join(workDir, `events-${String(i).padStart(6, '0')}.parquet`);
        await writeFile(path, bytes);
        eventFiles.push(path);
      }
    }
    const outPath = join(workDir, 'out.parquet');
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: options.memoryLimit ?? '1GB',
      temp_directory: join(workDir, 'spill'),
      threads: '2',
      preserve_insertion_order: 'false',
    });
    const connection = await instance.connect();
    let rowsIn: number;
    let distinctIn: number;
    let rowsOut: number;
    let cancelsApplied = 0;
    let correctionsApplied = 0;
    try {
      const counts = await connection.prepare(distinctCountSelect(unit.dataset, '$1::VARCHAR[]'));
      counts.bindList(1, listValue(localFiles));
      counts.bindVarchar(2, unit.symbol);
      const c = (await counts.runAndReadAll()).getRowObjectsJS()[0] as { rows_in: bigint; distinct_in: bigint; foreign_rows: bigint };
      if (c.foreign_rows !== 0n) throw new CompactionError(`${unit.dataset} ${unit.symbol} ${unit.month}: ${c.foreign_rows} input rows belong to another symbol`);
      rowsIn = Number(c.rows_in);
      distinctIn = Number(c.distinct_in);
      // COPY takes no parameters; every path here is one this function made under its own work directory.
      const fileList = `[${localFiles.map(sqlString).join(', ')}]`;
      const eventList = eventFiles.length === 0 ? undefined : `[${eventFiles.map(sqlString).join(', ')}]`;
      if (eventList !== undefined) {
        // How many of this month's distinct trades the events remove or replace: the verification's arithmetic.
        const applied = (await connection.runAndReadAll(`WITH t AS (SELECT DISTINCT symbol, trade_id FROM read_parquet(${fileList}, hive_partitioning = false)),
          e AS (SELECT DISTINCT symbol, trade_id, action FROM read_parquet(${eventList}, hive_partitioning = false))
          SELECT count(DISTINCT t.trade_id) FILTER (WHERE e.action IN ('cancel', 'error')) AS cancels,
                 count(DISTINCT t.trade_id) FILTER (WHERE e.action = 'correction' AND t.trade_id NOT IN (SELECT trade_id FROM e WHERE action IN ('cancel', 'error'))) AS corrections
          FROM t JOIN e USING (symbol, trade_id)`)).getRowObjectsJS()[0] as { cancels: bigint; corrections: bigint };
        cancelsApplied = Number(applied.cancels);
        correctionsApplied = Number(applied.corrections);
      }
      await connection.run(`COPY (${compactionSelect(unit.dataset, fileList, eventList)}) TO ${sqlString(outPath)} (
        FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000,
        KV_METADATA {'tickvault.dataset': ${sqlString(unit.dataset)}, 'tickvault.schema_version': '${SCHEMA_VERSION}'})`);
      const out = (await connection.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(outPath)})`)).getRowObjectsJS()[0] as { n: bigint };
      rowsOut = Number(out.n);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    if (rowsOut !== distinctIn - cancelsApplied) {
      throw new CompactionError(`${unit.dataset} ${unit.symbol} ${unit.month}: wrote ${rowsOut} rows where ${distinctIn} distinct rows came in and ${cancelsApplied} were cancelled`);
    }
    const bytes = await readFile(outPath);
    const info = inspectParquet(bytes, outPath);
    if (info.rows !== rowsOut) throw new CompactionError(`${outPath}: footer says ${info.rows} rows, query counted ${rowsOut}`);
    const sha256 = createHash('sha256').update(bytes).digest('base64');
    await store.put(coldKey, bytes, {
      metadata: { rows: String(rowsOut), 'source-objects': String(sourceKeys.length), 'schema-version': String(SCHEMA_VERSION), sha256 },
      contentType: 'application/vnd.apache.parquet',
    });
    return {
      unit, status: 'compacted', sourceKeys, rowsIn, rowsOut, duplicatesRemoved: rowsIn - distinctIn,
      cancelsApplied, correctionsApplied, coldKey, bytes: bytes.byteLength, sha256,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
