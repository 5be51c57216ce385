/**
 * Merging two results of the same query over disjoint time segments of each symbol: the stored tiers' (earlier)
 * and the hot tier's (later). Athena cannot see the agent's memory, so on Athena the hot segment is computed by the
 * embedded engine and merged here; on DuckDB everything runs in one statement and nothing is merged.
 *
 *   trades   one row per (symbol, trade_id), the stored copy first; ordered by (ts_ns, symbol, trade_id)
 *   quotes   one row per full row; ordered by ts_ns, symbol, then every other column
 *   bars, OHLCV, VWAP, spread   one row per (symbol, ts): where both segments hold part of a bucket, the parts are
 *            combined exactly (open of the earlier, close of the later, sums added, means weighted by their counts)
 */
import { QueryError } from './errors.ts';
import type { Query, QueryResult, ResultRow, ResultValue } from './model.ts';

function compareValues(a: ResultValue | undefined, b: ResultValue | undefined): number {
  if (a === b) return 0;
  // NULLS LAST, as both engines sort by default.
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : 1;
  if (typeof a === 'string' || typeof b === 'string') return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  return Number(a) < Number(b) ? -1 : Number(a) > Number(b) ? 1 : 0;
}

function comparer(columns: readonly string[]): (a: ResultRow, b: ResultRow) => number {
  return (a, b) => {
    for (const c of columns) {
      const d = compareValues(a[c], b[c]);
      if (d !== 0) return d;
    }
    return 0;
  };
}

const keyOf = (row: ResultRow, columns: readonly string[]): string => columns.map((c) => String(row[c])).join('\u0000');

const QUOTE_ORDER = ['ts_ns', 'symbol', 'bid_price', 'ask_price', 'bid_size', 'ask_size', 'bid_exchange', 'ask_exchange', 'conditions', 'tape'];

/** Merges the earlier (stored) and later (hot) results of one query. */
export function mergeResults(query: Query, earlier: QueryResult, later: QueryResult): QueryResult {
  const stats = { ...earlier.stats, hotRows: earlier.stats.hotRows + later.stats.hotRows };
  const columns = earlier.columns;
  const all = [...earlier.rows, ...later.rows];
  switch (query.kind) {
    case 'trades':
    case 'quotes': {
      const identity = query.kind === 'trades' ? ['symbol', 'trade_id'] : columns.map((c) => c.name);
      const seen = new Set<string>();
      const rows = all.filter((r) => {
        const key = keyOf(r, identity);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      rows.sort(comparer(query.kind === 'trades' ? ['ts_ns', 'symbol', 'trade_id'] : QUOTE_ORDER));
      return { columns, rows, stats };
    }
    case 'bars':
    case 'ohlcv':
    case 'vwap':
    case 'spread': {
      const byKey = new Map<string, ResultRow>();
      for (const row of all) {
        const key = keyOf(row, ['symbol', 'ts_ns']);
        const before = byKey.get(key);
        byKey.set(key, before === undefined ? row : combine(query, before, row));
      }
      return { columns, rows: [...byKey.values()].sort(comparer(['ts_ns', 'symbol'])), stats };
    }
    case 'sql':
      throw new QueryError('raw SQL results cannot be merged across tiers');
  }
}

const num = (v: ResultValue | undefined): number => (v === null || v === undefined ? 0 : Number(v));
const count = (v: ResultValue | undefined): bigint => (v === null || v === undefined ? 0n : BigInt(v as bigint));

/** Weighted mean of two means; null when neither has weight. */
function weighted(a: ResultValue | undefined, wa: number, b: ResultValue | undefined, wb: number): number | null {
  const w = (a === null ? 0 : wa) + (b === null ? 0 : wb);
  if (w === 0) return null;
  return ((a === null ? 0 : num(a) * wa) + (b === null ? 0 : num(b) * wb)) / w;
}

function minOf(a: ResultValue | undefined, b: ResultValue | undefined): ResultValue {
  if (a === null || a === undefined) return b ?? null;
  if (b === null || b === undefined) return a;
  return num(a) <= num(b) ? a : b;
}

function maxOf(a: ResultValue | undefined, b: ResultValue | undefined): ResultValue {
  if (a === null || a === undefined) return b ?? null;
  if (b === null || b === undefined) return a;
  return num(a) >= num(b) ? a : b;
}

/** Two parts of one bucket, `a` from the earlier segment, into one. */
function combine(query: Query, a: ResultRow, b: ResultRow): ResultRow {
  switch (query.kind) {
    case 'bars':
      return a; // stored bars have no hot part; the earlier (cold before warm) copy stands
    case 'ohlcv': {
      const volume = num(a['volume']) + num(b['volume']);
      return {
        ...a,
        open: a['open'] ?? b['open'] ?? null, high: maxOf(a['high'], b['high']), low: minOf(a['low'], b['low']),
        close: b['close'] ?? a['close'] ?? null, volume, trade_count: count(a['trade_count']) + count(b['trade_count']),
        vwap: volume === 0 ? null : (num(a['vwap']) * num(a['volume']) + num(b['vwap']) * num(b['volume'])) / volume,
      };
    }
    case 'vwap': {
      const volume = num(a['volume']) + num(b['volume']);
      const notional = num(a['notional']) + num(b['notional']);
      return { ...a, vwap: volume === 0 ? null : notional / volume, volume, notional, trade_count: count(a['trade_count']) + count(b['trade_count']) };
    }
    case 'spread': {
      const na = Number(count(a['quote_count']));
      const nb = Number(count(b['quote_count']));
      const sa = num(a['quoted_seconds']);
      const sb = num(b['quoted_seconds']);
      return {
        ...a,
        quote_count: count(a['quote_count']) + count(b['quote_count']),
        mean_spread: weighted(a['mean_spread'] ?? null, na, b['mean_spread'] ?? null, nb),
        min_spread: minOf(a['min_spread'], b['min_spread']), max_spread: maxOf(a['max_spread'], b['max_spread']),
        tw_mean_spread: weighted(a['tw_mean_spread'] ?? null, sa, b['tw_mean_spread'] ?? null, sb),
        quoted_seconds: sa + sb,
      };
    }
    default:
      throw new QueryError(`${query.kind} results cannot be combined`);
  }
}
