/**
 * The embedded engine: DuckDB over the files the plan picked and the hot tier's rows, no AWS needed. Files of a
 * local store and the agent's warm files are read where they lie (LocalDirectoryStore.localPathOf); only S3 objects
 * are downloaded, to a scratch directory removed afterwards.
 *
 * Values reach DuckDB only through prepared statements (see duckdb-sql.ts). Before the query runs, the session is
 * sandboxed: it may open exactly the query's files and nothing else (allowed_paths, external access off, settings
 * locked), which is what lets raw SQL run here without being able to read, write or attach anything else.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBPreparedStatement,
  DuckDBTimestampNanosecondsValue,
  DuckDBTypeId,
  type DuckDBValue,
  LIST,
  StatementType,
  VARCHAR,
  listValue,
} from '@duckdb/node-api';
import { duckdbColumns } from '../core/catalog-columns.ts';
import { type DatasetName, columnsOf } from '../core/datasets.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { compileRelations, compileSelect } from './compile-sql.ts';
import { type DuckDbBranch, DuckDbDialect, type DuckDbVariable, hotTableOf } from './duckdb-sql.ts';
import { QueryCancelledError, QueryError, QueryInputError, QueryTimeoutError } from './errors.ts';
import {
  type Query, type QueryResult, type RawParam, type ResultColumn, type ResultRow, type ResultValue, type SourceFile, type ValueType,
  resultColumns,
} from './model.ts';
import { mapLimit, type QuerySources } from './source-plan.ts';

export interface DuckDbOptions {
  /** The store the plan's keys belong to. */
  readonly store: ObjectStore;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Called about every 250 ms while DuckDB works, with its own estimate (0..100; -1 when it has none). */
  readonly onProgress?: (percent: number) => void;
  /** @default the number of CPUs */
  readonly threads?: number;
}

/** A store that can name the local file of an object (LocalDirectoryStore). */
interface LocalPathStore {
  localPathOf(key: string): string | undefined;
}

function localPathOf(store: ObjectStore, key: string): string | undefined {
  const candidate = store as Partial<LocalPathStore>;
  return typeof candidate.localPathOf === 'function' ? candidate.localPathOf(key) : undefined;
}

/** Runs a query on DuckDB over its sources. */
export async function runOnDuckDb(query: Query, sources: QuerySources, options: DuckDbOptions): Promise<QueryResult> {
  let scratch: string | undefined;
  try {
    // 1. Files: in place when the store is local, else downloaded (a few at a time).
    const opened: SourceFile[] = [];
    const pathOfKey = new Map<string, string>();
    const keys = [...new Set(sources.stored.flatMap((p) => [...p.coldKeys, ...p.warmKeys]))];
    const remote: string[] = [];
    for (const key of keys) {
      const path = localPathOf(options.store, key);
      if (path === undefined) remote.push(key);
      else pathOfKey.set(key, path);
    }
    if (remote.length > 0) {
      const dir = await mkdtemp(join(tmpdir(), 'tickvault-query-'));
      scratch = dir;
      await mapLimit(remote, 4, async (key) => {
        if (options.signal?.aborted === true) throw new QueryCancelledError('query cancelled while downloading');
        const path = join(dir, `${remote.indexOf(key)}.parquet`);
        await writeFile(path, await options.store.get(key));
        pathOfKey.set(key, path);
      });
    }
    const access = (key: string): SourceFile['access'] => (remote.includes(key) ? 'downloaded' : 'in-place');
    const branches = new Map<DatasetName, DuckDbBranch[]>();
    const add = (dataset: DatasetName, branch: DuckDbBranch): void => {
      branches.set(dataset, [...(branches.get(dataset) ?? []), branch]);
    };
    for (const plan of sources.stored) {
      const { fromNs, toNs } = plan.range;
      if (plan.coldKeys.length > 0) {
        add(plan.dataset, { tier: 'cold', symbol: plan.symbol, fromNs, toNs, files: plan.coldKeys.map((k) => pathOfKey.get(k) as string) });
        for (const key of plan.coldKeys) opened.push({ tier: 'cold', location: key, origin: 'store', access: access(key) });
      }
      const warmFiles = [...plan.warmKeys.map((k) => pathOfKey.get(k) as string), ...plan.warmDirFiles];
      if (warmFiles.length > 0) add(plan.dataset, { tier: 'warm', symbol: plan.symbol, fromNs, toNs, files: warmFiles });
      for (const key of plan.warmKeys) opened.push({ tier: 'warm', location: key, origin: 'store', access: access(key) });
      for (const path of plan.warmDirFiles) opened.push({ tier: 'warm', location: path, origin: 'warm-dir', access: 'in-place' });
    }
    let hotRows = 0;
    for (const segment of sources.hot) {
      if (segment.rows.length === 0) continue;
      add(segment.dataset, { tier: 'hot', symbol: segment.symbol, fromNs: segment.range.fromNs, toNs: segment.range.toNs });
      hotRows += segment.rows.length;
    }

    // 2. The session: hot rows, variables, views, sandbox; then the query.
    const instance = await DuckDBInstance.create(':memory:', { threads: String(options.threads ?? availableParallelism()) });
    const connection = await instance.connect();
    try {
      for (const segmentDataset of new Set(sources.hot.filter((s) => s.rows.length > 0).map((s) => s.dataset))) {
        await loadHotRows(connection, segmentDataset, sources.hot.filter((s) => s.dataset === segmentDataset).flatMap((s) => s.rows));
      }
      const dialect = new DuckDbDialect((dataset) => branches.get(dataset) ?? []);
      const relations = compileRelations(dialect, query);
      const select = query.kind === 'sql' ? undefined : compileSelect(dialect, query);
      for (const v of dialect.variables) await setVariable(connection, v);
      for (const r of relations) await connection.run(`CREATE TEMP VIEW ${r.name} AS ${r.sql}`);
      await sandbox(connection, [...pathOfKey.values(), ...sources.stored.flatMap((p) => p.warmDirFiles)]);
      const statement = query.kind === 'sql' ? await prepareRaw(connection, query) : await connection.prepare(select ?? '');
      const reader = await interruptible(connection, options, () => statement.runAndReadAll());
      const columns = resultColumns(query) ?? rawColumns(reader.columnNames(), reader.columnTypes().map((t) => t.typeId));
      const rows = query.kind === 'sql' ? reader.getRowObjects().map((r) => rawRow(r, columns)) : (reader.getRowObjectsJS() as ResultRow[]).map((r) => typedRow(r, columns));
      return { columns, rows, stats: { engine: 'duckdb', files: opened, hotRows } };
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}

/** Appends the hot tier's rows of one dataset to its temp table. */
async function loadHotRows(connection: DuckDBConnection, dataset: DatasetName, rows: readonly object[]): Promise<void> {
  const table = hotTableOf(dataset);
  await connection.run(`CREATE TEMP TABLE ${table} (${duckdbColumns(dataset).map((c) => `"${c.name}" ${c.type}`).join(', ')})`);
  const appender = await connection.createAppender(table);
  const defs = columnsOf(dataset);
  for (const row of rows) {
    const record = row as Record<string, unknown>;
    for (const def of defs) {
      const value = record[def.name];
      if (value === null || value === undefined) appender.appendNull();
      else if (def.type === 'timestamp_ns') appender.appendTimestampNanoseconds(new DuckDBTimestampNanosecondsValue(value as bigint));
      else if (def.type === 'int64') appender.appendBigInt(value as bigint);
      else if (def.type === 'float64') appender.appendDouble(value as number);
      else appender.appendVarchar(value as string);
    }
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
}

async function setVariable(connection: DuckDBConnection, v: DuckDbVariable): Promise<void> {
  const statement = await connection.prepare(`SET VARIABLE ${v.name} = $1::${v.type}`);
  if (v.type === 'BIGINT') statement.bindBigInt(1, v.value);
  else if (v.type === 'VARCHAR') statement.bindVarchar(1, v.value);
  else statement.bindList(1, listValue([...v.value]), LIST(VARCHAR));
  await statement.run();
}

/** From here on the session can open only these files, and cannot change that. */
async function sandbox(connection: DuckDBConnection, files: readonly string[]): Promise<void> {
  const allow = await connection.prepare('SET allowed_paths = $1');
  allow.bindList(1, listValue([...new Set(files)]), LIST(VARCHAR));
  await allow.run();
  await connection.run('SET enable_external_access = false');
  await connection.run('SET lock_configuration = true');
}

/** Prepares raw SQL: exactly one statement, a SELECT, with as many parameters as were given. */
async function prepareRaw(connection: DuckDBConnection, query: Extract<Query, { kind: 'sql' }>): Promise<DuckDBPreparedStatement> {
  let statement: DuckDBPreparedStatement;
  try {
    const extracted = await connection.extractStatements(query.sql);
    if (extracted.count !== 1) throw new QueryInputError('sql', `sql: one statement only, found ${extracted.count}`);
    statement = await extracted.prepare(0);
  } catch (cause) {
    if (cause instanceof QueryError) throw cause;
    throw new QueryInputError('sql', `sql: ${(cause as Error).message}`, { cause });
  }
  if (statement.statementType !== StatementType.SELECT) throw new QueryInputError('sql', 'sql: only SELECT statements may run (read-only)');
  if (statement.parameterCount !== query.params.length) {
    throw new QueryInputError('sql', `sql: the statement has ${statement.parameterCount} parameter(s), ${query.params.length} --param given`);
  }
  query.params.forEach((p: RawParam, i) => {
    if (p.type === 'bigint') statement.bindBigInt(i + 1, p.value);
    else if (p.type === 'double') statement.bindDouble(i + 1, p.value);
    else statement.bindVarchar(i + 1, p.value);
  });
  return statement;
}

/** Runs fn, interrupting DuckDB on the signal or the timeout, and reporting progress meanwhile. */
async function interruptible<T>(connection: DuckDBConnection, options: DuckDbOptions, fn: () => Promise<T>): Promise<T> {
  let reason: 'cancelled' | 'timeout' | undefined;
  const stop = (why: 'cancelled' | 'timeout'): void => {
    reason ??= why;
    connection.interrupt();
  };
  if (options.signal?.aborted === true) throw new QueryCancelledError('query cancelled before it started');
  const onAbort = (): void => stop('cancelled');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => stop('timeout'), options.timeoutMs);
  const progress = options.onProgress === undefined ? undefined : setInterval(() => options.onProgress?.(connection.progress.percentage), 250);
  try {
    return await fn();
  } catch (error) {
    if (reason === 'timeout') throw new QueryTimeoutError(`DuckDB query stopped after the ${((options.timeoutMs ?? 0) / 1000).toString()} s timeout`, { cause: error });
    if (reason === 'cancelled') throw new QueryCancelledError('DuckDB query cancelled', { cause: error });
    if (error instanceof Error && !(error instanceof QueryError)) throw new QueryError(`DuckDB: ${error.message}`, { cause: error });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (timer !== undefined) clearTimeout(timer);
    if (progress !== undefined) clearInterval(progress);
  }
}

function typedValue(value: unknown, type: ValueType): ResultValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'timestamp_ns':
    case 'bigint':
      return typeof value === 'bigint' ? value : BigInt(value as number);
    case 'double':
      return Number(value);
    case 'timestamp':
    case 'string':
      return String(value);
  }
}

function typedRow(row: Record<string, unknown>, columns: readonly ResultColumn[]): ResultRow {
  const out: ResultRow = {};
  for (const c of columns) out[c.name] = typedValue(row[c.name], c.type);
  return out;
}

const INTEGER_TYPES = new Set([
  DuckDBTypeId.TINYINT, DuckDBTypeId.SMALLINT, DuckDBTypeId.INTEGER, DuckDBTypeId.BIGINT, DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UTINYINT, DuckDBTypeId.USMALLINT, DuckDBTypeId.UINTEGER, DuckDBTypeId.UBIGINT, DuckDBTypeId.UHUGEINT,
]);
const DOUBLE_TYPES = new Set([DuckDBTypeId.FLOAT, DuckDBTypeId.DOUBLE, DuckDBTypeId.DECIMAL]);
const TIME_TYPES = new Set([
  DuckDBTypeId.TIMESTAMP, DuckDBTypeId.TIMESTAMP_S, DuckDBTypeId.TIMESTAMP_MS, DuckDBTypeId.TIMESTAMP_NS, DuckDBTypeId.TIMESTAMP_TZ,
  DuckDBTypeId.DATE, DuckDBTypeId.TIME, DuckDBTypeId.TIME_TZ, DuckDBTypeId.TIME_NS,
]);

function rawColumns(names: readonly string[], types: readonly DuckDBTypeId[]): ResultColumn[] {
  return names.map((name, i) => {
    const t = types[i] ?? DuckDBTypeId.VARCHAR;
    const type: ValueType = INTEGER_TYPES.has(t) ? 'bigint' : DOUBLE_TYPES.has(t) ? 'double' : TIME_TYPES.has(t) ? 'timestamp' : 'string';
    return { name, type };
  });
}

/** A raw-SQL row: integers as bigint, decimals as numbers, everything else (timestamps, lists, …) as DuckDB's text. */
function rawRow(row: Record<string, DuckDBValue>, columns: readonly ResultColumn[]): ResultRow {
  const out: ResultRow = {};
  for (const c of columns) {
    const v = row[c.name];
    out[c.name] = v === null || v === undefined ? null
      : c.type === 'bigint' ? (typeof v === 'bigint' ? v : BigInt(v as number))
      : c.type === 'double' ? Number(typeof v === 'number' ? v : String(v))
      : typeof v === 'string' ? v : String(v);
  }
  return out;
}
