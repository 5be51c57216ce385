/**
 * One range across cold, warm and hot: a compacted month (cold, with corrections the raw warm copies lack), warm
 * days, and the hot tier served by a real read API (startReadApi over a fake hot view) whose oldest events are also
 * in warm. Each event must come back exactly once, in order, from the tier the precedence names; aggregates that
 * span the hot cut must equal an independent computation on both engines (Athena mocked: its stored part is built
 * independently here, and the router merges the hot part into it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, type Row, StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { type RunningReadApi, startReadApi } from '../edge-agent/http/read-api.ts';
import { readHotRows } from '../query/hot-client.ts';
import { type QuerySpec, type ResultColumn, SPREAD_COLUMNS, datasetResultColumns, defineQuery } from '../query/model.ts';
import { type QueryOptions, runQuery } from '../query/tier-router.ts';
import {
  NS_PER_MINUTE, asHot, countingStore, dayNs, fakeHotView, genQuotes, genTrades, isoNs, ohlcvOf, onDay, putCold, putWarmDay, expectSpreadRow, spreadStats,
} from './query-fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'tv-query-tiers-'));
const store = new LocalDirectoryStore(root);

// AAPL: June 29-30 compacted; July 1 warm; July 2 warm until 10:03; the hot rings from 10:00 to 10:06.
const aapl = genTrades('AAPL', dayNs('2024-06-29'), isoNs('2024-07-02T10:06:00Z'), 10_000_000_000n, 1n, 11);
const warmEnd = isoNs('2024-07-02T10:03:00Z');
const hotStart = isoNs('2024-07-02T10:00:00Z');
const aaplQuotes = genQuotes('AAPL', isoNs('2024-07-02T09:00:00Z'), isoNs('2024-07-02T10:06:00Z'), 5_000_000_000n, 12);
/** Compaction corrected one June trade's price and cancelled another; the raw warm copies of June still hold both. */
const corrected = aapl[3000] as TradeRow;
const cancelledId = (aapl[3100] as TradeRow).trade_id;
const coldJune = aapl.filter((t) => t.ts_ns < dayNs('2024-07-01') && t.trade_id !== cancelledId)
  .map((t) => (t.trade_id === corrected.trade_id ? { ...t, price: t.price + 1 } : t));
// SPY: June compacted; the hot rings still hold the last June minute (raw), then July.
const spy = genTrades('SPY', isoNs('2024-06-30T23:59:00Z'), isoNs('2024-07-01T00:01:00Z'), 15_000_000_000n, 500n, 13);
const spyCold = spy.filter((t) => t.ts_ns < dayNs('2024-07-01')).map((t) => ({ ...t, price: t.price + 0.5 }));

let api: RunningReadApi;
const range = { from: '2024-06-29T06:00:00Z', to: '2024-07-02T10:05:00Z' };
const fromNs = isoNs('2024-06-29T06:00:00Z');
const toNs = isoNs('2024-07-02T10:05:00Z');
const hotTrades = aapl.filter((t) => t.ts_ns >= hotStart);
const hotQuotes = aaplQuotes.filter((q) => q.ts_ns >= hotStart);
/** The oldest hot event of AAPL: where the stored tiers stop and the hot tier takes over. */
const cut = hotTrades[0]?.ts_ns as bigint;
const quoteCut = hotQuotes[0]?.ts_ns as bigint;

beforeAll(async () => {
  await putCold(store, 'trades', '2024-06', coldJune);
  for (const date of ['2024-06-29', '2024-06-30']) await putWarmDay(store, 'trades', onDay(aapl, date), { partRows: 5000 });
  await putWarmDay(store, 'trades', onDay(aapl, '2024-07-01'), { partRows: 5000 });
  await putWarmDay(store, 'trades', onDay(aapl, '2024-07-02').filter((t) => t.ts_ns < warmEnd), { partRows: 1000 });
  await putWarmDay(store, 'quotes', aaplQuotes.filter((q) => q.ts_ns < warmEnd), { partRows: 300 });
  await putCold(store, 'trades', '2024-06', spyCold);
  api = await startReadApi({ view: fakeHotView({ AAPL: hotTrades, SPY: spy }, { AAPL: hotQuotes }), port: 0 });
});
afterAll(async () => {
  await api.close();
  rmSync(root, { recursive: true, force: true });
});

const run = (spec: Omit<QuerySpec, 'from' | 'to'> & { from?: string; to?: string }, options: Partial<QueryOptions> = {}) =>
  runQuery(defineQuery({ ...range, ...spec }), { store, hotUrl: api.url, ...options });

/** What the precedence says each tier contributes, built independently of the router. */
function expectedTrades(): TradeRow[] {
  const rows = [
    ...coldJune,
    ...aapl.filter((t) => t.ts_ns >= dayNs('2024-07-01') && t.ts_ns < cut),
    ...hotTrades.map(asHot),
    ...spyCold,
    ...spy.filter((t) => t.ts_ns >= dayNs('2024-07-01')).map(asHot),
  ].filter((t) => t.ts_ns >= fromNs && t.ts_ns < toNs);
  return rows.sort((a, b) => (a.ts_ns !== b.ts_ns ? (a.ts_ns < b.ts_ns ? -1 : 1) : a.symbol !== b.symbol ? (a.symbol < b.symbol ? -1 : 1) : a.trade_id < b.trade_id ? -1 : 1));
}

describe('the hot client', () => {
  it('reads the agent\'s JSON rows back as dataset rows, oldest first, BTC/USD-style symbols encoded', async () => {
    const rows = await readHotRows(api.url, 'trades', 'AAPL');
    expect(rows).toEqual(hotTrades.map(asHot));
    expect(await readHotRows(api.url, 'trades', 'BTC/USD')).toEqual([]);
    const quotes = await readHotRows(api.url, 'quotes', 'AAPL');
    expect(quotes).toEqual(hotQuotes.map(asHot));
  });

  it('asks again with the server\'s own ceiling when it is lower', async () => {
    const small = await startReadApi({ view: fakeHotView({ AAPL: hotTrades }), port: 0, maxN: 7 });
    try {
      expect(await readHotRows(small.url, 'trades', 'AAPL')).toEqual(hotTrades.slice(-7).map(asHot));
    } finally {
      await small.close();
    }
  });
});

describe('a range across cold, warm and hot', () => {
  it('returns each trade exactly once, in order, each from the tier the precedence names', async () => {
    const result = await run({ kind: 'trades', symbols: ['AAPL', 'SPY'] });
    const expected = expectedTrades();
    expect(result.rows.map((r) => r['trade_id'])).toEqual(expected.map((t) => t.trade_id));
    expect(result.rows.map(({ ts: _ts, ...r }) => r)).toEqual(expected.map(({ ts: _ts, ...t }) => t));
    // Cold wins in June: the correction holds and the cancelled trade is gone, though the warm copies have both.
    expect(result.rows.find((r) => r['trade_id'] === corrected.trade_id)?.['price']).toBe(corrected.price + 1);
    expect(result.rows.some((r) => r['trade_id'] === cancelledId)).toBe(false);
    // The trades both warm and hot hold (10:00 to 10:03) come once, from hot; SPY's hot June minute gives way to cold.
    const overlap = aapl.filter((t) => t.ts_ns >= hotStart && t.ts_ns < warmEnd);
    expect(overlap.length).toBeGreaterThan(10);
    for (const t of overlap) expect(result.rows.filter((r) => r['trade_id'] === t.trade_id && r['symbol'] === 'AAPL')).toHaveLength(1);
    expect(result.rows.filter((r) => r['symbol'] === 'SPY' && (r['ts_ns'] as bigint) < dayNs('2024-07-01')).map((r) => r['price'])).toEqual(spyCold.map((t) => t.price));
    expect(result.stats.hotRows).toBe(hotTrades.filter((t) => t.ts_ns < toNs).length + spy.filter((t) => t.ts_ns >= dayNs('2024-07-01')).length);
  });

  it('answers a range the hot tier covers from memory alone', async () => {
    const counting = countingStore(store, true);
    const result = await runQuery(defineQuery({ kind: 'trades', symbols: ['AAPL'], from: '2024-07-02T10:01:00Z', to: '2024-07-02T10:04:00Z' }), { store: counting, hotUrl: api.url });
    expect(counting.opened()).toEqual([]);
    expect(result.rows.map((r) => r['trade_id'])).toEqual(hotTrades.filter((t) => t.ts_ns >= isoNs('2024-07-02T10:01:00Z') && t.ts_ns < isoNs('2024-07-02T10:04:00Z')).map((t) => t.trade_id));
  });

  it('answers from the stored tiers, with a note, when the agent\'s read API does not answer', async () => {
    const down = await startReadApi({ view: fakeHotView({}), port: 0 });
    const url = down.url;
    await down.close();
    const notes: string[] = [];
    const result = await run({ kind: 'trades', symbols: ['AAPL'] }, { hotUrl: url, onNote: (n) => notes.push(n) });
    expect(result.rows.length).toBe(expectedTrades().filter((t) => t.symbol === 'AAPL' && t.ts_ns < warmEnd).length);
    expect(notes).toEqual([expect.stringMatching(new RegExp(`^hot tier ${url}/v1/trades/AAPL\\?n=10000: .*; answering from the stored tiers only$`))]);
    await expect(run({ kind: 'trades', symbols: ['AAPL'] }, { hotUrl: url, tier: 'hot' })).rejects.toThrow(/hot tier/);
  });

  it('forces one tier with --tier', async () => {
    const hot = await run({ kind: 'trades', symbols: ['AAPL'] }, { tier: 'hot' });
    expect(hot.rows.map((r) => r['trade_id'])).toEqual(hotTrades.filter((t) => t.ts_ns < toNs).map((t) => t.trade_id));
    const warm = await run({ kind: 'trades', symbols: ['AAPL'] }, { tier: 'warm' });
    // Warm alone: the raw June copies (cancelled trade included), and nothing after 10:03.
    expect(warm.rows.some((r) => r['trade_id'] === cancelledId)).toBe(true);
    expect(warm.rows.length).toBe(aapl.filter((t) => t.ts_ns >= fromNs && t.ts_ns < warmEnd).length);
    const cold = await run({ kind: 'trades', symbols: ['AAPL'] }, { tier: 'cold' });
    expect(cold.rows.map((r) => r['trade_id'])).toEqual(coldJune.filter((t) => t.ts_ns >= fromNs).map((t) => t.trade_id));
    await expect(run({ kind: 'bars', symbols: ['AAPL'] }, { tier: 'hot' })).rejects.toThrow(/hot tier keeps no stored bars/);
    await expect(runQuery(defineQuery({ kind: 'trades', symbols: ['AAPL'], ...range }), { store, tier: 'hot' })).rejects.toThrow(/needs the read API URL/);
  });

  it('builds OHLCV bars across the hot cut exactly as an independent computation does', async () => {
    const result = await run({ kind: 'ohlcv', symbols: ['AAPL'], interval: '1m', from: '2024-07-02T09:50:00Z' });
    const expected = ohlcvOf(expectedTrades().filter((t) => t.symbol === 'AAPL' && t.ts_ns >= isoNs('2024-07-02T09:50:00Z')), NS_PER_MINUTE);
    expect(result.rows.length).toBe(expected.size);
    for (const r of result.rows) {
      const e = expected.get(`AAPL@${String(r['ts_ns'])}`);
      expect([r['open'], r['high'], r['low'], r['close'], r['trade_count']]).toEqual([e?.open, e?.high, e?.low, e?.close, BigInt(e?.count ?? -1)]);
      expect(r['vwap']).toBeCloseTo(e?.vwap ?? NaN, 9);
    }
    // The cut falls inside a minute, so that bar is made of stored and hot trades.
    expect(cut % NS_PER_MINUTE).not.toBe(0n);
  });
});

describe('Athena for the stored tiers, merged with the hot tier', () => {
  const athena = mockClient(AthenaClient);
  const client = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  beforeEach(() => athena.reset());
  afterAll(() => athena.restore());

  /** Serves `rows` as Athena would return the stored part: text values, a header row, two pages. */
  function serve(columns: readonly ResultColumn[], rows: Record<string, unknown>[]): void {
    const text = (v: unknown): { VarCharValue?: string } => (v === null || v === undefined ? {} : { VarCharValue: String(v) });
    const all: Row[] = [{ Data: columns.map((c) => ({ VarCharValue: c.name })) }, ...rows.map((r) => ({ Data: columns.map((c) => text(r[c.name])) }))];
    const metadata = { ColumnInfo: columns.map((c) => ({ Name: c.name, Type: c.type === 'double' ? 'double' : c.type === 'string' ? 'varchar' : 'bigint' })) };
    const half = Math.ceil(all.length / 2);
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { QueryExecutionId: 'q-1', Status: { State: 'SUCCEEDED' }, Statistics: { DataScannedInBytes: 3 * 2 ** 20 } } });
    athena.on(GetQueryResultsCommand).callsFake((input: { NextToken?: string }) => (input.NextToken === undefined
      ? { ResultSet: { ResultSetMetadata: metadata, Rows: all.slice(0, half) }, NextToken: 'next' }
      : { ResultSet: { ResultSetMetadata: metadata, Rows: all.slice(half) } }));
  }

  const target = { client, workgroup: 'tickvault', database: 'tickvault' };

  it('merges the hot segment of OHLCV bars into Athena\'s stored part: the same bars as DuckDB', async () => {
    const from = isoNs('2024-07-02T09:50:00Z');
    const stored = ohlcvOf(expectedTrades().filter((t) => t.symbol === 'AAPL' && t.ts_ns >= from && t.ts_ns < cut), NS_PER_MINUTE);
    serve(datasetResultColumns('bars_1m'), [...stored].map(([key, b]) => {
      const ts = BigInt(key.split('@')[1] as string);
      return { ts, ts_ns: ts, symbol: 'AAPL', open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, trade_count: b.count, vwap: b.vwap };
    }));
    const spec = { kind: 'ohlcv', symbols: ['AAPL'], interval: '1m', from: '2024-07-02T09:50:00Z' } as const;
    const merged = await run(spec, { engine: 'athena', athena: target });
    const local = await run(spec);
    expect(merged.rows.length).toBe(local.rows.length);
    merged.rows.forEach((r, i) => {
      const l = local.rows[i] ?? {};
      expect([r['ts_ns'], r['open'], r['high'], r['low'], r['close'], r['trade_count']]).toEqual([l['ts_ns'], l['open'], l['high'], l['low'], l['close'], l['trade_count']]);
      expect(r['volume']).toBeCloseTo(l['volume'] as number, 6);
      expect(r['vwap']).toBeCloseTo(l['vwap'] as number, 9);
    });
    expect(merged.stats.athena?.dataScannedBytes).toBe(3 * 2 ** 20);
    // Athena was asked for the stored tiers up to the cut, not beyond.
    const start = athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input;
    expect(start?.ExecutionParameters).toContain(String(cut));
    expect(start?.ExecutionParameters).not.toContain(String(toNs));
    expect(start?.WorkGroup).toBe('tickvault');
  });

  it('merges spread statistics across the cut: time-weighted means included', async () => {
    const from = isoNs('2024-07-02T09:00:00Z');
    const stored = spreadStats(aaplQuotes.filter((q) => q.ts_ns >= from && q.ts_ns < quoteCut), from, quoteCut, 900_000_000_000n);
    serve(SPREAD_COLUMNS, [...stored].map(([key, s]) => {
      const ts = BigInt(key.split('@')[1] as string);
      return { ts, ts_ns: ts, symbol: 'AAPL', quote_count: s.n, mean_spread: s.mean, min_spread: s.min, max_spread: s.max, tw_mean_spread: s.tw, quoted_seconds: s.seconds };
    }));
    const spec = { kind: 'spread', symbols: ['AAPL'], interval: '15m', from: '2024-07-02T09:00:00Z' } as const;
    const merged = await run(spec, { engine: 'athena', athena: target });
    const expected = spreadStats([...aaplQuotes.filter((q) => q.ts_ns >= from && q.ts_ns < quoteCut), ...hotQuotes.map(asHot)].filter((q) => q.ts_ns < toNs) as QuoteRow[], from, toNs, 900_000_000_000n);
    expect(merged.rows.length).toBe(expected.size);
    for (const r of merged.rows) {
      const e = expected.get(`AAPL@${String(r['ts_ns'])}`);
      expectSpreadRow(r, e);
    }
    const local = await run(spec);
    expect(local.rows.map((r) => r['quote_count'])).toEqual(merged.rows.map((r) => r['quote_count']));
  });

  it('merges raw trades: the stored part from Athena, the hot part after the cut, each trade once', async () => {
    const stored = expectedTrades().filter((t) => t.symbol === 'AAPL' && t.ts_ns < cut);
    serve(datasetResultColumns('trades'), stored.map((t) => ({ ...t })));
    const merged = await run({ kind: 'trades', symbols: ['AAPL'] }, { engine: 'athena', athena: target });
    expect(merged.rows.map((r) => r['trade_id'])).toEqual(expectedTrades().filter((t) => t.symbol === 'AAPL').map((t) => t.trade_id));
    expect(merged.stats.hotRows).toBe(hotTrades.filter((t) => t.ts_ns < toNs).length);
  });
});
