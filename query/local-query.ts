/**
 * The embedded query engine: DuckDB over the objects the source plan picks. Values (symbol, times, file paths)
 * are bound as prepared-statement parameters, never spliced into SQL text.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, DuckDBTimestampNanosecondsValue, listValue } from '@duckdb/node-api';
import { type DatasetName, columnsOf } from '../core/datasets.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { validateSymbol } from '../core/symbols.ts';
import type { EpochNs } from '../core/time.ts';
import { planSources } from './source-plan.ts';

export interface RangeQuery {
  readonly dataset: DatasetName;
  readonly symbol: string;
  /** Inclusive start. */
  readonly fromNs: EpochNs;
  /** Exclusive end. */
  readonly toNs: EpochNs;
}

export type ResultRow = Record<string, string | number | bigint | null>;

export interface QueryResult {
  readonly columns: readonly string[];
  readonly rows: ResultRow[];
  readonly sources: { cold: number; warm: number };
}

const q = (identifier: string): string => `"${identifier}"`;

/** Deduplicates like compaction does, so overlapping copies (several agents, retries) count once. */
function dedupeClause(dataset: DatasetName): string {
  if (dataset === 'trades') return 'QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ts_ns) = 1';
  if (dataset === 'quotes' || dataset === 'trade_events') return '';
  return 'QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY trade_count DESC) = 1';
}

export async function queryRange(store: ObjectStore, query: RangeQuery): Promise<QueryResult> {
  const symbol = validateSymbol(query.symbol);
  const plan = await planSources(store, query.dataset, symbol, query.fromNs, query.toNs);
  const columns = columnsOf(query.dataset).map((c) => c.name);
  const keys = [...plan.coldKeys, ...plan.warmKeys];
  if (keys.length === 0) return { columns, rows: [], sources: { cold: 0, warm: 0 } };
  const scratch = await mkdtemp(join(tmpdir(), 'tickvault-query-'));
  try {
    const files: string[] = [];
    for (const [i, key] of keys.entries()) {
      const path = join(scratch, `${i}.parquet`);
      await writeFile(path, await store.get(key));
      files.push(path);
    }
    const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
    const connection = await instance.connect();
    try {
      const select = query.dataset === 'quotes' || query.dataset === 'trade_events' ? 'SELECT DISTINCT' : 'SELECT';
      // ts is returned as exact integer nanoseconds; the caller formats it.
      const list = columns.map((c) => (c === 'ts' ? 'epoch_ns(ts) AS ts' : q(c))).join(', ');
      const sql = `${select} ${list} FROM read_parquet($1::VARCHAR[], hive_partitioning = false)
        WHERE symbol = $2 AND ts >= $3 AND ts < $4
        ${dedupeClause(query.dataset)}
        ORDER BY ts_ns${query.dataset === 'trades' ? ', trade_id' : ''}`;
      const statement = await connection.prepare(sql);
      statement.bindList(1, listValue(files));
      statement.bindVarchar(2, symbol);
      statement.bindTimestampNanoseconds(3, new DuckDBTimestampNanosecondsValue(query.fromNs));
      statement.bindTimestampNanoseconds(4, new DuckDBTimestampNanosecondsValue(query.toNs));
      const rows = (await statement.runAndReadAll()).getRowObjectsJS() as ResultRow[];
      return { columns, rows, sources: { cold: plan.coldKeys.length, warm: plan.warmKeys.length } };
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
