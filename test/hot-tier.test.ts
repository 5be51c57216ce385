import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import type { BarRow, QuoteRow, TradeRow } from '../core/datasets.ts';
import { HotTierConfigError } from '../edge-agent/hot/errors.ts';
import { ExchangeTable } from '../edge-agent/hot/exchange-table.ts';
import { HotTier } from '../edge-agent/hot/hot-tier.ts';
import { QuoteWindow } from '../edge-agent/hot/quote-window.ts';
import { TradeWindow } from '../edge-agent/hot/trade-window.ts';
import { sharedDataDir } from './support/shared-data.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const T0 = 1_582_329_602_111_000_000n;
const S = 1_000_000_000n;

function trade(symbol: string, k: number, price = 100 + k, ts = T0 + BigInt(k) * 1_000_000n): TradeRow {
  return { ts, ts_ns: ts, symbol, trade_id: BigInt(k), price, size: 1 + k / 100, exchange: 'V', conditions: '', tape: '' };
}

function quote(symbol: string, ts: bigint, bid: number, bidSize: number | null, ask: number, askSize: number | null, exchange = 'Q'): QuoteRow {
  return {
    ts, ts_ns: ts, symbol, bid_price: bid, bid_size: bidSize, ask_price: ask, ask_size: askSize,
    bid_exchange: exchange, ask_exchange: exchange, conditions: '', tape: '',
  };
}

describe('hot tier: book', () => {
  it('keeps the top of book with mid, spread, imbalance and exchanges; a late quote goes to the ring, not the book', () => {
    const tier = new HotTier({ tradesCapacity: 8, quotesCapacity: 8 });
    expect(tier.book('AAPL')).toBeUndefined();
    tier.onQuote(quote('AAPL', T0 + 2n, 189.5, 300, 190.5, 100));
    expect(tier.book('AAPL')).toEqual({
      symbol: 'AAPL', bidPrice: 189.5, bidSize: 300, askPrice: 190.5, askSize: 100, bidExchange: 'Q', askExchange: 'Q',
      updateTsNs: T0 + 2n, mid: 190, spread: 1, imbalance: 0.5,
    });
    expect(tier.onQuote(quote('AAPL', T0 + 1n, 1, 1, 2, 1))).toBe(true); // late
    expect(tier.book('AAPL')?.updateTsNs).toBe(T0 + 2n);
    expect(tier.recentQuotes('AAPL', 5).length).toBe(2);
    expect(tier.stats.ignored.lateBookQuotes).toBe(1);
    tier.onQuote(quote('AAPL', T0 + 3n, 189.6, null, 189.7, null, 'N'));
    expect(tier.book('AAPL')).toMatchObject({ bidSize: null, askSize: null, imbalance: null, bidExchange: 'N' });
    expect(tier.features('AAPL')?.bookImbalance).toBeNull();
  });

  it('keeps the newest bar of each symbol', () => {
    const tier = new HotTier({ tradesCapacity: 8, quotesCapacity: 8 });
    const bar = (ts: bigint, close: number): BarRow => ({
      ts, ts_ns: ts, symbol: 'SPY', open: 1, high: 2, low: 0.5, close, volume: 10, trade_count: 3n, vwap: 1.5,
    });
    tier.onBar(bar(T0 + 60n * S, 1.9));
    tier.onBar(bar(T0, 1.1)); // older: ignored
    expect(tier.lastBar('SPY')).toEqual({ symbol: 'SPY', tsNs: T0 + 60n * S, open: 1, high: 2, low: 0.5, close: 1.9, volume: 10, tradeCount: 3n, vwap: 1.5 });
    expect(tier.stats.ignored.lateBars).toBe(1);
  });
});

describe('hot tier: reads', () => {
  it('never mutate: the same answer twice, ring positions unchanged, returned arrays owned by the caller', () => {
    const tier = new HotTier({ tradesCapacity: 50, quotesCapacity: 50 });
    for (let k = 0; k < 120; k++) tier.onTrade(trade('BTCUSDT', k));
    const before = tier.memory();
    const a = tier.recentTrades('BTCUSDT', 100);
    const b = tier.recentTrades('BTCUSDT', 100);
    expect(a.length).toBe(50);
    expect(b).toEqual(a);
    expect([...a.tradeId].map(Number)).toEqual(Array.from({ length: 50 }, (_, i) => 70 + i));
    a.price.fill(0);
    a.tsNs.fill(0n);
    expect(tier.recentTrades('BTCUSDT', 100)).toEqual(b);
    expect(tier.tradesSince('BTCUSDT', T0 + 100n * 1_000_000n).length).toBe(20);
    expect(tier.tradesSince('BTCUSDT', T0 + 100n * 1_000_000n)).toEqual(tier.tradesSince('BTCUSDT', T0 + 100n * 1_000_000n));
    expect(tier.features('BTCUSDT')).toEqual(tier.features('BTCUSDT'));
    expect(tier.memory()).toEqual(before);
    expect(tier.stats.accepted.trades).toBe(120);
    const names = a.exchangeNames;
    expect([...a.exchangeCode].every((c) => names[c] === 'V')).toBe(true);
  });

  it('does not create a symbol on read, and reads of an unknown symbol are empty', () => {
    const tier = new HotTier({ tradesCapacity: 8, quotesCapacity: 8 });
    expect(tier.recentTrades('NOPE', 10).length).toBe(0);
    expect(tier.recentQuotes('NOPE', 10).length).toBe(0);
    expect(tier.tradesSince('NOPE', 0n).length).toBe(0);
    expect(tier.quotesSince('NOPE', 0n).length).toBe(0);
    expect(tier.features('NOPE')).toBeUndefined();
    expect(tier.lastBar('NOPE')).toBeUndefined();
    expect(tier.symbols()).toEqual([]);
  });

  it('evicts by event time across the tier: the 60-second window is the default', () => {
    const tier = new HotTier({ tradesCapacity: 1_000, quotesCapacity: 8 });
    for (let s = 0; s <= 120; s++) tier.onTrade(trade('ETH', s, 10, T0 + BigInt(s) * S));
    const held = tier.recentTrades('ETH', 1_000);
    expect(held.length).toBe(60); // seconds 61..120: 120 - 60 = 60 is exactly a window old
    expect(held.tsNs[0]).toBe(T0 + 61n * S);
    expect(tier.stats.evictions.tradesByWindow).toBe(61);
    expect(tier.onTrade(trade('ETH', 999, 10, T0 + 60n * S))).toBe(false);
    expect(tier.stats.rejects.outsideWindow).toBe(1);
  });
});

describe('hot tier: least recently used symbols', () => {
  it('evicts the symbol least recently written or read once maxSymbols is reached', () => {
    const tier = new HotTier({ tradesCapacity: 4, quotesCapacity: 4, maxSymbols: 3 });
    tier.onTrade(trade('A', 1));
    tier.onTrade(trade('B', 2));
    tier.onTrade(trade('C', 3));
    expect(tier.symbols()).toEqual(['C', 'B', 'A']);
    tier.recentTrades('A', 1); // a read counts as use
    expect(tier.symbols()).toEqual(['A', 'C', 'B']);
    tier.onTrade(trade('D', 4));
    expect(tier.symbols()).toEqual(['D', 'A', 'C']); // B was least recently used
    tier.onQuote(quote('C', T0, 1, 1, 2, 1)); // a write counts as use
    tier.onTrade(trade('E', 5));
    expect(tier.symbols()).toEqual(['E', 'C', 'D']);
    tier.book('D');
    tier.onTrade(trade('F', 6));
    expect(tier.symbols()).toEqual(['F', 'D', 'E']);
    expect(tier.stats.evictions.symbolsOverMaxSymbols).toBe(3);
    expect(tier.recentTrades('B', 10).length).toBe(0);
    // A symbol that comes back starts empty.
    tier.onTrade(trade('A', 7));
    expect([...tier.recentTrades('A', 10).tradeId]).toEqual([7n]);
    expect(tier.features('A')?.trades).toBe(1);
  });

  it('refuses invalid symbols and rows, counting each', () => {
    const tier = new HotTier({ tradesCapacity: 4, quotesCapacity: 4 });
    expect(tier.onTrade(trade('../etc', 1))).toBe(false);
    expect(tier.onTrade(trade('X'.repeat(33), 1))).toBe(false);
    expect(tier.onTrade(trade('OK', 1, Number.NaN))).toBe(false);
    expect(tier.onTrade({ ...trade('OK', 1), size: -1 })).toBe(false);
    expect(tier.onQuote(quote('OK', T0, 0, 1, 1, 1))).toBe(false);
    expect(tier.onQuote(quote('OK', T0, 1, -1, 1, 1))).toBe(false);
    expect(tier.stats.rejects).toMatchObject({ invalidSymbol: 2, invalidRow: 4 });
    expect(tier.symbols()).toEqual([]);
  });
});

describe('hot tier: memory', () => {
  it('refuses at construction a ceiling that cannot hold one symbol, naming the option and the need', () => {
    expect(() => new HotTier({ memoryCeilingBytes: 4_000_000 })).toThrow(HotTierConfigError);
    expect(() => new HotTier({ memoryCeilingBytes: 4_000_000 })).toThrow(/memoryCeilingBytes 4000000 cannot hold one symbol: a symbol needs \d+ bytes/);
    expect(() => new HotTier({ tradesCapacity: 0 })).toThrow(/tradesCapacity = 0/);
    expect(() => new HotTier({ windowNs: 0n })).toThrow(/windowNs/);
    expect(() => new HotTier({ features: { macdFast: 30 } })).toThrow(/macdFast 30 must be below features.macdSlow 26/);
    expect(() => new HotTier({ portfolio: { maxOpenOrders: 0 } })).toThrow(/portfolio.maxOpenOrders/);
  });

  it('counts the real bytes of its typed arrays, per component', () => {
    const tier = new HotTier({ tradesCapacity: 1_000, quotesCapacity: 2_000 });
    tier.onTrade(trade('A', 1));
    tier.onQuote(quote('B', T0, 1, 1, 2, 1));
    const m = tier.memory();
    expect(m.symbolCount).toBe(2);
    // Each symbol preallocates both rings: 33 B per trade slot, 42 B per quote slot, plus object overhead.
    expect(m.byComponent.trades).toBe(2 * new TradeWindow(1_000, S, new ExchangeTable()).byteSize);
    expect(m.byComponent.quotes).toBe(2 * new QuoteWindow(2_000, S, new ExchangeTable()).byteSize);
    expect(m.byComponent.trades).toBeGreaterThan(2 * 1_000 * 33);
    expect(m.byComponent.quotes).toBeGreaterThan(2 * 2_000 * 42);
    const sum = Object.values(m.byComponent).reduce((a, b) => a + b, 0);
    expect(m.totalBytes).toBe(sum);
    expect(m.totalBytes).toBeLessThanOrEqual(m.reservedBytes);
  });

  it('never exceeds the ceiling with thousands of symbols under random writes and reads (seeded)', () => {
    const random = seededRandom(42);
    const tradesCapacity = 64;
    const quotesCapacity = 96;
    const probe = new HotTier({ tradesCapacity, quotesCapacity, maxSymbols: 1 });
    const perSymbol = probe.memory().perSymbolBytes;
    const fixed = probe.memory().reservedBytes; // nothing held yet: all of it is the fixed reservation
    const fits = 40;
    const ceiling = fixed + fits * perSymbol + Math.floor(perSymbol / 2);
    const tier = new HotTier({ tradesCapacity, quotesCapacity, maxSymbols: 10_000, memoryCeilingBytes: ceiling });
    const universe = Array.from({ length: 5_000 }, (_, i) => `SYM${i}`);
    let ts = T0;
    let maxTotal = 0;
    let maxReserved = 0;
    for (let step = 0; step < 30_000; step++) {
      // Skewed choice: a few hot symbols, a long tail, so both reuse and eviction happen.
      const pick = random() < 0.5 ? Math.floor(random() * 30) : Math.floor(random() * universe.length);
      const symbol = universe[pick] as string;
      ts += BigInt(1 + Math.floor(random() * 5_000_000));
      const roll = random();
      if (roll < 0.45) tier.onTrade(trade(symbol, step, 50 + random(), ts));
      else if (roll < 0.85) tier.onQuote(quote(symbol, ts, 50, random() * 10, 50.01, random() * 10));
      else if (roll < 0.95) tier.recentTrades(symbol, 1 + Math.floor(random() * 100));
      else tier.features(symbol);
      const m = tier.memory();
      maxTotal = Math.max(maxTotal, m.totalBytes);
      maxReserved = Math.max(maxReserved, m.reservedBytes);
      if (m.totalBytes > ceiling || m.reservedBytes > ceiling || m.symbolCount > fits) {
        throw new Error(`step ${step}: ${m.totalBytes} held, ${m.reservedBytes} reserved, ${m.symbolCount} symbols over ceiling ${ceiling}`);
      }
    }
    const stats = tier.stats;
    expect(tier.symbols().length).toBe(fits);
    expect(stats.evictions.symbolsOverMemoryCeiling).toBeGreaterThan(1_000);
    expect(stats.evictions.symbolsOverMaxSymbols).toBe(0);
    // The bound was actually reached: every slot of the ceiling was in use, and held bytes are real ring bytes.
    expect(maxReserved).toBe(fixed + fits * perSymbol);
    expect(maxTotal).toBeGreaterThan(fits * (tradesCapacity * 33 + quotesCapacity * 42));
  });

  it('fits the design\'s 10 symbols (60 s of 1000 trades/s and 1000 quotes/s each) under 60 MB', () => {
    const tier = new HotTier({ maxSymbols: 10 });
    for (let i = 0; i < 10; i++) tier.onTrade(trade(`S${i}`, i));
    const m = tier.memory();
    expect(m.symbolCount).toBe(10);
    expect(m.totalBytes).toBeLessThan(60_000_000);
    expect(m.perSymbolBytes).toBeLessThan(4_600_000);
  });
});

describe('hot tier: real data end to end', () => {
  it('takes every BTCUSDT trade and quote of the sample and reads the last minute back in order', () => {
    const load = (name: string) => parseMarketCsv(readFileSync(join(sharedDataDir(), name), 'utf8'), name).records;
    const trades = load('trades_tardis_binance-futures_BTCUSDT_20200222.csv').map((r) => r.row as TradeRow);
    const quotes = load('quotes_tardis_binance-futures_BTCUSDT_20200222.csv').map((r) => r.row as QuoteRow);
    const tier = new HotTier();
    for (const q of quotes) expect(tier.onQuote(q)).toBe(true);
    for (const t of trades) expect(tier.onTrade(t)).toBe(true);
    const last = trades[trades.length - 1] as TradeRow;
    const expected = trades.filter((t) => last.ts - t.ts < 60n * S);
    const held = tier.recentTrades('BTCUSDT', 100_000);
    expect([...held.tradeId]).toEqual(expected.map((t) => t.trade_id));
    expect([...held.price]).toEqual(expected.map((t) => t.price));
    expect(held.exchangeNames[held.exchangeCode[0] as number]).toBe('BINANCE_FUTURES');
    const since = last.ts - 10n * S;
    expect([...tier.tradesSince('BTCUSDT', since).tradeId]).toEqual(trades.filter((t) => t.ts >= since).map((t) => t.trade_id));
    const lastQuote = quotes[quotes.length - 1] as QuoteRow;
    expect(tier.book('BTCUSDT')).toMatchObject({ bidPrice: lastQuote.bid_price, askPrice: lastQuote.ask_price, updateTsNs: lastQuote.ts });
  });
});
