/**
 * The query model compiled to SQL, in the part both engines share. Each engine supplies a dialect: where a dataset's
 * rows come from (DuckDB: Parquet files and the hot tier's rows in a temp table; Athena: the Glue tables' partitions)
 * and how a value becomes a placeholder (DuckDB: a variable set through a prepared statement; Athena: `?` with an
 * execution parameter). From there the SQL is the same text for both: deduplicated relations, then the query.
 *
 * Only identifiers from the dataset definitions, constants from this file and intervals from the closed INTERVALS map
 * appear in the text; every value a user gave (symbols, times, partitions, file paths) is a placeholder.
 *
 * Relations, for each dataset a query reads:
 *   tv_src_<d>   every branch (one tier, one symbol, one time segment) with tv_rank (cold 0, warm 1, hot 2) and
 *                tv_end (the end of the branch's segment)
 *   tv_<d>       deduplicated: trades by (symbol, trade_id), bars by (symbol, ts), both keeping the lowest tv_rank;
 *                quotes by the full row (cold files alone are already deduplicated, and left as they are)
 *   trades | quotes | bars    the dataset's columns only: what raw SQL sees
 */
import type { ColumnType } from '../core/column-types.ts';
import { type DatasetName, columnsOf } from '../core/datasets.ts';
import { type AggregateQuery, type Query, barsDataset, datasetsOf, intervalNs } from './model.ts';

export interface SqlDialect {
  readonly name: 'duckdb' | 'athena';
  /** A placeholder for an exact 64-bit integer. */
  bigint(value: bigint): string;
  /** A placeholder for a text value. */
  string(value: string): string;
  /** The value of the first row by `order` (a comma-separated key list) within a group; lastBy the last one. */
  firstBy(value: string, order: string): string;
  lastBy(value: string, order: string): string;
  /** The engine's type name for a column type, for typed NULLs. */
  typeName(type: ColumnType): string;
  /** One SELECT per branch of the dataset, each yielding the dataset's columns, then tv_rank and tv_end. */
  branches(dataset: DatasetName): string[];
  /**
   * Whether the dataset's branches are cold files only: compaction deduplicated each of them, and no two hold the
   * same symbol and month, so deduplicating again would only cost time (a full sort of the month).
   */
  coldOnly(dataset: DatasetName): boolean;
}

export interface Relation {
  readonly name: string;
  readonly sql: string;
}

/** Quotes an identifier that comes from code (dataset columns, relation names). */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not an identifier from code: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

export const TIER_RANK = { cold: 0, warm: 1, hot: 2 } as const;

/** The relation name that holds a dataset for raw SQL. */
export function publicRelationOf(dataset: DatasetName): 'trades' | 'quotes' | 'bars' {
  if (dataset === 'trades' || dataset === 'quotes') return dataset;
  if (dataset.startsWith('bars_')) return 'bars';
  throw new Error(`dataset ${dataset} has no query relation`);
}

function columnList(dataset: DatasetName): string {
  return columnsOf(dataset).map((c) => ident(c.name)).join(', ');
}

/** An empty relation with the branch columns, for a dataset no branch answers. */
function emptyBranch(dialect: SqlDialect, dataset: DatasetName): string {
  const cols = columnsOf(dataset).map((c) => `CAST(NULL AS ${dialect.typeName(c.type)}) AS ${ident(c.name)}`).join(', ');
  return `SELECT ${cols}, 0 AS tv_rank, CAST(NULL AS ${dialect.typeName('int64')}) AS tv_end FROM (VALUES (0)) AS tv_none(tv_x) WHERE 1 = 0`;
}

/** The relations of every dataset the query reads, in dependency order. */
export function compileRelations(dialect: SqlDialect, query: Query): Relation[] {
  const relations: Relation[] = [];
  for (const dataset of datasetsOf(query)) {
    const branches = dialect.branches(dataset);
    const src = `tv_src_${publicRelationOf(dataset)}`;
    const internal = `tv_${publicRelationOf(dataset)}`;
    relations.push({ name: src, sql: (branches.length === 0 ? [emptyBranch(dialect, dataset)] : branches).join('\nUNION ALL\n') });
    const cols = columnList(dataset);
    const dedupe =
      dialect.coldOnly(dataset) ? `SELECT ${cols}, tv_end FROM ${src}`
      : dataset === 'trades' ? `SELECT ${cols}, tv_end FROM (SELECT tv_a.*, row_number() OVER (PARTITION BY "symbol", "trade_id" ORDER BY tv_rank, "ts_ns") AS tv_rn FROM ${src} AS tv_a) AS tv_d WHERE tv_rn = 1`
      : dataset === 'quotes' ? `SELECT DISTINCT ${cols}, tv_end FROM ${src}`
      : `SELECT ${cols}, tv_end FROM (SELECT tv_a.*, row_number() OVER (PARTITION BY "symbol", "ts_ns" ORDER BY tv_rank, "trade_count" DESC) AS tv_rn FROM ${src} AS tv_a) AS tv_d WHERE tv_rn = 1`;
    relations.push({ name: internal, sql: dedupe });
    relations.push({ name: publicRelationOf(dataset), sql: `SELECT ${cols} FROM ${internal}` });
  }
  return relations;
}

/** Output order of quotes: every column, so that equal timestamps still come out the same way in both engines. */
const QUOTE_ORDER = '"ts_ns", "symbol", "bid_price", "ask_price", "bid_size" NULLS LAST, "ask_size" NULLS LAST, "bid_exchange", "ask_exchange", "conditions", "tape"';

/** The final SELECT of a model query (not raw SQL), over the relations of compileRelations. */
export function compileSelect(dialect: SqlDialect, query: Exclude<Query, { kind: 'sql' }>): string {
  switch (query.kind) {
    case 'trades':
    case 'quotes':
    case 'bars': {
      const dataset = query.kind === 'bars' ? barsDataset(query.timeframe) : query.kind;
      // ts comes out as exact integer nanoseconds (ts_ns); the engines' timestamp types would round it (Athena: ms).
      const cols = columnsOf(dataset).map((c) => (c.name === 'ts' ? '"ts_ns" AS "ts"' : ident(c.name))).join(', ');
      const order = query.kind === 'trades' ? '"ts_ns", "symbol", "trade_id"' : query.kind === 'quotes' ? QUOTE_ORDER : '"ts_ns", "symbol"';
      return `SELECT ${cols} FROM ${publicRelationOf(dataset)} ORDER BY ${order}`;
    }
    case 'ohlcv':
    case 'vwap':
    case 'spread':
      return compileAggregate(dialect, query);
  }
}

/** The bucket of a row (its interval's start), or the range start when the query has no interval. */
function bucketExpr(dialect: SqlDialect, query: AggregateQuery): string {
  if (query.interval === undefined) return `CAST(${dialect.bigint(query.range.fromNs)} AS ${dialect.typeName('int64')})`;
  const ns = intervalNs(query.interval).toString();
  return `("ts_ns" - ("ts_ns" % ${ns}))`;
}

function compileAggregate(dialect: SqlDialect, query: AggregateQuery): string {
  const bucket = bucketExpr(dialect, query);
  const head = 'tv_b AS "ts", tv_b AS "ts_ns", "symbol"';
  const tail = 'GROUP BY tv_b, "symbol" ORDER BY tv_b, "symbol"';
  switch (query.kind) {
    case 'ohlcv':
      // Open and close are the first and last trade by (ts_ns, trade_id), so equal timestamps break ties the same way.
      return `SELECT ${head},
  ${dialect.firstBy('"price"', '"ts_ns", "trade_id"')} AS "open", max("price") AS "high", min("price") AS "low",
  ${dialect.lastBy('"price"', '"ts_ns", "trade_id"')} AS "close", sum("size") AS "volume", count(*) AS "trade_count",
  sum("price" * "size") / nullif(sum("size"), 0) AS "vwap"
FROM (SELECT "symbol", "ts_ns", "trade_id", "price", "size", ${bucket} AS tv_b FROM trades) AS tv_t
${tail}`;
    case 'vwap':
      return `SELECT ${head},
  sum("price" * "size") / nullif(sum("size"), 0) AS "vwap", sum("size") AS "volume", sum("price" * "size") AS "notional",
  count(*) AS "trade_count"
FROM (SELECT "symbol", "ts_ns", "price", "size", ${bucket} AS tv_b FROM trades) AS tv_t
${tail}`;
    case 'spread': {
      // With an interval the bucket expression holds no placeholder, so it may appear twice.
      const bucketEnd = query.interval === undefined ? 'tv_end' : `(${bucket} + ${intervalNs(query.interval).toString()})`;
      // A quote stands until the symbol's next quote of any kind, capped at its bucket's end and its segment's end.
      return `SELECT ${head},
  count(*) AS "quote_count", avg(tv_spread) AS "mean_spread", min(tv_spread) AS "min_spread", max(tv_spread) AS "max_spread",
  sum(tv_spread * tv_dt) / nullif(sum(tv_dt), 0) AS "tw_mean_spread", sum(tv_dt) / 1e9 AS "quoted_seconds"
FROM (
  SELECT "symbol", tv_b, ("ask_price" - "bid_price") AS tv_spread,
    CAST(least(coalesce(tv_next, tv_end), tv_bend, tv_end) - "ts_ns" AS DOUBLE) AS tv_dt
  FROM (
    SELECT "symbol", "ts_ns", "bid_price", "ask_price", tv_end, ${bucket} AS tv_b, ${bucketEnd} AS tv_bend,
      lead("ts_ns") OVER (PARTITION BY "symbol" ORDER BY ${QUOTE_ORDER}) AS tv_next
    FROM tv_quotes
  ) AS tv_l
  WHERE "bid_price" > 0 AND "ask_price" >= "bid_price"
) AS tv_s
${tail}`;
    }
  }
}
