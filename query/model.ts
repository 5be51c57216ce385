/**
 * The query model: what an analyst can ask, as typed values that both compilers (DuckDB and Athena) take.
 *
 * Every query names one or more symbols and a half-open time range [from, to); times are UTC unless the ISO text
 * carries an offset. Values that come from outside (symbols, times, raw parameters) are validated here and only
 * ever reach an engine as bound parameters; intervals, timeframes and identifiers come from the closed maps below,
 * so nothing a user types is spliced into SQL text.
 */
import { DATASETS, type DatasetName, TIMEFRAMES, type Timeframe, columnsOf } from '../core/datasets.ts';
import { describeValue, symbolProblem } from '../core/symbols.ts';
import { type EpochNs, NS_PER_SECOND, TimeError, parseIsoInstantNs } from '../core/time.ts';
import { QueryInputError } from './errors.ts';
import { checkReadOnlySql } from './raw-sql.ts';

/** Bar and bucket intervals. Each divides a UTC day, so buckets (multiples of the interval since the epoch) align with midnight UTC. */
export const INTERVALS = {
  '1s': NS_PER_SECOND,
  '5s': 5n * NS_PER_SECOND,
  '10s': 10n * NS_PER_SECOND,
  '15s': 15n * NS_PER_SECOND,
  '30s': 30n * NS_PER_SECOND,
  '1m': 60n * NS_PER_SECOND,
  '5m': 300n * NS_PER_SECOND,
  '15m': 900n * NS_PER_SECOND,
  '30m': 1_800n * NS_PER_SECOND,
  '1h': 3_600n * NS_PER_SECOND,
  '4h': 14_400n * NS_PER_SECOND,
  '1d': 86_400n * NS_PER_SECOND,
} as const satisfies Record<string, bigint>;
export type Interval = keyof typeof INTERVALS;
export const INTERVAL_NAMES = Object.keys(INTERVALS) as Interval[];

/** Most symbols one query may name (each becomes a branch of the generated SQL). */
export const MAX_SYMBOLS = 100;

export const QUERY_KINDS = ['trades', 'quotes', 'bars', 'ohlcv', 'vwap', 'spread', 'sql'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

export const TIER_CHOICES = ['all', 'hot', 'warm', 'cold'] as const;
export type TierChoice = (typeof TIER_CHOICES)[number];

/** [fromNs, toNs): from included, to excluded. */
export interface TimeRange {
  readonly fromNs: EpochNs;
  readonly toNs: EpochNs;
}

interface QueryBase {
  readonly symbols: readonly string[];
  readonly range: TimeRange;
}

/** Trades as stored: one row per trade, deduplicated by (symbol, trade_id). */
export interface TradesQuery extends QueryBase { readonly kind: 'trades' }
/** Quotes as stored: one row per quote, deduplicated by the full row. */
export interface QuotesQuery extends QueryBase { readonly kind: 'quotes' }
/** The venue's own bars as the feed delivered them (bars_1m, bars_5m, bars_1d), deduplicated by (symbol, ts). */
export interface BarsQuery extends QueryBase { readonly kind: 'bars'; readonly timeframe: Timeframe }
/** OHLCV bars built from trades at any interval of INTERVALS. */
export interface OhlcvQuery extends QueryBase { readonly kind: 'ohlcv'; readonly interval: Interval }
/** Volume-weighted average price per bucket, or over the whole range when no interval is given. */
export interface VwapQuery extends QueryBase { readonly kind: 'vwap'; readonly interval?: Interval }
/** Quoted-spread statistics per bucket, or over the whole range when no interval is given. */
export interface SpreadQuery extends QueryBase { readonly kind: 'spread'; readonly interval?: Interval }
/**
 * A read-only SELECT or WITH statement over the relations `trades`, `quotes` and `bars` (stored bars of
 * `timeframe`), each holding exactly what the model would return for the symbols and range.
 */
export interface SqlQuery extends QueryBase {
  readonly kind: 'sql';
  readonly sql: string;
  readonly params: readonly RawParam[];
  readonly timeframe: Timeframe;
}

export type Query = TradesQuery | QuotesQuery | BarsQuery | OhlcvQuery | VwapQuery | SpreadQuery | SqlQuery;
export type AggregateQuery = OhlcvQuery | VwapQuery | SpreadQuery;

/** A value for a `?` placeholder of raw SQL, typed by its text: integer, decimal, or plain text. */
export type RawParam =
  | { readonly type: 'bigint'; readonly value: bigint }
  | { readonly type: 'double'; readonly value: number }
  | { readonly type: 'string'; readonly value: string };

/** What a result column holds: exact nanoseconds, the engine's own timestamp text, integers, doubles, text. */
export const VALUE_TYPES = ['timestamp_ns', 'timestamp', 'bigint', 'double', 'string'] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

export interface ResultColumn {
  readonly name: string;
  readonly type: ValueType;
}

export type ResultValue = string | number | bigint | null;
export type ResultRow = Record<string, ResultValue>;

// ---- Parsing values from outside -------------------------------------------------------------------------------

/** Validates a symbol list (each by the symbol rules), drops repeats, keeps order. */
export function parseSymbols(symbols: readonly string[], input = 'symbols'): string[] {
  if (symbols.length === 0) throw new QueryInputError(input, `${input}: no symbol given`);
  const out: string[] = [];
  for (const symbol of symbols) {
    const problem = symbolProblem(symbol);
    if (problem !== undefined) throw new QueryInputError(input, `${input}: invalid symbol ${describeValue(symbol)}: ${problem}`);
    if (!out.includes(symbol)) out.push(symbol);
  }
  if (out.length > MAX_SYMBOLS) throw new QueryInputError(input, `${input}: ${out.length} symbols, over the limit of ${MAX_SYMBOLS}`);
  return out;
}

function parseInstant(text: string | EpochNs, input: 'from' | 'to'): EpochNs {
  if (typeof text === 'bigint') return text;
  try {
    return parseIsoInstantNs(text);
  } catch (cause) {
    if (!(cause instanceof TimeError)) throw cause;
    throw new QueryInputError(input, `${input}: ${cause.message}`, { cause });
  }
}

/** [from, to) from ISO 8601 texts (UTC unless an offset is given) or exact nanoseconds. */
export function parseRange(from: string | EpochNs, to: string | EpochNs): TimeRange {
  const fromNs = parseInstant(from, 'from');
  const toNs = parseInstant(to, 'to');
  if (toNs <= fromNs) throw new QueryInputError('to', `to: empty time range: ${String(to)} is not after ${String(from)} (ranges are [from, to))`);
  if (fromNs < 0n) throw new QueryInputError('from', `from: ${String(from)} is before 1970`);
  return { fromNs, toNs };
}

export function parseInterval(text: string): Interval {
  if (!Object.hasOwn(INTERVALS, text)) {
    throw new QueryInputError('interval', `interval ${describeValue(text)}: expected one of ${INTERVAL_NAMES.join(', ')}`);
  }
  return text as Interval;
}

export function parseTimeframe(text: string): Timeframe {
  if (!(TIMEFRAMES as readonly string[]).includes(text)) {
    throw new QueryInputError('timeframe', `timeframe ${describeValue(text)}: expected one of ${TIMEFRAMES.join(', ')}`);
  }
  return text as Timeframe;
}

export function parseTier(text: string): TierChoice {
  if (!(TIER_CHOICES as readonly string[]).includes(text)) {
    throw new QueryInputError('tier', `tier ${describeValue(text)}: expected one of ${TIER_CHOICES.join(', ')}`);
  }
  return text as TierChoice;
}

const MAX_PARAM_LENGTH = 256;

/**
 * A raw-SQL parameter: an integer (64-bit), a decimal number, or text. Text may not hold quotes, backslashes,
 * semicolons or control characters: Athena takes execution parameters as literal SQL text, and although they are
 * always rendered as one quoted literal, a value that needs escaping is refused rather than trusted to it.
 */
export function parseRawParam(text: string, index: number): RawParam {
  const input = `param ${index + 1}`;
  if (/^-?\d{1,19}$/.test(text)) {
    const value = BigInt(text);
    if (value >= -(2n ** 63n) && value < 2n ** 63n) return { type: 'bigint', value };
  }
  if (/^-?\d+\.\d+(e[+-]?\d+)?$/i.test(text) && Number.isFinite(Number(text))) return { type: 'double', value: Number(text) };
  const problem =
    text.length > MAX_PARAM_LENGTH ? `${text.length} characters, over the ${MAX_PARAM_LENGTH}-character limit`
    // eslint-disable-next-line no-control-regex
    : /[\u0000-\u001f\u007f]/.test(text) ? 'contains a control character'
    : /['"\\;]/.test(text) ? "contains a quote, backslash or ';' (not allowed in parameters)"
    : undefined;
  if (problem !== undefined) throw new QueryInputError(input, `${input} ${describeValue(text)}: ${problem}`);
  return { type: 'string', value: text };
}

// ---- Building queries ------------------------------------------------------------------------------------------

/** A query as given from outside; defineQuery validates it into a Query. */
export interface QuerySpec {
  readonly kind: QueryKind;
  readonly symbols: readonly string[];
  readonly from: string | EpochNs;
  readonly to: string | EpochNs;
  readonly interval?: string;
  readonly timeframe?: string;
  readonly sql?: string;
  readonly params?: readonly string[];
}

/** Validates a spec into a Query, naming the first bad input. */
export function defineQuery(spec: QuerySpec): Query {
  if (!(QUERY_KINDS as readonly string[]).includes(spec.kind)) {
    throw new QueryInputError('kind', `query kind ${describeValue(spec.kind)}: expected one of ${QUERY_KINDS.join(', ')}`);
  }
  const base = { symbols: parseSymbols(spec.symbols), range: parseRange(spec.from, spec.to) };
  const interval = spec.interval === undefined ? undefined : parseInterval(spec.interval);
  const noInterval = (): void => {
    if (interval !== undefined) throw new QueryInputError('interval', `interval: ${spec.kind} queries take no interval`);
  };
  const noSql = (): void => {
    if (spec.sql !== undefined || (spec.params ?? []).length > 0) throw new QueryInputError('sql', `sql: only sql queries take SQL text and parameters`);
  };
  if (spec.kind !== 'sql') noSql();
  switch (spec.kind) {
    case 'trades':
    case 'quotes':
      noInterval();
      return { kind: spec.kind, ...base };
    case 'bars':
      noInterval();
      return { kind: 'bars', ...base, timeframe: parseTimeframe(spec.timeframe ?? '1m') };
    case 'ohlcv':
      if (interval === undefined) throw new QueryInputError('interval', `interval: OHLCV bars need one of ${INTERVAL_NAMES.join(', ')}`);
      return { kind: 'ohlcv', ...base, interval };
    case 'vwap':
    case 'spread':
      return interval === undefined ? { kind: spec.kind, ...base } : { kind: spec.kind, ...base, interval };
    case 'sql': {
      noInterval();
      if (spec.sql === undefined) throw new QueryInputError('sql', 'sql: no SQL text given');
      checkReadOnlySql(spec.sql);
      return {
        kind: 'sql', ...base, sql: spec.sql,
        params: (spec.params ?? []).map(parseRawParam),
        timeframe: parseTimeframe(spec.timeframe ?? '1m'),
      };
    }
  }
}

// ---- What a query reads and returns ---------------------------------------------------------------------------

/** The stored dataset a query's relation `bars` reads. */
export function barsDataset(timeframe: Timeframe): DatasetName {
  return `bars_${timeframe}`;
}

/** The datasets a query reads. */
export function datasetsOf(query: Query): DatasetName[] {
  switch (query.kind) {
    case 'trades': case 'ohlcv': case 'vwap': return ['trades'];
    case 'quotes': case 'spread': return ['quotes'];
    case 'bars': return [barsDataset(query.timeframe)];
    case 'sql': return ['trades', 'quotes', barsDataset(query.timeframe)];
  }
}

const VALUE_TYPE_OF_COLUMN = { timestamp_ns: 'timestamp_ns', int64: 'bigint', float64: 'double', string: 'string' } as const;

/** A dataset's columns as result columns. */
export function datasetResultColumns(dataset: DatasetName): ResultColumn[] {
  return columnsOf(dataset).map((c) => ({ name: c.name, type: VALUE_TYPE_OF_COLUMN[c.type] }));
}

const col = (name: string, type: ValueType): ResultColumn => ({ name, type });
const BUCKET = [col('ts', 'timestamp_ns'), col('ts_ns', 'bigint'), col('symbol', 'string')];

/** Columns of a VWAP result: `ts` is the bucket start (the range start when there is no interval). */
export const VWAP_COLUMNS: readonly ResultColumn[] = [
  ...BUCKET, col('vwap', 'double'), col('volume', 'double'), col('notional', 'double'), col('trade_count', 'bigint'),
];

/**
 * Columns of a spread result. Only two-sided, uncrossed quotes count (bid > 0, ask >= bid). The time-weighted mean
 * weighs each quote's spread by how long it stood: until the symbol's next quote (of any kind), capped at the end
 * of its bucket and of the range; time before a bucket's first quote is not counted. quoted_seconds is that total.
 */
export const SPREAD_COLUMNS: readonly ResultColumn[] = [
  ...BUCKET, col('quote_count', 'bigint'), col('mean_spread', 'double'), col('min_spread', 'double'), col('max_spread', 'double'),
  col('tw_mean_spread', 'double'), col('quoted_seconds', 'double'),
];

/** The result columns of a query; undefined for raw SQL, whose columns the engine reports. */
export function resultColumns(query: Query): readonly ResultColumn[] | undefined {
  switch (query.kind) {
    case 'trades': return datasetResultColumns('trades');
    case 'quotes': return datasetResultColumns('quotes');
    case 'bars': return datasetResultColumns(barsDataset(query.timeframe));
    case 'ohlcv': return datasetResultColumns('bars_1m');
    case 'vwap': return VWAP_COLUMNS;
    case 'spread': return SPREAD_COLUMNS;
    case 'sql': return undefined;
  }
}

/** The interval's length in nanoseconds. */
export function intervalNs(interval: Interval): bigint {
  return INTERVALS[interval];
}

/** Whether the dataset is a stored-bars dataset. */
export function isBarsDataset(dataset: DatasetName): boolean {
  return 'timeframe' in DATASETS[dataset];
}

// ---- Results ---------------------------------------------------------------------------------------------------

/** A stored file a query read, and how. */
export interface SourceFile {
  readonly tier: 'cold' | 'warm';
  /** The store key, or for the agent's local warm files their path. */
  readonly location: string;
  readonly origin: 'store' | 'warm-dir';
  /** in-place: a local file opened where it lies; downloaded: an S3 object copied to scratch; athena: read by Athena. */
  readonly access: 'in-place' | 'downloaded' | 'athena';
}

export interface AthenaStats {
  readonly queryExecutionId: string;
  readonly dataScannedBytes: number;
  readonly estimatedCostUsd: number;
  readonly engineExecutionMs: number | undefined;
}

export interface QueryStats {
  readonly engine: 'duckdb' | 'athena';
  readonly files: readonly SourceFile[];
  /** Rows taken from the hot tier (after cutting them to the range). */
  readonly hotRows: number;
  readonly athena?: AthenaStats;
}

export interface QueryResult {
  readonly columns: readonly ResultColumn[];
  readonly rows: ResultRow[];
  readonly stats: QueryStats;
}
