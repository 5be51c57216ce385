/**
 * Saved Athena queries for the common analyses. Each reads one month of a cold table (the year/month partitions
 * keep the scan to that month) and takes its values as execution parameters (`?`, in the order listed), which the
 * console prompts for and StartQueryExecution takes as ExecutionParameters. Only columns of the Glue tables
 * appear here; test/cdk-named-queries.test.ts parses every query and checks each name against the catalog.
 */

export interface NamedQueryDefinition {
  /** Name shown in the Athena console (unique within the workgroup). */
  readonly name: string;
  readonly description: string;
  /** What each `?` stands for, in order of appearance. */
  readonly parameters: readonly string[];
  readonly sql: string;
}

export const NAMED_QUERIES: readonly NamedQueryDefinition[] = [
  {
    name: 'tickvault-daily-ohlcv',
    description: 'Daily open, high, low, close and volume of one symbol for one month, from cold trades.',
    parameters: ["symbol, e.g. 'AAPL'", "year, e.g. '2024'", "month, e.g. '07'"],
    sql: `SELECT symbol,
       date(ts) AS trading_day,
       min_by(price, ts_ns) AS open,
       max(price) AS high,
       min(price) AS low,
       max_by(price, ts_ns) AS close,
       sum(size) AS volume,
       count(*) AS trade_count
FROM cold_trades
WHERE symbol = ? AND year = ? AND month = ?
GROUP BY symbol, date(ts)
ORDER BY trading_day`,
  },
  {
    name: 'tickvault-vwap-by-symbol-and-day',
    description: 'Volume-weighted average price of every symbol on every day of one month, from cold trades.',
    parameters: ["year, e.g. '2024'", "month, e.g. '07'"],
    sql: `SELECT symbol,
       date(ts) AS trading_day,
       sum(price * size) / nullif(sum(size), 0) AS vwap,
       sum(size) AS volume,
       count(*) AS trade_count
FROM cold_trades
WHERE year = ? AND month = ?
GROUP BY symbol, date(ts)
ORDER BY symbol, trading_day`,
  },
  {
    name: 'tickvault-spread-statistics',
    description: 'Quoted spread per day of one symbol for one month, from cold quotes: mean, median, 95th percentile, in price and in basis points of the mid.',
    parameters: ["symbol, e.g. 'AAPL'", "year, e.g. '2024'", "month, e.g. '07'"],
    sql: `SELECT symbol,
       date(ts) AS trading_day,
       count(*) AS quote_count,
       avg(ask_price - bid_price) AS mean_spread,
       approx_percentile(ask_price - bid_price, 0.5) AS median_spread,
       approx_percentile(ask_price - bid_price, 0.95) AS p95_spread,
       avg((ask_price - bid_price) / ((ask_price + bid_price) / 2)) * 10000 AS mean_spread_bps
FROM cold_quotes
WHERE symbol = ? AND year = ? AND month = ?
  AND bid_price > 0 AND ask_price >= bid_price
GROUP BY symbol, date(ts)
ORDER BY trading_day`,
  },
  {
    name: 'tickvault-trades-in-time-range',
    description: 'Every trade of one symbol in a time range given as exact integer nanoseconds since the epoch '
      + '(ts_ns; ts shows only milliseconds in Athena), within one month, in event order.',
    parameters: ["symbol, e.g. 'AAPL'", "year, e.g. '2024'", "month, e.g. '07'", 'from, inclusive, ns since epoch', 'to, exclusive, ns since epoch'],
    sql: `SELECT ts_ns,
       ts,
       trade_id,
       price,
       size,
       exchange,
       conditions,
       tape
FROM cold_trades
WHERE symbol = ? AND year = ? AND month = ?
  AND ts_ns >= ? AND ts_ns < ?
ORDER BY ts_ns, trade_id`,
  },
];
