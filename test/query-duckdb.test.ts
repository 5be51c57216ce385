/**
 * Every query of the model on the embedded engine (DuckDB), checked against independent SQL, or independent
 * arithmetic, over the same Parquet files: warm objects from two agents (duplicates), the agent's local warm files,
 * a compacted cold month beside raw warm copies of it, and the side files (manifests, plans, temp files) that must
 * never be read. Also: exactly the partitions a range touches are opened, in place for a local store and by
 * download otherwise; and raw SQL sees exactly the range's data and nothing else on the machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { QueryCancelledError, QueryInputError, QueryTimeoutError } from '../query/errors.ts';
import { type Query, type QuerySpec, type ResultRow, defineQuery } from '../query/model.ts';
import { runQuery } from '../query/tier-router.ts';
import {
  type CountingStore, NS_PER_MINUTE, type PutPart, countingStore, dayNs, genBars, genQuotes, genTrades, isoNs, onDay, putCold, putWarmDay, expectSpreadRow, spreadStats, writeWarmDirFile,
} from './query-fixtures.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';

const root = mkdtempSync(join(tmpdir(), 'tv-query-duckdb-'));
const storeDir = join(root, 'store');
const warmDir = join(root, 'warm');
const store = new LocalDirectoryStore(storeDir);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The data of each symbol: June 28-30 and July 1-3 2024, one trade every 2 minutes, one quote every minute. */
const trades = {
  AAPL: genTrades('AAPL', dayNs('2024-06-28'), dayNs('2024-07-04'), 2n * NS_PER_MINUTE, 1_000_000n, 1),
  MSFT: genTrades('MSFT', dayNs('2024-06-30'), dayNs('2024-07-04'), 2n * NS_PER_MINUTE, 5_000_000n, 2),
  'BTC/USD': genTrades('BTC/USD', dayNs('2024-07-02'), dayNs('2024-07-04'), 2n * NS_PER_MINUTE, 9_000_000n, 3),
};
const quotes = {
  AAPL: genQuotes('AAPL', dayNs('2024-06-29'), dayNs('2024-07-03'), NS_PER_MINUTE, 4),
  MSFT: genQuotes('MSFT', dayNs('2024-07-01'), dayNs('2024-07-03'), NS_PER_MINUTE, 5),
};
const bars = genBars('AAPL', dayNs('2024-07-01'), dayNs('2024-07-03'), 6);
/** A trade only the raw warm copy of compacted June holds (compaction cancelled it): it must never come back. */
const cancelled: TradeRow = { ...(trades.AAPL[1100] as TradeRow), trade_id: 42n, price: 999.99 };
/** Trades only the agent's local warm directory holds (sealed, not yet uploaded). */
const localOnly = genTrades('BTC/USD', isoNs('2024-07-03T20:00:00Z'), isoNs('2024-07-03T21:00:00Z'), 7n * NS_PER_MINUTE, 9_900_000n, 7);

/** The warm parts put per symbol, with the time bounds of their rows. */
const partsOf = { AAPL: new Map<string, PutPart[]>() };
const unlisted: PutPart[] = [];

const coldTradesFile = join(storeDir, 'cold', 'trades', 'year=2024', 'month=06', 'AAPL.parquet');
const coldQuotesFile = join(storeDir, 'cold', 'quotes', 'year=2024', 'month=06', 'AAPL.parquet');

beforeAll(async () => {
  // AAPL June is compacted (cold); its raw warm copies stay in the store, with a trade compaction removed.
  await putCold(store, 'trades', '2024-06', trades.AAPL.filter((t) => t.ts_ns < dayNs('2024-07-01')));
  for (const date of ['2024-06-28', '2024-06-29', '2024-06-30']) await putWarmDay(store, 'trades', [...onDay(trades.AAPL, date), ...onDay([cancelled], date)]);
  await putCold(store, 'quotes', '2024-06', quotes.AAPL.filter((q) => q.ts_ns < dayNs('2024-07-01')));
  for (const date of ['2024-06-29', '2024-06-30']) await putWarmDay(store, 'quotes', onDay(quotes.AAPL, date));
  for (const date of ['2024-07-01', '2024-07-02', '2024-07-03']) {
    // Several parts per day, as the agent seals them; July 2 also uploaded by a second agent (duplicates).
    const parts = await putWarmDay(store, 'trades', onDay(trades.AAPL, date), { partRows: 250 });
    if (date === '2024-07-02') parts.push(...await putWarmDay(store, 'trades', onDay(trades.AAPL, date), { agentId: 'edge-2', partRows: 400 }));
    partsOf.AAPL.set(date, parts);
    // A third agent's copy of the day's last trades that no manifest lists yet: it must be opened whatever the range.
    if (date === '2024-07-02') unlisted.push(...await putWarmDay(store, 'trades', onDay(trades.AAPL, date).slice(-50), { agentId: 'edge-3', unlisted: true }));
  }
  // MSFT has no cold file: its June day is answered by warm.
  for (const date of ['2024-06-30', '2024-07-01', '2024-07-02', '2024-07-03']) await putWarmDay(store, 'trades', onDay(trades.MSFT, date), { partRows: 300 });
  for (const date of ['2024-07-02', '2024-07-03']) await putWarmDay(store, 'trades', onDay(trades['BTC/USD'], date));
  // The agent's local warm directory: a copy of an uploaded file, and a file not uploaded yet.
  writeWarmDirFile(warmDir, 'trades', onDay(trades['BTC/USD'], '2024-07-03'), 0);
  writeWarmDirFile(warmDir, 'trades', localOnly, 1);
  for (const date of ['2024-07-01', '2024-07-02']) {
    await putWarmDay(store, 'quotes', onDay(quotes.AAPL, date), { partRows: 500 });
    await putWarmDay(store, 'quotes', onDay(quotes.MSFT, date), { partRows: 700 });
    await putWarmDay(store, 'bars_1m', onDay(bars, date));
    // Another agent's copy of the bars with lower trade counts: the fuller bar must win.
    await putWarmDay(store, 'bars_1m', onDay(bars, date).map((b) => ({ ...b, trade_count: b.trade_count - 1n, volume: b.volume - 1 })), { agentId: 'edge-2' });
  }
});

const run = (spec: Omit<QuerySpec, 'from' | 'to'> & { from?: string; to?: string }, options: { store?: LocalDirectoryStore | CountingStore } = {}) =>
  runQuery(defineQuery({ from: '2024-06-29T12:00:00Z', to: '2024-07-03T21:30:00Z', ...spec }), { store: options.store ?? store, warmDir });

const warmGlob = (dataset: string, pattern: string): string => sqlPath(join(storeDir, 'warm', dataset, pattern, '*.parquet'));

/** Independent: the deduplicated trades of the range, straight from the files (cold June for AAPL, warm otherwise). */
function expectedTradesSql(symbols: string[], from: string, to: string): string {
  const sources = [
    `SELECT * FROM read_parquet(${sqlPath(coldTradesFile)}, hive_partitioning = false)`,
    `SELECT * FROM read_parquet(${warmGlob('trades', 'date=2024-07-*/symbol=*')}, hive_partitioning = false)`,
    `SELECT * FROM read_parquet(${warmGlob('trades', 'date=2024-06-*/symbol=MSFT')}, hive_partitioning = false)`,
    `SELECT * FROM read_parquet(${sqlPath(join(warmDir, 'trades', '*', '*', 'part-*.parquet'))}, hive_partitioning = false)`,
  ];
  return `SELECT DISTINCT ts_ns, symbol, trade_id, price, size, exchange, conditions, tape FROM (${sources.join(' UNION ALL ')})
    WHERE symbol IN (${symbols.map((s) => `'${s}'`).join(', ')}) AND ts >= TIMESTAMP_NS '${from}' AND ts < TIMESTAMP_NS '${to}'`;
}

const byKey = (rows: readonly Record<string, unknown>[], ...cols: string[]) =>
  [...rows].sort((a, b) => {
    for (const c of cols) {
      const x = a[c] as bigint | string;
      const y = b[c] as bigint | string;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  });

describe('trades', () => {
  it('returns each trade of the range once, across parts, agents, cold and local files, in (ts, symbol, id) order', async () => {
    const result = await run({ kind: 'trades', symbols: ['AAPL', 'MSFT', 'BTC/USD'] });
    const expected = await duckdbRows(expectedTradesSql(['AAPL', 'MSFT', 'BTC/USD'], '2024-06-29 12:00:00', '2024-07-03 21:30:00'));
    expect(result.rows.length).toBe(expected.length);
    expect(result.rows.map(({ ts: _ts, ...rest }) => rest)).toEqual(byKey(expected, 'ts_ns', 'symbol', 'trade_id'));
    expect(result.rows.every((r) => r['ts'] === r['ts_ns'])).toBe(true);
    expect(result.rows.some((r) => r['trade_id'] === 42n)).toBe(false); // cancelled in cold June
    expect(result.rows.filter((r) => r['trade_id'] === localOnly[0]?.trade_id)).toHaveLength(1); // only in the warm dir
    expect(new Set(result.rows.map((r) => `${String(r['symbol'])}/${String(r['trade_id'])}`)).size).toBe(result.rows.length);
  });

  it('keeps the range half-open and honours ISO offsets', async () => {
    const first = trades.AAPL.find((t) => t.ts_ns >= dayNs('2024-07-01')) as TradeRow;
    // 02:00+02:00 is midnight UTC; a time without an offset is UTC.
    const offset = (await run({ kind: 'trades', symbols: ['AAPL'], from: '2024-07-01T02:00:00+02:00', to: '2024-07-01T01:00:00' })).rows;
    const utc = (await run({ kind: 'trades', symbols: ['AAPL'], from: '2024-07-01T00:00:00Z', to: '2024-07-01T01:00:00Z' })).rows;
    expect(offset).toEqual(utc);
    expect(utc.length).toBe(30);
    const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString().replace('Z', `${(ns % 1_000_000n).toString().padStart(6, '0')}Z`);
    const from = (await run({ kind: 'trades', symbols: ['AAPL'], from: iso(first.ts_ns), to: iso(first.ts_ns + 1n) })).rows;
    expect(from.map((r) => r['trade_id'])).toEqual([first.trade_id]);
    const to = (await run({ kind: 'trades', symbols: ['AAPL'], from: iso(first.ts_ns - 1n), to: iso(first.ts_ns) })).rows;
    expect(to).toEqual([]);
  });
});

describe('partitions opened', () => {
  const keysOf = async (...prefixes: string[]): Promise<string[]> => {
    const keys: string[] = [];
    for (const prefix of prefixes) for await (const info of store.list(prefix)) if (info.key.endsWith('.parquet')) keys.push(info.key);
    return keys.sort();
  };

  it('opens every warm object of the days a range touches and no other, in place, for a local store', async () => {
    const counting = countingStore(store, true);
    const result = await run({ kind: 'trades', symbols: ['AAPL'], from: '2024-07-01T00:00:00Z', to: '2024-07-03T00:00:00Z' }, { store: counting });
    const expected = await keysOf('warm/trades/date=2024-07-01/symbol=AAPL/', 'warm/trades/date=2024-07-02/symbol=AAPL/');
    expect(counting.opened()).toEqual(expected);
    expect(counting.gets.filter((k) => k.endsWith('.parquet'))).toEqual([]); // nothing copied
    expect(result.stats.files.every((f) => f.access === 'in-place')).toBe(true);
    expect(expected.some((k) => k.includes('edge-2'))).toBe(true);
    expect(expected.length).toBe(Math.ceil(720 / 250) * 2 + Math.ceil(720 / 400) + 1);
  });

  it('in the first and last day, skips the parts the day manifests place outside the range', async () => {
    const counting = countingStore(store, true);
    const from = isoNs('2024-07-01T12:00:00Z');
    const to = isoNs('2024-07-02T00:10:00Z');
    const result = await run({ kind: 'trades', symbols: ['AAPL'], from: '2024-07-01T12:00:00Z', to: '2024-07-02T00:10:00Z' }, { store: counting });
    // Independently: the parts whose rows reach into the range, from the rows each part was written with.
    const expected = [...[...partsOf.AAPL.values()].flat().filter((p) => p.maxTsNs >= from && p.minTsNs < to), ...unlisted].map((p) => p.key).sort();
    expect(unlisted[0]?.minTsNs).toBeGreaterThan(to); // outside the range, but no manifest says so
    expect(counting.opened()).toEqual(expected);
    expect(expected.length).toBeLessThan((await keysOf('warm/trades/date=2024-07-01/symbol=AAPL/', 'warm/trades/date=2024-07-02/symbol=AAPL/')).length);
    expect(result.rows.length).toBe(trades.AAPL.filter((t) => t.ts_ns >= from && t.ts_ns < to).length);
  });

  it('opens the cold file of a compacted month instead of its warm objects, and the warm days of the next month', async () => {
    const counting = countingStore(store, true);
    await run({ kind: 'trades', symbols: ['AAPL'], from: '2024-06-30T00:00:00Z', to: '2024-07-02T00:00:00Z' }, { store: counting });
    expect(counting.opened()).toEqual(['cold/trades/year=2024/month=06/AAPL.parquet', ...await keysOf('warm/trades/date=2024-07-01/symbol=AAPL/')].sort());
  });

  it('downloads exactly those objects from a store that is not local, with the same answer', async () => {
    const local = countingStore(store, true);
    const remote = countingStore(store, false);
    const spec = { kind: 'trades' as const, symbols: ['AAPL', 'MSFT'], from: '2024-06-29T18:00:00Z', to: '2024-07-02T06:00:00Z' };
    const a = await run(spec, { store: local });
    const b = await run(spec, { store: remote });
    expect(b.rows).toEqual(a.rows);
    expect(remote.opened()).toEqual(local.opened());
    expect(remote.gets.filter((k) => k.endsWith('.parquet')).length).toBe(local.opened().length);
    expect(remote.localPaths).toEqual([]);
    expect(b.stats.files.filter((f) => f.origin === 'store').every((f) => f.access === 'downloaded')).toBe(true);
    expect(local.opened().some((k) => k.includes('date=2024-06-30/symbol=MSFT'))).toBe(true);
    expect(local.opened().some((k) => k.includes('date=2024-06') && k.includes('symbol=AAPL'))).toBe(false);
  });

  it('reads the agent\'s local warm files in place and skips its temp files', async () => {
    const result = await run({ kind: 'trades', symbols: ['BTC/USD'], from: '2024-07-03T00:00:00Z', to: '2024-07-04T00:00:00Z' });
    const local = result.stats.files.filter((f) => f.origin === 'warm-dir');
    expect(local.map((f) => f.location.slice(warmDir.length))).toEqual([
      '/trades/date=2024-07-03/symbol=BTC%2FUSD/part-00000.parquet', '/trades/date=2024-07-03/symbol=BTC%2FUSD/part-00001.parquet',
    ]);
    expect(result.rows.length).toBe(onDay(trades['BTC/USD'], '2024-07-03').length + localOnly.length);
  });
});

describe('bars from trades (OHLCV)', () => {
  for (const [interval, bucket] of [['1m', '1 minute'], ['5m', '5 minutes'], ['1h', '1 hour'], ['1d', '1 day']] as const) {
    it(`matches independent SQL at ${interval}`, async () => {
      const result = await run({ kind: 'ohlcv', symbols: ['AAPL', 'MSFT'], interval });
      const expected = await duckdbRows(`WITH t AS (${expectedTradesSql(['AAPL', 'MSFT'], '2024-06-29 12:00:00', '2024-07-03 21:30:00')})
        SELECT epoch_ns(time_bucket(INTERVAL '${bucket}', make_timestamp_ns(ts_ns))) AS ts_ns, symbol,
          first(price ORDER BY ts_ns, trade_id) AS open, max(price) AS high, min(price) AS low, last(price ORDER BY ts_ns, trade_id) AS close,
          sum(size) AS volume, count(*) AS trade_count, sum(price * size) / sum(size) AS vwap
        FROM t GROUP BY ALL ORDER BY ts_ns, symbol`);
      expect(result.rows.length).toBe(expected.length);
      result.rows.forEach((r, i) => {
        const e = expected[i] as Record<string, unknown>;
        expect([r['ts'], r['ts_ns'], r['symbol'], r['open'], r['high'], r['low'], r['close'], r['trade_count']])
          .toEqual([e['ts_ns'], e['ts_ns'], e['symbol'], e['open'], e['high'], e['low'], e['close'], e['trade_count']]);
        expect(r['volume']).toBeCloseTo(e['volume'] as number, 6);
        expect(r['vwap']).toBeCloseTo(e['vwap'] as number, 9);
      });
    });
  }
});

describe('VWAP', () => {
  it('over the whole range, per symbol, matches independent SQL', async () => {
    const result = await run({ kind: 'vwap', symbols: ['AAPL', 'MSFT', 'BTC/USD'] });
    const expected = await duckdbRows(`WITH t AS (${expectedTradesSql(['AAPL', 'MSFT', 'BTC/USD'], '2024-06-29 12:00:00', '2024-07-03 21:30:00')})
      SELECT symbol, sum(price * size) / sum(size) AS vwap, sum(size) AS volume, count(*) AS n FROM t GROUP BY symbol ORDER BY symbol`);
    expect(result.rows.map((r) => r['symbol'])).toEqual(expected.map((e) => e['symbol']));
    result.rows.forEach((r, i) => {
      expect(r['ts_ns']).toBe(isoNs('2024-06-29T12:00:00Z'));
      expect(r['vwap']).toBeCloseTo(expected[i]?.['vwap'] as number, 9);
      expect(r['trade_count']).toBe(expected[i]?.['n']);
    });
  });

  it('per hour matches independent SQL', async () => {
    const result = await run({ kind: 'vwap', symbols: ['MSFT'], interval: '1h', from: '2024-07-01T00:00:00Z', to: '2024-07-02T00:00:00Z' });
    const expected = await duckdbRows(`WITH t AS (${expectedTradesSql(['MSFT'], '2024-07-01 00:00:00', '2024-07-02 00:00:00')})
      SELECT epoch_ns(date_trunc('hour', make_timestamp_ns(ts_ns))) AS h, sum(price * size) / sum(size) AS vwap FROM t GROUP BY h ORDER BY h`);
    expect(result.rows.map((r) => r['ts_ns'])).toEqual(expected.map((e) => e['h']));
    result.rows.forEach((r, i) => expect(r['vwap']).toBeCloseTo(expected[i]?.['vwap'] as number, 9));
  });
});

describe('spread statistics', () => {
  const from = '2024-06-30T22:00:00Z';
  const to = '2024-07-01T03:00:00Z';
  for (const interval of [undefined, '1h'] as const) {
    it(`match an independent computation ${interval === undefined ? 'over the whole range' : `per ${interval}`}, across the cold/warm month boundary`, async () => {
      const result = await run({ kind: 'spread', symbols: ['AAPL', 'MSFT'], from, to, ...(interval !== undefined && { interval }) });
      const source = await duckdbRows(`SELECT DISTINCT * FROM (
          SELECT * FROM read_parquet(${sqlPath(coldQuotesFile)}, hive_partitioning = false) UNION ALL SELECT * FROM read_parquet(${warmGlob('quotes', 'date=2024-07-*/symbol=*')}, hive_partitioning = false))
        WHERE ts >= TIMESTAMP_NS '2024-06-30 22:00:00' AND ts < TIMESTAMP_NS '2024-07-01 03:00:00'`) as unknown as QuoteRow[];
      const expected = spreadStats(source, isoNs(from), isoNs(to), interval === undefined ? undefined : 3_600_000_000_000n);
      expect(result.rows.length).toBe(expected.size);
      for (const r of result.rows) {
        const e = expected.get(`${String(r['symbol'])}@${String(r['ts_ns'])}`);
        expect(e, `${String(r['symbol'])}@${String(r['ts_ns'])}`).toBeDefined();
        expectSpreadRow(r, e);
      }
    });
  }
});

describe('quotes and stored bars', () => {
  it('returns each quote once (full-row dedupe) in the documented order', async () => {
    const result = await run({ kind: 'quotes', symbols: ['AAPL', 'MSFT'], from: '2024-06-30T23:00:00Z', to: '2024-07-01T01:00:00Z' });
    const expected = await duckdbRows(`SELECT DISTINCT ts_ns, symbol, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, tape FROM (
        SELECT * FROM read_parquet(${sqlPath(coldQuotesFile)}, hive_partitioning = false) UNION ALL SELECT * FROM read_parquet(${warmGlob('quotes', 'date=2024-07-*/symbol=*')}, hive_partitioning = false))
      WHERE ts >= TIMESTAMP_NS '2024-06-30 23:00:00' AND ts < TIMESTAMP_NS '2024-07-01 01:00:00'
      ORDER BY ts_ns, symbol, bid_price, ask_price, bid_size NULLS LAST, ask_size NULLS LAST, bid_exchange, ask_exchange, conditions, tape`);
    expect(result.rows.map(({ ts: _ts, ...rest }) => rest)).toEqual(expected);
    expect(result.rows.some((r) => r['bid_size'] === null)).toBe(true);
  });

  it('returns the feed\'s stored bars once per (symbol, ts), the fuller copy winning', async () => {
    const result = await run({ kind: 'bars', symbols: ['AAPL'], from: '2024-07-01T10:00:00Z', to: '2024-07-02T10:00:00Z' });
    const expected = await duckdbRows(`SELECT ts_ns, symbol, arg_max(volume, trade_count) AS volume, max(trade_count) AS trade_count
      FROM read_parquet(${warmGlob('bars/timeframe=1m', 'date=2024-07-*/symbol=AAPL')}, hive_partitioning = false)
      WHERE ts >= TIMESTAMP_NS '2024-07-01 10:00:00' AND ts < TIMESTAMP_NS '2024-07-02 10:00:00' GROUP BY ts_ns, symbol ORDER BY ts_ns`);
    expect(result.rows.map((r) => [r['ts_ns'], r['volume'], r['trade_count']])).toEqual(expected.map((e) => [e['ts_ns'], e['volume'], e['trade_count']]));
    expect(result.rows.length).toBe(24 * 60);
  });
});

describe('raw SQL', () => {
  const sqlRun = (sql: string, params: string[] = [], symbols = ['AAPL', 'MSFT']) =>
    run({ kind: 'sql', symbols, sql, params, from: '2024-06-30T00:00:00Z', to: '2024-07-02T00:00:00Z' });

  it('sees trades, quotes and bars as the model returns them, and takes ? parameters', async () => {
    const result = await sqlRun(`SELECT symbol, count(*) AS n, sum(size) AS volume, min(ts) AS first_ts FROM trades GROUP BY symbol ORDER BY symbol`);
    const expected = await duckdbRows(`WITH t AS (${expectedTradesSql(['AAPL', 'MSFT'], '2024-06-30 00:00:00', '2024-07-02 00:00:00')})
      SELECT symbol, count(*) AS n, sum(size) AS volume FROM t GROUP BY symbol ORDER BY symbol`);
    expect(result.columns.map((c) => [c.name, c.type])).toEqual([['symbol', 'string'], ['n', 'bigint'], ['volume', 'double'], ['first_ts', 'timestamp']]);
    expect(result.rows.map((r) => [r['symbol'], r['n'], r['volume']])).toEqual(expected.map((e) => [e['symbol'], e['n'], e['volume']]));
    expect(String(result.rows[0]?.['first_ts'])).toMatch(/^2024-06-30 00:\d\d:\d\d\.\d{9}$/);

    const params = await sqlRun('WITH x AS (SELECT * FROM trades WHERE symbol = ? AND price > ?) SELECT count(*) AS n FROM x;', ['MSFT', '120.5']);
    const [count] = await duckdbRows(`WITH t AS (${expectedTradesSql(['MSFT'], '2024-06-30 00:00:00', '2024-07-02 00:00:00')}) SELECT count(*) AS n FROM t WHERE price > 120.5`);
    expect(params.rows).toEqual([{ n: count?.['n'] }]);

    const views = await sqlRun('SELECT (SELECT count(*) FROM quotes) AS q, (SELECT count(*) FROM bars) AS b');
    expect(views.rows[0]?.['q']).toBeGreaterThan(0n);
    expect(views.rows[0]?.['b']).toBe(BigInt(24 * 60)); // July 1 only: June has no stored bars
  });

  it('cannot read, write or attach anything but the range\'s files', async () => {
    const outside = join(storeDir, 'warm', 'trades', 'date=2024-07-03', 'symbol=AAPL', 'part-00000-edge-1.parquet');
    const attempts = [
      `SELECT * FROM read_text('/etc/passwd')`,
      `SELECT count(*) FROM read_parquet(${sqlPath(outside)})`,
      `SELECT * FROM read_csv(${sqlPath(join(root, 'x.csv'))})`,
      `SELECT * FROM glob('/*')`,
    ];
    for (const sql of attempts) await expect(sqlRun(sql), sql).rejects.toThrow(/Permission|disabled|not allowed/i);
    const writes = ["COPY trades TO '/tmp/x.csv'", 'CREATE TABLE x AS SELECT 1', "ATTACH '/tmp/x.db'", 'SELECT 1; DROP VIEW trades', "SET enable_external_access = true"];
    for (const sql of writes) expect(() => defineQuery({ kind: 'sql', symbols: ['AAPL'], from: '2024-07-01', to: '2024-07-02', sql }), sql).toThrow(QueryInputError);
  });

  it('rejects a parameter count that does not match', async () => {
    await expect(sqlRun('SELECT count(*) FROM trades WHERE price > ?')).rejects.toThrow(/1 parameter\(s\), 0 --param/);
  });
});

describe('a query that touches nothing', () => {
  it('returns no rows, typed columns, and opens no file', async () => {
    const counting = countingStore(store, true);
    const result: { rows: ResultRow[]; columns: readonly { name: string }[] } = await run({ kind: 'ohlcv', symbols: ['NVDA'], interval: '1m' }, { store: counting });
    expect(result.rows).toEqual([]);
    expect(result.columns.map((c) => c.name)).toEqual(['ts', 'ts_ns', 'symbol', 'open', 'high', 'low', 'close', 'volume', 'trade_count', 'vwap']);
    expect(counting.opened()).toEqual([]);
  });

  it('keeps Query values plain data (no engine state leaks into the model)', () => {
    const q: Query = defineQuery({ kind: 'trades', symbols: ['AAPL', 'AAPL', 'MSFT'], from: '2024-07-01', to: '2024-07-02' });
    expect(q).toEqual({ kind: 'trades', symbols: ['AAPL', 'MSFT'], range: { fromNs: dayNs('2024-07-01'), toNs: dayNs('2024-07-02') } });
  });
});

describe('stopping DuckDB', () => {
  const endless = 'SELECT sum(i) AS s FROM range(100000000000) t(i)';
  const query = defineQuery({ kind: 'sql', symbols: ['AAPL'], from: '2024-07-01', to: '2024-07-02', sql: endless });

  it('interrupts a query at the timeout', async () => {
    await expect(runQuery(query, { store, timeoutMs: 50 })).rejects.toThrow(QueryTimeoutError);
  });

  it('interrupts a query on the abort signal (Ctrl-C), and does not start one already aborted', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(runQuery(query, { store, signal: controller.signal })).rejects.toThrow(QueryCancelledError);
    await expect(runQuery(query, { store, signal: controller.signal })).rejects.toThrow(/cancelled before it started|cancelled/);
  });

  it('reports DuckDB\'s progress while it works', async () => {
    const seen: string[] = [];
    await expect(runQuery(query, { store, timeoutMs: 2000, onProgress: (t) => seen.push(t) })).rejects.toThrow(QueryTimeoutError);
    expect(seen.some((t) => /^duckdb (\d+%|working)$/.test(t))).toBe(true);
  });
});
