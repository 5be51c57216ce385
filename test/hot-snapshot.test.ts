/**
 * Hot-tier snapshots: a tier restored from a snapshot must be indistinguishable from the one that wrote it, for every
 * read and every later write (twin tests on real market data), and a damaged payload must fail with HotSnapshotError
 * and nothing else (every truncation, seeded byte flips, 2^31 written over every offset).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import type { BarRow, QuoteRow, TradeRow } from '../core/datasets.ts';
import { HotSnapshotError, HotTierConfigError } from '../edge-agent/hot/errors.ts';
import { HOT_SNAPSHOT_VERSION } from '../edge-agent/hot/hot-snapshot.ts';
import { HotTier, type HotTierInput } from '../edge-agent/hot/hot-tier.ts';
import type { Fill, OrderRequest } from '../edge-agent/hot/portfolio.ts';
import { sharedDataDir } from './support/shared-data.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const S = 1_000_000_000n;
const T0 = 1_582_329_602_111_000_000n;

type Op =
  | { readonly kind: 'trade'; readonly row: TradeRow }
  | { readonly kind: 'quote'; readonly row: QuoteRow }
  | { readonly kind: 'bar'; readonly row: BarRow }
  | { readonly kind: 'submit'; readonly request: OrderRequest }
  | { readonly kind: 'fill'; readonly fill: Fill }
  | { readonly kind: 'cancel'; readonly orderId: string };

function apply(tier: HotTier, op: Op): unknown {
  switch (op.kind) {
    case 'trade': return tier.onTrade(op.row);
    case 'quote': return tier.onQuote(op.row);
    case 'bar': return tier.onBar(op.row);
    case 'submit': return tier.portfolio.submit(op.request);
    case 'fill': return tier.portfolio.applyFill(op.fill);
    case 'cancel': return tier.portfolio.cancel(op.orderId);
  }
}

function load<R>(name: string): R[] {
  const parsed = parseMarketCsv(readFileSync(join(sharedDataDir(), name), 'utf8'), name);
  expect(parsed.errors).toEqual([]);
  return parsed.records.map((r) => r.row as R);
}

/** Trades and quotes merged by event time, a quote before a trade of the same nanosecond. */
function merge(trades: readonly TradeRow[], quotes: readonly QuoteRow[]): Op[] {
  const out: Op[] = [];
  let q = 0;
  for (const t of trades) {
    while (q < quotes.length && (quotes[q] as QuoteRow).ts <= t.ts) out.push({ kind: 'quote', row: quotes[q++] as QuoteRow });
    out.push({ kind: 'trade', row: t });
  }
  while (q < quotes.length) out.push({ kind: 'quote', row: quotes[q++] as QuoteRow });
  return out;
}

const BTC_TRADES = 'trades_tardis_binance-futures_BTCUSDT_20200222.csv';
const BTC_QUOTES = 'quotes_tardis_binance-futures_BTCUSDT_20200222.csv';
let btc: Op[] = [];
let stream: Op[] = [];

/**
 * The real BTCUSDT trades and quotes, interleaved (seeded) with other real feeds (ESU4 with nanosecond times, USDJPY
 * quotes without sizes, XRPETH in source order), a copy of the BTCUSDT trades with jittered times (late events, so
 * the rings hold inversions), bars (some late), refused rows, an over-long exchange name, and portfolio orders,
 * fills and cancels that hit every reject reason.
 */
function buildStream(seed: number): Op[] {
  const random = seededRandom(seed);
  const btcTrades = load<TradeRow>(BTC_TRADES);
  const jittered: Op[] = btcTrades.map((t) => {
    const ts = t.ts + BigInt(Math.floor((random() - 0.5) * 6e9));
    return { kind: 'trade', row: { ...t, symbol: 'BTC-J', ts, ts_ns: ts } };
  });
  const sides: Op[][] = [
    merge(load<TradeRow>('trades_databento_GLBX_ESU4_20240701.csv'), load<QuoteRow>('quotes_databento_GLBX_ESU4_20240701.csv')),
    load<QuoteRow>('quotes_truefx_USDJPY_20130101.csv').map((row) => ({ kind: 'quote', row })),
    load<TradeRow>('trades_freqtrade_binance_XRPETH_20191011-20191013.csv').slice(0, 4_000).map((row) => ({ kind: 'trade', row })),
    jittered,
  ];
  const cursors = sides.map(() => 0);
  const out: Op[] = [];
  const lastPrice = new Map<string, number>([['BTCUSDT', 9_682], ['ESU4', 5_528], ['XRPETH', 0.0014], ['USDJPY', 86.7], ['ZZZ', 10]]);
  const symbols = [...lastPrice.keys()];
  let orderSeq = 0;
  let barMinute = 0n;
  let lastBtcTs = T0;
  const push = (op: Op): void => {
    out.push(op);
    if (op.kind === 'trade') lastPrice.set(op.row.symbol, op.row.price);
    if (op.kind === 'quote') lastPrice.set(op.row.symbol, (op.row.bid_price + op.row.ask_price) / 2);
  };
  for (const main of btc) {
    push(main);
    if (main.kind === 'trade' || main.kind === 'quote') lastBtcTs = main.row.ts;
    for (let k = 0; k < sides.length; k++) {
      const side = sides[k] as Op[];
      const at = cursors[k] as number;
      if (at < side.length && random() < side.length / btc.length) {
        push(side[at] as Op);
        cursors[k] = at + 1;
      }
    }
    const roll = random();
    const symbol = symbols[Math.floor(random() * symbols.length)] as string;
    const price = lastPrice.get(symbol) as number;
    if (roll < 0.02) {
      orderSeq++;
      const qty = Math.round((0.001 + random() * 2) * 1000) / 1000;
      const side = random() < 0.5 ? 'buy' : 'sell';
      const request: OrderRequest = random() < 0.5
        ? { orderId: `o${orderSeq}`, symbol, side, qty }
        : { orderId: `o${orderSeq}`, symbol, side, qty, limit: price * (1 + (random() - 0.5) * 0.002) };
      push({ kind: 'submit', request });
    } else if (roll < 0.045) {
      const orderId = `o${Math.max(1, orderSeq - Math.floor(random() * 8))}`;
      push({ kind: 'fill', fill: { orderId, qty: Math.round((0.001 + random()) * 1000) / 1000, price: price * (1 + (random() - 0.5) * 0.002) } });
    } else if (roll < 0.05) {
      push({ kind: 'cancel', orderId: `o${Math.max(1, orderSeq - Math.floor(random() * 8))}` });
    } else if (roll < 0.052) {
      orderSeq++;
      push({ kind: 'submit', request: { orderId: `o${orderSeq}`, symbol, side: 'buy', qty: 1 } });
      push({ kind: 'fill', fill: { orderId: `o${orderSeq}`, qty: Number.NaN, price } }); // invalidFill, unless the order was refused
    } else if (roll < 0.054) {
      push({ kind: 'trade', row: { ts: lastBtcTs, ts_ns: lastBtcTs, symbol: 'BTCUSDT', trade_id: 0n, price: Number.NaN, size: 1, exchange: 'X', conditions: '', tape: '' } }); // invalidRow
    } else if (roll < 0.055) {
      push({ kind: 'trade', row: { ts: lastBtcTs, ts_ns: lastBtcTs, symbol: '../up', trade_id: 1n, price: 1, size: 1, exchange: 'X', conditions: '', tape: '' } });
    } else if (roll < 0.057) {
      const ts = lastBtcTs - 120n * S; // older than the window: outsideWindow
      push({ kind: 'trade', row: { ts, ts_ns: ts, symbol: 'BTCUSDT', trade_id: 2n, price: 9_000, size: 1, exchange: 'BINANCE_FUTURES', conditions: '', tape: '' } });
    } else if (roll < 0.06) {
      const ts = lastBtcTs;
      const exchange = random() < 0.5 ? 'X'.repeat(70) : 'BINANCE_FUTURES';
      push({ kind: 'quote', row: { ts, ts_ns: ts, symbol: 'BTCUSDT', bid_price: 9_600, bid_size: 1, ask_price: 9_601, ask_size: 2, bid_exchange: exchange, ask_exchange: exchange, conditions: '', tape: '' } });
    }
    const minute = lastBtcTs / (60n * S);
    if (minute !== barMinute || random() < 0.003) {
      const late = minute === barMinute;
      barMinute = minute;
      const ts = (late ? minute - 3n : minute) * 60n * S;
      const close = lastPrice.get('BTCUSDT') as number;
      push({ kind: 'bar', row: { ts, ts_ns: ts, symbol: 'BTCUSDT', open: close - 1, high: close + 2, low: close - 3, close, volume: random() * 100, trade_count: BigInt(Math.floor(random() * 500)), vwap: close - 0.5 } });
    }
  }
  return out;
}

/** Everything a caller can read, in one object (reads mark symbols used: run the same observe on both twins). */
function observe(tier: HotTier, nowTs: bigint, orderIds: readonly string[]): unknown {
  const before = tier.symbols();
  const perSymbol = ['BTCUSDT', 'BTC-J', 'ESU4', 'USDJPY', 'XRPETH', 'ZZZ'].map((symbol) => ({
    book: tier.book(symbol),
    trades: [0, 1, 13, 500, 100_000].map((n) => tier.recentTrades(symbol, n)),
    quotes: [0, 1, 13, 500, 100_000].map((n) => tier.recentQuotes(symbol, n)),
    tradesSince: [0n, nowTs - 30n * S, nowTs - S, nowTs + 1n].map((ts) => tier.tradesSince(symbol, ts)),
    quotesSince: [0n, nowTs - 30n * S, nowTs - S].map((ts) => tier.quotesSince(symbol, ts)),
    features: tier.features(symbol),
    lastBar: tier.lastBar(symbol),
    mark: tier.markPrice(symbol),
  }));
  const p = tier.portfolio;
  return {
    before,
    perSymbol,
    portfolio: {
      cash: p.cash, realized: p.realizedPnl, equity: p.equity(), open: p.openOrders(), positions: p.positions(), rejects: p.rejects,
      openCount: p.openOrderCount, orders: orderIds.map((id) => p.order(id)),
    },
    memory: tier.memory(),
    stats: tier.stats,
    after: tier.symbols(),
    options: tier.options,
  };
}

function expectSameBytes(a: Uint8Array, b: Uint8Array): void {
  expect(b.length).toBe(a.length);
  expect(Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))).toBe(true);
}

beforeAll(() => {
  btc = merge(load<TradeRow>(BTC_TRADES), load<QuoteRow>(BTC_QUOTES));
  expect(btc.length).toBe(19_998);
  stream = buildStream(20_200_222);
});

describe('hot snapshot: twin tiers on real data', () => {
  it('a tier restored at seeded random points answers every read and takes every later write exactly like the original', () => {
    const options: HotTierInput = {
      tradesCapacity: 60, quotesCapacity: 900, maxSymbols: 20,
      portfolio: { maxOpenOrders: 12, closedOrdersKept: 25, maxPositions: 4, initialCash: 100_000 },
    };
    const random = seededRandom(7);
    const points = Array.from({ length: 4 }, () => Math.floor(stream.length * (0.1 + 0.8 * random()))).sort((x, y) => x - y);
    const a = new HotTier(options);
    const twins: { readonly tier: HotTier; readonly from: number }[] = [];
    const results: unknown[][] = [[]];
    const orderIds = new Set<string>();
    let nowTs = 0n;
    let checkpoints = 0;
    const check = (i: number): void => {
      checkpoints++;
      const ids = [...orderIds].slice(-60);
      const bytesA = a.toSnapshot();
      const seenA = observe(a, nowTs, ids);
      for (const [k, twin] of twins.entries()) {
        expectSameBytes(bytesA, twin.tier.toSnapshot());
        expect(observe(twin.tier, nowTs, ids), `twin restored at op ${twin.from}, checked at op ${i}`).toStrictEqual(seenA);
        expect(results[k + 1]).toStrictEqual(results[0]?.slice(twin.from));
      }
    };
    for (let i = 0; i < stream.length; i++) {
      if (points.includes(i)) {
        // Alternate the source: every other twin is restored from a restored tier.
        const source = twins.length % 2 === 1 ? (twins[twins.length - 1] as { tier: HotTier }).tier : a;
        const tier = HotTier.fromSnapshot(source.toSnapshot());
        twins.push({ tier, from: i });
        results.push([]);
        check(i);
      }
      const op = stream[i] as Op;
      if (op.kind === 'trade' || op.kind === 'quote') nowTs = op.row.ts > nowTs ? op.row.ts : nowTs;
      if (op.kind === 'submit') orderIds.add(op.request.orderId);
      results[0]?.push(apply(a, op));
      for (const [k, twin] of twins.entries()) results[k + 1]?.push(apply(twin.tier, op));
      if (i % 2_500 === 0 && twins.length > 0) check(i);
    }
    check(stream.length);
    // The stream reached what it was built to reach, so the equalities above covered it.
    const stats = a.stats;
    expect(twins.length).toBe(4);
    expect(checkpoints).toBeGreaterThan(15);
    expect(stats.evictions.tradesByCapacity).toBeGreaterThan(0);
    expect(stats.evictions.quotesByCapacity).toBeGreaterThan(0);
    expect(stats.evictions.tradesByWindow).toBeGreaterThan(0);
    expect(stats.ignored.lateBars).toBeGreaterThan(0);
    expect(stats.ignored.exchangeOverflows).toBeGreaterThan(0);
    for (const reason of ['invalidRow', 'invalidSymbol', 'outsideWindow', 'unknownOrder', 'overfill', 'invalidFill', 'orderLimit'] as const) {
      expect(stats.rejects[reason], reason).toBeGreaterThan(0);
    }
    expect(a.portfolio.positions().length).toBeGreaterThan(0);
    expect(a.portfolio.realizedPnl).not.toBe(0);
    expect((a.features('BTCUSDT')?.trades ?? 0)).toBeGreaterThan(5_000);
  });

  it('keeps the exchange table\'s last lookup: a refused name repeated after the restore is not counted again', () => {
    const long = 'L'.repeat(65);
    const quote = (ts: bigint, exchange: string): QuoteRow => ({
      ts, ts_ns: ts, symbol: 'AAPL', bid_price: 1, bid_size: 1, ask_price: 2, ask_size: 1, bid_exchange: exchange, ask_exchange: exchange, conditions: '', tape: '',
    });
    const a = new HotTier({ tradesCapacity: 4, quotesCapacity: 4 });
    a.onQuote(quote(T0, long));
    const b = HotTier.fromSnapshot(a.toSnapshot());
    for (const tier of [a, b]) tier.onQuote(quote(T0 + 1n, long));
    expect(a.stats.ignored.exchangeOverflows).toBe(1);
    expect(b.stats).toStrictEqual(a.stats);
  });

  it('carries strings UTF-8 cannot (a lone surrogate in an order id) and money beyond 64 bits exactly', () => {
    const a = new HotTier({ tradesCapacity: 4, quotesCapacity: 4, portfolio: { initialCash: -1e30 } });
    const id = 'ord-\uD800-é-😀';
    expect(a.portfolio.submit({ orderId: id, symbol: 'BTC/USD', side: 'buy', qty: 1e12 }).ok).toBe(true);
    expect(a.portfolio.applyFill({ orderId: id, qty: 5e11, price: 123_456.789 }).ok).toBe(true);
    const b = HotTier.fromSnapshot(a.toSnapshot());
    expect(b.portfolio.order(id)).toStrictEqual(a.portfolio.order(id));
    expect(b.portfolio.openOrders()[0]?.orderId).toBe(id);
    expect(b.portfolio.cash).toBe(a.portfolio.cash);
    expect(b.portfolio.positions()).toStrictEqual(a.portfolio.positions());
    expect(b.options).toStrictEqual(a.options);
  });
});

describe('hot snapshot: least recently used symbols', () => {
  function lruRun(input: HotTierInput, seed: number): void {
    const random = seededRandom(seed);
    const universe = Array.from({ length: 40 }, (_, i) => `S${i}`);
    let ts = T0;
    const step = (tiers: readonly HotTier[]): void => {
      const symbol = universe[random() < 0.5 ? Math.floor(random() * 6) : Math.floor(random() * universe.length)] as string;
      ts += BigInt(1 + Math.floor(random() * 50_000_000));
      const roll = random();
      const price = 50 + random();
      const k = Math.floor(random() * 1e6);
      for (const tier of tiers) {
        if (roll < 0.4) tier.onTrade({ ts, ts_ns: ts, symbol, trade_id: BigInt(k), price, size: 1, exchange: 'V', conditions: '', tape: '' });
        else if (roll < 0.75) tier.onQuote({ ts, ts_ns: ts, symbol, bid_price: price, bid_size: 2, ask_price: price + 0.01, ask_size: 1, bid_exchange: 'Q', ask_exchange: 'Q', conditions: '', tape: '' });
        else if (roll < 0.85) tier.recentTrades(symbol, 5);
        else if (roll < 0.9) tier.book(symbol);
        else if (roll < 0.97) {
          const id = `o${k}`;
          if (tier.portfolio.submit({ orderId: id, symbol, side: roll < 0.93 ? 'buy' : 'sell', qty: 1 }).ok) tier.portfolio.applyFill({ orderId: id, qty: 1, price });
        } else tier.features(symbol);
      }
    };
    const a = new HotTier(input);
    for (let i = 0; i < 3_000; i++) step([a]);
    const evictedBefore = a.stats.evictions;
    expect(evictedBefore.symbolsOverMaxSymbols + evictedBefore.symbolsOverMemoryCeiling).toBeGreaterThan(100);
    const b = HotTier.fromSnapshot(a.toSnapshot());
    expect(b.symbols()).toEqual(a.symbols());
    expect(b.stats).toStrictEqual(a.stats);
    for (let i = 0; i < 3_000; i++) {
      step([a, b]);
      if (i % 100 === 0) {
        expect(b.symbols()).toEqual(a.symbols());
        expect(b.stats).toStrictEqual(a.stats);
        expect(b.memory()).toStrictEqual(a.memory());
        expect(b.portfolio.equity()).toBe(a.portfolio.equity());
        expectSameBytes(a.toSnapshot(), b.toSnapshot());
      }
    }
    const after = a.stats.evictions;
    expect(after.symbolsOverMaxSymbols + after.symbolsOverMemoryCeiling).toBeGreaterThan(evictedBefore.symbolsOverMaxSymbols + evictedBefore.symbolsOverMemoryCeiling + 100);
    expect(b.symbols()).toEqual(a.symbols());
    expect(b.stats).toStrictEqual(a.stats);
  }

  it('restores the LRU order and evicts the same symbols afterwards (maxSymbols bound)', () => {
    lruRun({ tradesCapacity: 32, quotesCapacity: 48, maxSymbols: 8 }, 11);
  });

  it('restores the LRU order and evicts the same symbols afterwards (memory ceiling bound)', () => {
    const probe = new HotTier({ tradesCapacity: 32, quotesCapacity: 48, maxSymbols: 1 }).memory();
    const ceiling = probe.reservedBytes + 6 * probe.perSymbolBytes + Math.floor(probe.perSymbolBytes / 2);
    lruRun({ tradesCapacity: 32, quotesCapacity: 48, maxSymbols: 1_000, memoryCeilingBytes: ceiling }, 12);
  });

  it('with a smaller maxSymbols or ceiling, evicts the least recently used at restore, counted, keeping their marks', () => {
    const a = new HotTier({ tradesCapacity: 16, quotesCapacity: 16, maxSymbols: 10 });
    for (let i = 0; i < 10; i++) {
      const ts = T0 + BigInt(i) * S;
      a.onTrade({ ts, ts_ns: ts, symbol: `S${i}`, trade_id: BigInt(i), price: 10 + i, size: 1, exchange: 'V', conditions: '', tape: '' });
      a.portfolio.submit({ orderId: `o${i}`, symbol: `S${i}`, side: 'buy', qty: 2 });
      a.portfolio.applyFill({ orderId: `o${i}`, qty: 2, price: 5 });
    }
    a.recentTrades('S3', 1);
    const bytes = a.toSnapshot();
    const b = HotTier.fromSnapshot(bytes, { maxSymbols: 4 });
    expect(b.symbols()).toEqual(a.symbols().slice(0, 4));
    expect(b.stats.evictions.symbolsOverMaxSymbols).toBe(6);
    // The evicted symbols' positions are valued at the marks they had, so equity is unchanged.
    expect(b.portfolio.equity()).toBe(a.portfolio.equity());
    expect(b.options.maxSymbols).toBe(4);
    const perSymbol = a.memory().perSymbolBytes;
    const fixed = a.memory().reservedBytes - 10 * perSymbol;
    const c = HotTier.fromSnapshot(bytes, { memoryCeilingBytes: fixed + 3 * perSymbol });
    expect(c.symbols()).toEqual(a.symbols().slice(0, 3));
    expect(c.stats.evictions.symbolsOverMemoryCeiling).toBe(7);
    expect(c.memory().reservedBytes).toBeLessThanOrEqual(fixed + 3 * perSymbol);
  });
});

describe('hot snapshot: options on restore', () => {
  const rings = (tier: HotTier, symbol = 'BTCUSDT') => ({
    trades: tier.recentTrades(symbol, 1e9),
    quotes: tier.recentQuotes(symbol, 1e9),
    since: tier.tradesSince(symbol, 0n),
    book: tier.book(symbol),
    features: tier.features(symbol),
  });

  function feed(tier: HotTier, from: number, to: number): void {
    for (let i = from; i < to; i++) apply(tier, btc[i] as Op);
  }

  it('keeps the snapshot\'s options when given none', () => {
    const a = new HotTier({ tradesCapacity: 77, quotesCapacity: 55, windowNs: 7n * S, maxSymbols: 9, features: { rsiPeriod: 5, volumeBucketNs: 3n * S }, portfolio: { closedOrdersKept: 3 } });
    expect(HotTier.fromSnapshot(a.toSnapshot()).options).toStrictEqual(a.options);
  });

  it('rebuilds rings to a smaller or larger capacity keeping the newest events, then runs like a tier built that way', () => {
    const half = btc.length / 2;
    const a = new HotTier({ tradesCapacity: 3_000, quotesCapacity: 3_000 });
    feed(a, 0, half);
    const smaller = HotTier.fromSnapshot(a.toSnapshot(), { tradesCapacity: 40, quotesCapacity: 400 });
    const reference = new HotTier({ tradesCapacity: 40, quotesCapacity: 400 });
    feed(reference, 0, half);
    expect(rings(smaller)).toStrictEqual(rings(reference));
    expect(smaller.recentTrades('BTCUSDT', 1e9).length).toBe(40);
    expect(smaller.stats.evictions.quotesByCapacity).toBe(a.stats.evictions.quotesByCapacity + a.recentQuotes('BTCUSDT', 1e9).length - 400);
    feed(smaller, half, btc.length);
    feed(reference, half, btc.length);
    expect(rings(smaller)).toStrictEqual(rings(reference));

    // Restored early, while the quotes still have minutes to come.
    const early = 2_000;
    const small = new HotTier({ tradesCapacity: 30, quotesCapacity: 300 });
    feed(small, 0, early);
    const larger = HotTier.fromSnapshot(small.toSnapshot(), { tradesCapacity: 3_000, quotesCapacity: 3_000 });
    expect(rings(larger)).toStrictEqual(rings(small));
    feed(larger, early, btc.length);
    feed(a, half, btc.length);
    // A minute after the restore, everything in the window arrived after it: the same as a tier always that large.
    expect(rings(larger)).toStrictEqual(rings(a));
    expect(larger.recentQuotes('BTCUSDT', 1e9).length).toBeGreaterThan(300);
  });

  it('drops events outside a shorter window, as a tier with that window would hold them', () => {
    const half = btc.length / 2;
    const a = new HotTier({ tradesCapacity: 5_000, quotesCapacity: 5_000 });
    feed(a, 0, half);
    const b = HotTier.fromSnapshot(a.toSnapshot(), { windowNs: 5n * S });
    const reference = new HotTier({ tradesCapacity: 5_000, quotesCapacity: 5_000, windowNs: 5n * S });
    feed(reference, 0, half);
    expect(rings(b)).toStrictEqual(rings(reference));
    expect(b.recentQuotes('BTCUSDT', 1e9).length).toBeLessThan(a.recentQuotes('BTCUSDT', 1e9).length);
    feed(b, half, btc.length);
    feed(reference, half, btc.length);
    expect(rings(b)).toStrictEqual(rings(reference));
  });

  it('refuses other feature periods and portfolio limits below the contents, naming them', () => {
    const a = new HotTier({ tradesCapacity: 8, quotesCapacity: 8 });
    feed(a, 0, 100);
    for (let i = 0; i < 5; i++) a.portfolio.submit({ orderId: `o${i}`, symbol: 'BTCUSDT', side: 'buy', qty: 1 });
    for (let i = 0; i < 3; i++) a.portfolio.cancel(`o${i}`);
    const bytes = a.toSnapshot();
    const refused = (overrides: HotTierInput): HotSnapshotError => {
      try {
        HotTier.fromSnapshot(bytes, overrides);
      } catch (e) {
        if (e instanceof HotSnapshotError) return e;
        throw e;
      }
      throw new Error('restore was not refused');
    };
    const features = refused({ features: { rsiPeriod: 21 } });
    expect(features.defect).toBe('incompatible');
    expect(features.message).toMatch(/features\.rsiPeriod 14 in the snapshot, 21 requested/);
    expect(refused({ portfolio: { maxOpenOrders: 1 } }).message).toMatch(/2 open orders, more than portfolio\.maxOpenOrders 1/);
    // Fewer closed orders kept: the oldest are forgotten, as the portfolio itself would.
    const trimmed = HotTier.fromSnapshot(bytes, { portfolio: { closedOrdersKept: 1 } });
    expect(trimmed.portfolio.order('o0')).toBeUndefined();
    expect(trimmed.portfolio.order('o2')?.status).toBe('cancelled');
    // Overrides that are invalid in themselves are a configuration error, as for the constructor.
    expect(() => HotTier.fromSnapshot(bytes, { tradesCapacity: 0 })).toThrow(HotTierConfigError);
    expect(() => HotTier.fromSnapshot(bytes, { memoryCeilingBytes: 1_000 })).toThrow(/cannot hold one symbol/);
  });
});

describe('hot snapshot: malformed payloads', () => {
  /** A small tier touching every part: wrapped rings, a late event, two exchanges, a bar, orders and positions. */
  function smallTier(): HotTier {
    const tier = new HotTier({ tradesCapacity: 4, quotesCapacity: 5, maxSymbols: 3, features: { bollingerPeriod: 4, volumeLookback: 3, volumeBucketNs: S } });
    for (let k = 0; k < 9; k++) {
      const ts = T0 + BigInt(k === 7 ? 3 : k) * 100_000_000n;
      tier.onTrade({ ts, ts_ns: ts, symbol: k % 3 === 0 ? 'ETH' : 'BTCUSDT', trade_id: BigInt(k), price: 100 + k, size: 1 + k, exchange: k % 2 === 0 ? 'A' : 'BB', conditions: '', tape: '' });
      tier.onQuote({ ts, ts_ns: ts, symbol: 'BTCUSDT', bid_price: 99 + k, bid_size: k === 4 ? null : 3, ask_price: 101 + k, ask_size: 2, bid_exchange: 'A', ask_exchange: 'BB', conditions: '', tape: '' });
    }
    tier.onBar({ ts: T0, ts_ns: T0, symbol: 'ETH', open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, trade_count: 3n, vwap: 1.2 });
    tier.portfolio.submit({ orderId: 'a', symbol: 'BTCUSDT', side: 'buy', qty: 2, limit: 110 });
    tier.portfolio.applyFill({ orderId: 'a', qty: 1, price: 105 });
    tier.portfolio.submit({ orderId: 'b', symbol: 'ETH', side: 'sell', qty: 1 });
    tier.portfolio.applyFill({ orderId: 'b', qty: 1, price: 103 });
    tier.portfolio.applyFill({ orderId: 'zz', qty: 1, price: 1 });
    return tier;
  }

  /** Restores, and when that succeeds uses the tier fully: nothing may throw but a HotSnapshotError from the restore. */
  function attempt(bytes: Uint8Array): HotSnapshotError | undefined {
    let tier: HotTier;
    try {
      tier = HotTier.fromSnapshot(bytes);
    } catch (e) {
      if (e instanceof HotSnapshotError) return e;
      throw e;
    }
    for (const symbol of tier.symbols()) {
      tier.book(symbol);
      tier.recentTrades(symbol, 100);
      tier.recentQuotes(symbol, 100);
      tier.tradesSince(symbol, T0);
      tier.quotesSince(symbol, T0);
      tier.features(symbol);
      tier.lastBar(symbol);
      const ts = T0 + 10n * S;
      tier.onTrade({ ts, ts_ns: ts, symbol, trade_id: 1n, price: 100, size: 1, exchange: 'A', conditions: '', tape: '' });
      tier.onQuote({ ts, ts_ns: ts, symbol, bid_price: 99, bid_size: 1, ask_price: 101, ask_size: 1, bid_exchange: 'A', ask_exchange: 'A', conditions: '', tape: '' });
    }
    tier.portfolio.equity();
    tier.portfolio.positions();
    tier.portfolio.openOrders();
    tier.portfolio.applyFill({ orderId: 'a', qty: 0.5, price: 100 });
    tier.memory();
    void tier.stats;
    HotTier.fromSnapshot(tier.toSnapshot());
    return undefined;
  }

  it('restores the small tier itself exactly (the base every damaged copy is made from)', () => {
    const a = smallTier();
    const bytes = a.toSnapshot();
    const b = HotTier.fromSnapshot(bytes);
    expect(observe(b, T0 + S, ['a', 'b'])).toStrictEqual(observe(a, T0 + S, ['a', 'b']));
    expect(a.recentTrades('BTCUSDT', 10).length).toBe(4);
    expect(a.stats.evictions.tradesByCapacity).toBe(2);
  });

  it('refuses every truncation, and bytes past the end', () => {
    const bytes = smallTier().toSnapshot();
    expect(bytes.length).toBeGreaterThan(500);
    for (let n = 0; n < bytes.length; n++) {
      const error = attempt(bytes.slice(0, n));
      expect(error?.defect, `truncated to ${n} of ${bytes.length} bytes`).toBe('malformed');
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(attempt(longer)?.message).toMatch(/1 bytes follow the end of the snapshot/);
  });

  it('never fails with anything but HotSnapshotError on 600 seeded random byte flips', () => {
    const bytes = smallTier().toSnapshot();
    const random = seededRandom(99);
    let refused = 0;
    for (let i = 0; i < 600; i++) {
      const damaged = bytes.slice();
      const at = Math.floor(random() * damaged.length);
      damaged[at] = (damaged[at] as number) ^ (1 + Math.floor(random() * 255));
      if (attempt(damaged) !== undefined) refused++;
    }
    // Flips inside a price or an average restore a tier with that value: the store's CRC is what catches those.
    console.log(`hot snapshot: ${refused} of 600 random byte flips refused by the decoder; the rest restored a usable tier`);
    expect(refused).toBeGreaterThan(200);
  });

  it('refuses 2^31 written over every offset without allocating for it', () => {
    const bytes = smallTier().toSnapshot();
    const rssBefore = process.memoryUsage().rss;
    const messages: string[] = [];
    for (let at = 0; at + 4 <= bytes.length; at++) {
      const damaged = bytes.slice();
      new DataView(damaged.buffer).setUint32(at, 2 ** 31, true);
      const error = attempt(damaged);
      if (error !== undefined) messages.push(error.message);
    }
    // Every count, length and slot field met it somewhere: each refused with a message naming it, none allocated.
    const named = messages.filter((m) => m.includes('2147483648'));
    for (const field of [
      /exchange names 2147483648 exceeds the limit/, /exchange name 0: 2147483648 bytes cannot hold/, /positions 2147483648 exceeds the limit/,
      /open orders 2147483648 exceeds the limit/, /closed orders 2147483648 exceeds the limit/, /symbols 2147483648 exceeds the limit/,
      /head slot 2147483648 is outside/, /2147483648 events held exceed the ring capacity/, /bollinger count 2147483648 exceeds/,
      /volume history count 2147483648 exceeds/,
    ]) expect(named.some((m) => field.test(m)), String(field)).toBe(true);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * 1024 * 1024);

    // The symbol count is the last field of a tier without symbols: a count with nothing behind it.
    const empty = new HotTier({ maxSymbols: 2 ** 40 }).toSnapshot();
    new DataView(empty.buffer, empty.byteOffset).setUint32(empty.length - 4, 2 ** 31, true);
    expect(() => HotTier.fromSnapshot(empty)).toThrow(/symbols claims 2147483648 items of at least 256 bytes, but only 0 bytes remain/);
  });

  it('names an unknown version, a foreign payload and bad options', () => {
    const bytes = smallTier().toSnapshot();
    const future = bytes.slice();
    future[4] = HOT_SNAPSHOT_VERSION + 1;
    expect(attempt(future)?.defect).toBe('unknownVersion');
    expect(attempt(future)?.message).toMatch(/version 2 is not readable by this build, which reads version 1/);
    expect(attempt(new TextEncoder().encode('{"not":"a snapshot"}'))?.message).toMatch(/not a hot-tier snapshot/);
    expect(attempt(new Uint8Array(0))?.defect).toBe('malformed');
    expect(() => HotTier.fromSnapshot('TVHS' as unknown as Uint8Array)).toThrow(HotSnapshotError);
    // tradesCapacity is the first f64 after the magic, the version and windowNs (sign, u16 length, 5 bytes for 60 s).
    const badOption = bytes.slice();
    new DataView(badOption.buffer).setFloat64(5 + 3 + 5, 0.5, true);
    expect(attempt(badOption)?.message).toMatch(/options it was taken with are invalid: hot tier option tradesCapacity = 0.5/);
  });
});

describe('hot snapshot: size and speed', () => {
  it('reports the snapshot of 10 symbols at full rings (60 000 trades and 60 000 quotes each)', () => {
    const tier = new HotTier({ maxSymbols: 10 });
    const capacity = tier.options.tradesCapacity;
    for (let s = 0; s < 10; s++) {
      const symbol = `SYM${s}`;
      for (let k = 0; k < capacity + 1_000; k++) {
        const ts = T0 + BigInt(k) * 999_000n;
        const price = 100 + s + (k % 97) / 100;
        tier.onTrade({ ts, ts_ns: ts, symbol, trade_id: BigInt(k), price, size: 1 + (k % 7), exchange: 'V', conditions: '', tape: '' });
        tier.onQuote({ ts, ts_ns: ts, symbol, bid_price: price - 0.01, bid_size: 3, ask_price: price + 0.01, ask_size: 4, bid_exchange: 'Q', ask_exchange: 'Q', conditions: '', tape: '' });
      }
      expect(tier.recentTrades(symbol, 1e9).length).toBe(capacity);
    }
    let bytes: Uint8Array = new Uint8Array(0);
    let restored = tier;
    const runs = 3;
    let writeMs = Infinity;
    let readMs = Infinity;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      bytes = tier.toSnapshot();
      const t1 = performance.now();
      restored = HotTier.fromSnapshot(bytes);
      const t2 = performance.now();
      writeMs = Math.min(writeMs, t1 - t0);
      readMs = Math.min(readMs, t2 - t1);
    }
    const ringBytes = 10 * capacity * (33 + 42);
    console.log([
      'hot snapshot, 10 symbols at full rings (best of 3):',
      `  payload        ${bytes.length} bytes (${(bytes.length / 1e6).toFixed(2)} MB; ring columns ${ringBytes}, the rest ${bytes.length - ringBytes})`,
      `  toSnapshot     ${writeMs.toFixed(1)} ms`,
      `  fromSnapshot   ${readMs.toFixed(1)} ms`,
      `  memory() held  ${tier.memory().totalBytes} bytes`,
    ].join('\n'));
    expect(bytes.length).toBeGreaterThan(ringBytes);
    expect(bytes.length).toBeLessThan(ringBytes + 16_384);
    expectSameBytes(bytes, restored.toSnapshot());
    expect(restored.symbols()).toEqual(tier.symbols());
    expect(restored.recentQuotes('SYM3', 1e9)).toStrictEqual(tier.recentQuotes('SYM3', 1e9));
  });
});
