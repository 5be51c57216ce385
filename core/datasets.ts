/**
 * One definition per dataset. The Parquet schema, the Glue/Athena columns, the DuckDB columns and the TypeScript
 * row type are all derived from the column lists here (see parquet-schema.ts and catalog-columns.ts).
 */
import type { ColumnDefinition, ColumnType, ColumnValueTypes } from './column-types.ts';

/** Bumped whenever a dataset's columns change; written into every Parquet file and manifest. */
export const SCHEMA_VERSION = 1;

const col = <const N extends string, const T extends ColumnType, const Nullable extends boolean = false>(
  name: N,
  type: T,
  comment: string,
  nullable?: Nullable,
) => ({ name, type, nullable: (nullable ?? false) as Nullable, comment });

/** Every dataset starts with the event time twice: as a timestamp for people, as exact integer nanoseconds for Athena. */
const eventTime = [
  col('ts', 'timestamp_ns', 'event time, UTC (Athena shows milliseconds; use ts_ns for exact nanoseconds)'),
  col('ts_ns', 'int64', 'event time as integer nanoseconds since the Unix epoch, exact in every engine'),
  col('symbol', 'string', 'instrument symbol as the venue spells it, e.g. AAPL or BTC/USD'),
] as const;

const tradeColumns = [
  ...eventTime,
  col('trade_id', 'int64', 'venue trade id; (symbol, trade_id) identifies a trade'),
  col('price', 'float64', 'trade price'),
  col('size', 'float64', 'trade size (fractional for crypto)'),
  col('exchange', 'string', 'exchange code'),
  col('conditions', 'string', 'condition codes, comma-separated; empty when none'),
  col('tape', 'string', 'tape (A, B, C for US stocks); empty when none'),
] as const;

const quoteColumns = [
  ...eventTime,
  col('bid_price', 'float64', 'best bid price'),
  col('bid_size', 'float64', 'best bid size; null when the feed omits sizes', true),
  col('ask_price', 'float64', 'best ask price'),
  col('ask_size', 'float64', 'best ask size; null when the feed omits sizes', true),
  col('bid_exchange', 'string', 'bid exchange code'),
  col('ask_exchange', 'string', 'ask exchange code'),
  col('conditions', 'string', 'condition codes, comma-separated; empty when none'),
  col('tape', 'string', 'tape; empty when none'),
] as const;

const barColumns = [
  ...eventTime,
  col('open', 'float64', 'first trade price in the bar'),
  col('high', 'float64', 'highest trade price in the bar'),
  col('low', 'float64', 'lowest trade price in the bar'),
  col('close', 'float64', 'last trade price in the bar'),
  col('volume', 'float64', 'traded volume in the bar'),
  col('trade_count', 'int64', 'number of trades in the bar'),
  col('vwap', 'float64', 'volume-weighted average price of the bar'),
] as const;

/**
 * Trade corrections (Alpaca T:"c") and cancels/errors (T:"x"), kept as events because compaction must apply them to
 * the trades they name. For a cancel or error, trade_id/price/size describe the trade removed; for a correction they
 * describe the original trade and corrected_* the replacement.
 */
const tradeEventColumns = [
  ...eventTime,
  col('action', 'string', "'cancel', 'error' or 'correction'"),
  col('trade_id', 'int64', 'id of the trade cancelled, or of the original trade corrected'),
  col('price', 'float64', 'price of that trade'),
  col('size', 'float64', 'size of that trade'),
  col('exchange', 'string', 'exchange code'),
  col('conditions', 'string', 'condition codes of that trade, comma-separated'),
  col('corrected_trade_id', 'int64', 'id of the corrected trade; null unless action is correction', true),
  col('corrected_price', 'float64', 'corrected price; null unless action is correction', true),
  col('corrected_size', 'float64', 'corrected size; null unless action is correction', true),
  col('corrected_conditions', 'string', 'corrected condition codes; empty unless action is correction'),
  col('tape', 'string', 'tape; empty when none'),
] as const;

export const TIMEFRAMES = ['1m', '5m', '1d'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

export const DATASETS = {
  trades: {
    name: 'trades',
    columns: tradeColumns,
    /** Columns that identify one event: duplicates share these. */
    identity: ['symbol', 'trade_id'],
    sortKey: ['ts', 'trade_id'],
  },
  trade_events: {
    name: 'trade_events',
    columns: tradeEventColumns,
    identity: tradeEventColumns.map((c) => c.name),
    sortKey: ['ts'],
  },
  quotes: {
    name: 'quotes',
    columns: quoteColumns,
    // Quotes carry no id: a duplicate is the same full row.
    identity: quoteColumns.map((c) => c.name),
    sortKey: ['ts'],
  },
  bars_1m: { name: 'bars_1m', columns: barColumns, identity: ['symbol', 'ts'], sortKey: ['ts'], timeframe: '1m' },
  bars_5m: { name: 'bars_5m', columns: barColumns, identity: ['symbol', 'ts'], sortKey: ['ts'], timeframe: '5m' },
  bars_1d: { name: 'bars_1d', columns: barColumns, identity: ['symbol', 'ts'], sortKey: ['ts'], timeframe: '1d' },
} as const;

export type DatasetName = keyof typeof DATASETS;
export type Dataset = (typeof DATASETS)[DatasetName];
export const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

type ColumnsOf<D extends DatasetName> = (typeof DATASETS)[D]['columns'][number];

/** The TypeScript row type of a dataset, keyed by column name. */
export type RowOf<D extends DatasetName> = {
  [C in ColumnsOf<D> as C['name']]: C['nullable'] extends true
    ? ColumnValueTypes[C['type']] | null
    : ColumnValueTypes[C['type']];
};

export type TradeRow = RowOf<'trades'>;
export type QuoteRow = RowOf<'quotes'>;
export type BarRow = RowOf<'bars_1m'>;
export type TradeEventRow = RowOf<'trade_events'>;

export function isDatasetName(value: string): value is DatasetName {
  return Object.hasOwn(DATASETS, value);
}

export function columnsOf(dataset: DatasetName): readonly ColumnDefinition[] {
  return DATASETS[dataset].columns;
}

/** Parses a dataset name from outside (CLI, event), naming the bad value and the choices. */
export function parseDatasetName(value: string): DatasetName {
  if (!isDatasetName(value)) {
    throw new DatasetError(`unknown dataset '${value}': expected one of ${DATASET_NAMES.join(', ')}`);
  }
  return value;
}

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}
