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
import { COLD_PREFIX, WARM_PREFIX, coldFilePath, coldPeriodOf, parseWarmFilePath, warmMonthPrefix } from '../../core/layout.ts';
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
    const ref = parseWarmFilePath(info.key.slice(WARM_PREFIX.length));
    if (ref.symbol === unit.symbol) keys.push(info.key);
  }
  return keys.sort();
}

const q = (identifier: string): string => `"${identifier}"`;

/**
 * The deduplicating, sorting SELECT for a dataset, over a prepared list parameter of file paths. Which copy of a
 * duplicate survives is fixed by a total order over every column, so reruns produce identical files.
 */
export function compactionSelect(dataset: DatasetName, files: string): string {
  const columns = columnsOf(dataset).map((c) => c.name);
  const all = columns.map(q).join(', ');
  const source = `read_parquet(${files}, hive_partitioning = false)`;
  if (dataset === 'trades') {
    return `SELECT ${all} FROM ${source}
      QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ${all}) = 1
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

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export async function compactUnit(unitInput: CompactionUnit, options: CompactionOptions): Promise<CompactionResult> {
  const unit = validateUnit(unitInput);
  const { store } = options;
  const sourceKeys = await warmKeysOf(store, unit);
  const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: unit.dataset, period: coldPeriodOf(unit.dataset, unit.month), symbol: unit.symbol })}`;
  if (sourceKeys.length === 0) {
    return { unit, status: 'no-input', sourceKeys, rowsIn: 0, rowsOut: 0, duplicatesRemoved: 0, coldKey: undefined, bytes: 0, sha256: undefined };
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
      await connection.run(`COPY (${compactionSelect(unit.dataset, fileList)}) TO ${sqlString(outPath)} (
        FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000,
        KV_METADATA {'tickvault.dataset': ${sqlString(unit.dataset)}, 'tickvault.schema_version': '${SCHEMA_VERSION}'})`);
      const out = (await connection.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(outPath)})`)).getRowObjectsJS()[0] as { n: bigint };
      rowsOut = Number(out.n);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    if (rowsOut !== distinctIn) {
      throw new CompactionError(`${unit.dataset} ${unit.symbol} ${unit.month}: wrote ${rowsOut} rows where ${distinctIn} distinct rows came in`);
    }
    const bytes = await readFile(outPath);
    const info = inspectParquet(bytes, outPath);
    if (info.rows !== rowsOut) throw new CompactionError(`${outPath}: footer says ${info.rows} rows, query counted ${rowsOut}`);
    const sha256 = createHash('sha256').update(bytes).digest('base64');
    await store.put(coldKey, bytes, {
      metadata: { rows: String(rowsOut), 'source-objects': String(sourceKeys.length), 'schema-version': String(SCHEMA_VERSION), sha256 },
      contentType: 'application/vnd.apache.parquet',
    });
    return { unit, status: 'compacted', sourceKeys, rowsIn, rowsOut, duplicatesRemoved: rowsIn - rowsOut, coldKey, bytes: bytes.byteLength, sha256 };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
