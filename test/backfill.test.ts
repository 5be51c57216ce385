/**
 * `runBackfill` against a local HTTP server speaking Alpaca's historical API: pagination, 429 with Retry-After,
 * 5xx, crypto's response shape, rows validated and delivered exactly, gaps marked filled only after delivery, and
 * a rerun that does nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BarRow, QuoteRow, TradeRow } from '../core/datasets.ts';
import { type BackfillOptions, runBackfill } from '../edge-agent/feed/backfill.ts';
import { GapLog } from '../edge-agent/feed/gap-log.ts';
import { AlpacaHistoricalClient, HistoricalError, type HistoricalDataset, retryAfterMs } from '../edge-agent/feed/historical-client.ts';
import { formatRfc3339Nanos } from '../core/rfc3339.ts';
import { type RestRow, type RunningRestServer, startAlpacaRestServer } from './support/alpaca-rest-server.ts';

import { runCli } from './support/cli.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';
import { WarmLedger } from '../edge-agent/warm/warm-ledger.ts';

const KEY = 'AKBACKFILLKEY0000001';
const SECRET = 'backfill-secret-abcdef0123456789';
const S = 1_000_000_000n;
const BASE = 1_719_844_200_000_000_000n; // 2024-07-01T14:30:00Z
const t = (ns: bigint): string => formatRfc3339Nanos(ns);

// AAPL: a trade every 100 ms for 250 s (one of them invalid), a quote a second, a bar a minute.
const aaplTrades: RestRow[] = Array.from({ length: 2500 }, (_, k) => ({
  t: t(BASE + BigInt(k) * 100_000_000n), x: 'V', p: k === 1234 ? -1 : 187 + (k % 10) / 100, s: 100 + k, c: ['@'], i: 1000 + k, z: 'C',
}));
const aaplQuotes: RestRow[] = Array.from({ length: 300 }, (_, k) => ({
  t: t(BASE + BigInt(k) * S), ax: 'Q', ap: 187.2, as: 3, bx: 'V', bp: 187.1, bs: 2, c: ['R'], z: 'C',
}));
const aaplBars: RestRow[] = Array.from({ length: 6 }, (_, k) => ({
  t: t(BASE + BigInt(k) * 60n * S), o: 187, h: 188, l: 186.5, c: 187.5, v: 10_000 + k, n: 50 + k, vw: 187.25,
}));
// BTC/USD: crypto rows have no exchange, conditions or tape, and a taker side.
const btcTrades: RestRow[] = Array.from({ length: 500 }, (_, k) => ({
  t: t(BASE + BigInt(k) * 500_000_000n), p: 62_000 + k, s: 0.001 * (k + 1), tks: k % 2 === 0 ? 'B' : 'S', i: 5_000_000 + k,
}));

const GAP = { fromNs: BASE + 50n * S, toNs: BASE + 200n * S, symbols: ['AAPL', 'BTC/USD'], channels: ['trades', 'quotes', 'bars', 'statuses'] as const, reason: 'connection closed (code 1006)' };

const inGap = (row: RestRow, fromNs = GAP.fromNs): boolean => {
  const ns = BigInt(Date.parse(row.t.slice(0, 19) + 'Z')) * 1_000_000n + BigInt(row.t.slice(20, 29));
  return ns >= fromNs && ns <= GAP.toNs;
};
const nsOf = (row: RestRow): bigint => BigInt(Date.parse(row.t.slice(0, 19) + 'Z')) * 1_000_000n + BigInt(row.t.slice(20, 29));

const expectedTrades = (rows: RestRow[], symbol: string): TradeRow[] =>
  rows.filter((r) => inGap(r) && (r['p'] as number) > 0).map((r) => ({
    ts: nsOf(r), ts_ns: nsOf(r), symbol, trade_id: BigInt(r['i'] as number), price: r['p'] as number, size: r['s'] as number,
    exchange: (r['x'] as string | undefined) ?? '', conditions: ((r['c'] as string[] | undefined) ?? []).join(','), tape: (r['z'] as string | undefined) ?? '',
  }));

interface Delivery {
  readonly dataset: HistoricalDataset;
  readonly rows: readonly unknown[];
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(pageSize = 400): Promise<{ server: RunningRestServer; dataDir: string; gapLog: GapLog }> {
  const server = await startAlpacaRestServer({
    keyId: KEY,
    secretKey: SECRET,
    pageSize,
    data: { trades: { AAPL: aaplTrades, 'BTC/USD': btcTrades }, quotes: { AAPL: aaplQuotes }, bars: { '1Min': { AAPL: aaplBars } } },
  });
  cleanups.push(() => server.close());
  const dir = await mkdtemp(join(tmpdir(), 'tickvault-backfill-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return { server, dataDir: dir, gapLog: GapLog.inDataDir(dir) };
}

function options(dataDir: string, baseUrl: string, deliveries: Delivery[], over: Partial<BackfillOptions> = {}): BackfillOptions {
  const logs: string[] = [];
  return {
    dataDir,
    baseUrl,
    keyId: KEY,
    secretKey: SECRET,
    log: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, fields }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))),
    onRows: async (dataset, rows) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      deliveries.push({ dataset, rows: [...rows] });
    },
    client: { initialBackoffMs: 10, maxBackoffMs: 50 },
    ...over,
  };
}

describe('backfill', () => {
  it('fills a recorded gap page by page, exactly, through a 429, then marks it filled; a rerun does nothing', async () => {
    const { server, dataDir, gapLog } = await setUp();
    const gap = await gapLog.record(GAP);
    server.failNext(2, 429, 0.2);
    const deliveries: Delivery[] = [];
    const report = await runBackfill(options(dataDir, server.baseUrl, deliveries));

    const rows = (dataset: HistoricalDataset, symbol: string): unknown[] =>
      deliveries.filter((d) => d.dataset === dataset).flatMap((d) => d.rows).filter((r) => (r as { symbol: string }).symbol === symbol);
    expect(rows('trades', 'AAPL')).toEqual(expectedTrades(aaplTrades, 'AAPL'));
    expect(rows('trades', 'AAPL')).toHaveLength(1500);
    expect(rows('trades', 'BTC/USD')).toEqual(expectedTrades(btcTrades, 'BTC/USD'));
    expect(rows('quotes', 'AAPL')).toEqual(
      aaplQuotes.filter((r) => inGap(r)).map((r): QuoteRow => ({
        ts: nsOf(r), ts_ns: nsOf(r), symbol: 'AAPL', bid_price: 187.1, bid_size: 2, ask_price: 187.2, ask_size: 3, bid_exchange: 'V', ask_exchange: 'Q', conditions: 'R', tape: 'C',
      })),
    );
    // Minute bars from the minute holding the gap's start.
    expect(rows('bars_1m', 'AAPL')).toEqual(
      aaplBars.filter((r) => inGap(r, BASE)).map((r): BarRow => ({
        ts: nsOf(r), ts_ns: nsOf(r), symbol: 'AAPL', open: 187, high: 188, low: 186.5, close: 187.5, volume: r['v'] as number, trade_count: BigInt(r['n'] as number), vwap: 187.25,
      })),
    );
    expect(rows('bars_1m', 'AAPL')).toHaveLength(4);
    expect(deliveries.every((d) => d.rows.length > 0 && d.rows.length <= 400)).toBe(true);

    expect(report).toMatchObject({
      gapsPending: 1, gapsFilled: 1, gapsFailed: [], rows: { trades: 1801, quotes: 151, bars_1m: 4, bars_1d: 0 }, rejected: { bad_price: 1 }, retries: 2,
    });
    // The server's Retry-After was honoured.
    const [first, second, third] = server.requests;
    expect(first?.status).toBe(429);
    expect(second?.status).toBe(429);
    expect((second?.atMs ?? 0) - (first?.atMs ?? 0)).toBeGreaterThanOrEqual(190);
    expect((third?.atMs ?? 0) - (second?.atMs ?? 0)).toBeGreaterThanOrEqual(190);
    // Paths and parameters as Alpaca's.
    const paths = new Set(server.requests.map((r) => r.path));
    expect(paths).toEqual(new Set(['/v2/stocks/AAPL/trades', '/v2/stocks/AAPL/quotes', '/v2/stocks/AAPL/bars', '/v1beta3/crypto/us/trades', '/v1beta3/crypto/us/quotes', '/v1beta3/crypto/us/bars']));
    expect(server.requests.find((r) => r.path === '/v1beta3/crypto/us/trades')?.query).toMatchObject({ symbols: 'BTC/USD', start: t(GAP.fromNs), end: t(GAP.toNs), limit: '10000' });
    expect(server.requests.find((r) => r.path === '/v2/stocks/AAPL/bars')?.query).toMatchObject({ timeframe: '1Min', start: t(BASE) });
    expect(server.requests.filter((r) => r.path === '/v2/stocks/AAPL/trades' && r.status === 200).map((r) => r.query['page_token'] !== undefined)).toEqual([false, true, true, true]);

    expect(await new GapLog(gapLog.path).list()).toEqual([expect.objectContaining({ id: gap.id, filled: true })]);
    const requestsBefore = server.requests.length;
    const again: Delivery[] = [];
    const rerun = await runBackfill(options(dataDir, server.baseUrl, again));
    expect(rerun).toMatchObject({ gapsPending: 0, gapsFilled: 0, requests: 0 });
    expect(again).toEqual([]);
    expect(server.requests.length).toBe(requestsBefore);
  });

  it('leaves a gap unfilled when delivery fails, and fills it on the next run', async () => {
    const { server, dataDir, gapLog } = await setUp();
    const gap = await gapLog.record({ ...GAP, symbols: ['AAPL'], channels: ['trades'] });
    let calls = 0;
    const failing = await runBackfill(
      options(dataDir, server.baseUrl, [], {
        onRows: () => {
          calls++;
          if (calls === 2) throw new Error('disk full');
        },
      }),
    );
    expect(failing).toMatchObject({ gapsPending: 1, gapsFilled: 0, gapsFailed: [{ id: gap.id, error: 'disk full' }] });
    expect((await gapLog.unfilled()).map((g) => g.id)).toEqual([gap.id]);

    const deliveries: Delivery[] = [];
    const report = await runBackfill(options(dataDir, server.baseUrl, deliveries));
    expect(report).toMatchObject({ gapsFilled: 1, rows: { trades: 1500 } });
    expect(await gapLog.unfilled()).toEqual([]);
  });

  it('does not retry rejected credentials, says so without the secret, and keeps the gap', async () => {
    const { server, dataDir, gapLog } = await setUp();
    await gapLog.record(GAP);
    const report = await runBackfill(options(dataDir, server.baseUrl, [], { secretKey: 'wrong-secret-for-backfill' }));
    expect(report.gapsFailed).toHaveLength(1);
    expect(report.gapsFailed[0]?.error).toMatch(/credentials rejected \(HTTP 401.*APCA_API_SECRET_KEY/);
    expect(report.gapsFailed[0]?.error).not.toContain('wrong-secret-for-backfill');
    expect(server.requests).toHaveLength(1);
    expect(await gapLog.unfilled()).toHaveLength(1);
  });

  it('retries 5xx with backoff and gives up after maxRetries with a clear error', async () => {
    const { server } = await setUp();
    const client = new AlpacaHistoricalClient({ baseUrl: server.baseUrl, keyId: KEY, secretKey: SECRET, initialBackoffMs: 5, maxBackoffMs: 20, maxRetries: 2 });
    server.failNext(2, 503);
    const pages = [];
    for await (const page of client.pages('trades', 'AAPL', GAP.fromNs, GAP.fromNs + 10n * S)) pages.push(page);
    expect(pages.flatMap((p) => p.rows)).toHaveLength(101);
    expect(client.stats.retries).toBe(2);

    server.failNext(3, 500);
    const failing = (async () => {
      for await (const _page of client.pages('quotes', 'AAPL', GAP.fromNs, GAP.toNs)) { /* drain */ }
    })();
    await expect(failing).rejects.toThrow(HistoricalError);
    server.failNext(3, 500);
    await expect(
      (async () => {
        for await (const _page of client.pages('quotes', 'AAPL', GAP.fromNs, GAP.toNs)) { /* drain */ }
      })(),
    ).rejects.toThrow(/giving up after 3 attempts \(HTTP 500/);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs('0.5')).toBe(500);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs(new Date(1_000).toUTCString(), 4_000)).toBe(0);
  });
});

describe('tickvault backfill (the command)', () => {
  it('seals the gap rows as warm files in the ledger and a rerun fetches nothing', async () => {
    const { server, dataDir, gapLog } = await setUp();
    await gapLog.record(GAP);
    const env = { APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET };
    const first = await runCli(['backfill', '--data-dir', dataDir, '--base-url', server.baseUrl], { env });
    expect(first.code, first.stderr.slice(-1500)).toBe(0);
    expect(first.stderr).not.toContain(SECRET);
    const report = JSON.parse(first.stdout.trim()) as { gapsFilled: number; rows: Record<string, number> };
    expect(report.gapsFilled).toBe(1);
    const expected = expectedTrades(aaplTrades, 'AAPL').length + expectedTrades(btcTrades, 'BTC/USD').length;
    expect(report.rows['trades']).toBe(expected);
    const [count] = await duckdbRows(`SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlPath(join(dataDir, 'warm', 'trades', '**', '*.parquet'))})`);
    expect(count?.['n']).toBe(expected);
    const ledger = WarmLedger.open(join(dataDir, 'state', 'warm-ledger.jsonl'));
    expect(ledger.pendingUpload().reduce((n, e) => n + (e.dataset === 'trades' ? e.rows : 0), 0)).toBe(expected);
    ledger.close();
    const requests = server.requests.length;
    const again = await runCli(['backfill', '--data-dir', dataDir, '--base-url', server.baseUrl], { env });
    expect(again.code).toBe(0);
    expect(server.requests.length).toBe(requests);
  }, 60_000);

  it('refuses to run without credentials, naming them', async () => {
    const run = await runCli(['backfill', '--data-dir', tmpdir()], { env: { APCA_API_KEY_ID: '', APCA_API_SECRET_KEY: undefined } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/APCA_API_KEY_ID and APCA_API_SECRET_KEY/);
  });
});
