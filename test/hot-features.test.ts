/**
 * Every feature checked against a from-scratch reference (plain arrays, recomputed over the whole history at every
 * step) on real Binance BTCUSDT futures trades and quotes (2020-02-22), after every event.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { HotTier } from '../edge-agent/hot/hot-tier.ts';
import { sharedDataDir } from './support/shared-data.ts';

const MINUTE = 60_000_000_000n;

type Event = { kind: 'trade'; row: TradeRow } | { kind: 'quote'; row: QuoteRow };

let trades: TradeRow[] = [];
let events: Event[] = [];

beforeAll(() => {
  const load = (name: string) => {
    const parsed = parseMarketCsv(readFileSync(join(sharedDataDir(), name), 'utf8'), name);
    expect(parsed.errors).toEqual([]);
    return parsed.records;
  };
  trades = load('trades_tardis_binance-futures_BTCUSDT_20200222.csv').map((r) => r.row as TradeRow);
  const quotes = load('quotes_tardis_binance-futures_BTCUSDT_20200222.csv').map((r) => r.row as QuoteRow);
  expect(trades.length).toBe(9_999);
  expect(quotes.length).toBe(9_999);
  // Merge by event time; a quote goes before a trade of the same nanosecond.
  events = [];
  let q = 0;
  for (const t of trades) {
    while (q < quotes.length && (quotes[q] as QuoteRow).ts <= t.ts) events.push({ kind: 'quote', row: quotes[q++] as QuoteRow });
    events.push({ kind: 'trade', row: t });
  }
  while (q < quotes.length) events.push({ kind: 'quote', row: quotes[q++] as QuoteRow });
});

// ---- references: the textbook definitions, recomputed from the full price list each time -------------------------

function referenceRsi(prices: readonly number[], period: number): number | null {
  if (prices.length < period + 1) return null;
  let avgGain = 0;
  let avgLoss = 0;
  for (let i = 1; i <= period; i++) {
    const change = (prices[i] as number) - (prices[i - 1] as number);
    avgGain += Math.max(change, 0);
    avgLoss += Math.max(-change, 0);
  }
  avgGain /= period;
  avgLoss /= period;
  for (let i = period + 1; i < prices.length; i++) {
    const change = (prices[i] as number) - (prices[i - 1] as number);
    avgGain = (avgGain * (period - 1) + Math.max(change, 0)) / period;
    avgLoss = (avgLoss * (period - 1) + Math.max(-change, 0)) / period;
  }
  if (avgLoss === 0) return avgGain === 0 ? 50 : 100;
  return 100 - 100 / (1 + avgGain / avgLoss);
}

/** EMA series (NaN before the period-th value), seeded with the simple mean of the first `period` values. */
function referenceEma(values: readonly number[], period: number): number[] {
  const alpha = 2 / (period + 1);
  const out = new Array<number>(values.length).fill(Number.NaN);
  if (values.length < period) return out;
  let ema = 0;
  for (let i = 0; i < period; i++) ema += values[i] as number;
  ema /= period;
  out[period - 1] = ema;
  for (let i = period; i < values.length; i++) out[i] = ema = alpha * (values[i] as number) + (1 - alpha) * ema;
  return out;
}

function referenceMacd(prices: readonly number[], fast: number, slow: number, signal: number) {
  const fastEma = referenceEma(prices, fast);
  const slowEma = referenceEma(prices, slow);
  const line: number[] = [];
  for (let i = slow - 1; i < prices.length; i++) line.push((fastEma[i] as number) - (slowEma[i] as number));
  const signalEma = referenceEma(line, signal);
  const last = line.length - 1;
  const sig = last >= signal - 1 ? (signalEma[last] as number) : null;
  return {
    macd: last >= 0 ? (line[last] as number) : null,
    signal: sig,
    histogram: sig === null ? null : (line[last] as number) - sig,
  };
}

function referenceBands(prices: readonly number[], period: number, k: number) {
  if (prices.length < period) return null;
  const window = prices.slice(-period);
  const mean = window.reduce((a, b) => a + b, 0) / period;
  const variance = window.reduce((a, b) => a + (b - mean) ** 2, 0) / period; // population
  const sd = Math.sqrt(variance);
  return { lower: mean - k * sd, middle: mean, upper: mean + k * sd };
}

/**
 * Volume of the current bucket / mean volume of up to `lookback` previous buckets counted from the first trade's
 * bucket, over the first n trades. buckets[i] = floor(ts_i / bucketNs), computed once up front.
 */
function referenceVolumeRatio(buckets: readonly number[], sizes: readonly number[], n: number, lookback: number): number | null {
  const first = buckets[0] as number;
  const current = buckets[n - 1] as number;
  const volumes = new Map<number, number>();
  for (let i = 0; i < n; i++) volumes.set(buckets[i] as number, (volumes.get(buckets[i] as number) ?? 0) + (sizes[i] as number));
  const previous = Math.min(current - first, lookback);
  if (previous === 0) return null;
  let sum = 0;
  for (let k = previous; k >= 1; k--) sum += volumes.get(current - k) ?? 0;
  const mean = sum / previous;
  return mean > 0 ? (volumes.get(current) ?? 0) / mean : null;
}

const bucketsOf = (rows: readonly TradeRow[], bucketNs: bigint): number[] => rows.map((t) => Number(t.ts / bucketNs));

/** 1e-9 relative; values below 1 in magnitude are compared to 1e-9 absolute (MACD and imbalance cross zero). */
function expectClose(actual: number | null, expected: number | null, what: string): void {
  if (expected === null || actual === null) {
    if (actual !== expected) throw new Error(`${what}: got ${actual}, reference ${expected}`);
    return;
  }
  const tolerance = 1e-9 * Math.max(1, Math.abs(actual), Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tolerance)) throw new Error(`${what}: got ${actual}, reference ${expected} (off by ${Math.abs(actual - expected)})`);
}

describe('feature cache against references on real BTCUSDT trades and quotes', () => {
  it('matches RSI(14), MACD(12,26,9), Bollinger(20,2), volume ratio and book imbalance after every event', () => {
    const tier = new HotTier({ tradesCapacity: 16, quotesCapacity: 16, maxSymbols: 1 });
    const prices: number[] = [];
    const seen: TradeRow[] = [];
    let lastQuote: QuoteRow | undefined;
    let checked = 0;
    const minuteBuckets = bucketsOf(trades, MINUTE);
    const sizes = trades.map((t) => t.size);
    // Trade-derived references change only on a trade: recomputed from scratch then, compared after every event.
    let reference: {
      rsi: number | null; macd: ReturnType<typeof referenceMacd>; bands: ReturnType<typeof referenceBands>; volumeRatio: number | null;
    } | undefined;
    for (const [i, e] of events.entries()) {
      if (e.kind === 'quote') {
        expect(tier.onQuote(e.row)).toBe(true);
        lastQuote = e.row;
      } else {
        expect(tier.onTrade(e.row)).toBe(true);
        prices.push(e.row.price);
        seen.push(e.row);
        reference = {
          rsi: referenceRsi(prices, 14),
          macd: referenceMacd(prices, 12, 26, 9),
          bands: referenceBands(prices, 20, 2),
          volumeRatio: referenceVolumeRatio(minuteBuckets, sizes, seen.length, 10),
        };
      }
      if (reference === undefined) continue;
      const f = tier.features('BTCUSDT');
      if (f === undefined) throw new Error('features missing');
      const at = `event ${i} (trade ${seen.length})`;
      expect(f.trades).toBe(seen.length);
      expect(f.lastPrice).toBe(prices[prices.length - 1]);
      expect(f.lastTradeTsNs).toBe((seen[seen.length - 1] as TradeRow).ts);
      expectClose(f.rsi, reference.rsi, `${at} rsi`);
      const macd = reference.macd;
      expectClose(f.macd, macd.macd, `${at} macd`);
      expectClose(f.macdSignal, macd.signal, `${at} macd signal`);
      expectClose(f.macdHistogram, macd.histogram, `${at} macd histogram`);
      const bands = reference.bands;
      expectClose(f.bollingerLower, bands?.lower ?? null, `${at} bollinger lower`);
      expectClose(f.bollingerMiddle, bands?.middle ?? null, `${at} bollinger middle`);
      expectClose(f.bollingerUpper, bands?.upper ?? null, `${at} bollinger upper`);
      if (bands !== null && f.bollingerUpper !== null && f.bollingerLower !== null) {
        // The width is where cancellation would show first: hold it to 1e-9 of the price, too.
        expectClose((f.bollingerUpper - f.bollingerLower) / 1e4, (bands.upper - bands.lower) / 1e4, `${at} bollinger width`);
      }
      expectClose(f.volumeRatio, reference.volumeRatio, `${at} volume ratio`);
      const imbalance = lastQuote === undefined || lastQuote.bid_size === null || lastQuote.ask_size === null
        ? null
        : (lastQuote.bid_size - lastQuote.ask_size) / (lastQuote.bid_size + lastQuote.ask_size);
      expectClose(f.bookImbalance, imbalance, `${at} book imbalance`);
      checked++;
    }
    expect(checked).toBe(events.length - events.findIndex((e) => e.kind === 'trade'));
  });

  it('becomes ready exactly when each definition has enough trades', () => {
    const tier = new HotTier({ tradesCapacity: 64, quotesCapacity: 4, maxSymbols: 1 });
    for (let n = 1; n <= 40; n++) {
      tier.onTrade(trades[n - 1] as TradeRow);
      const f = tier.features('BTCUSDT');
      expect(f?.rsi === null).toBe(n < 15); // 14 changes need 15 prices
      expect(f?.macd === null).toBe(n < 26);
      expect(f?.macdSignal === null).toBe(n < 34); // 9 MACD values: trades 26..34
      expect(f?.macdHistogram === null).toBe(n < 34);
      expect(f?.bollingerMiddle === null).toBe(n < 20);
      expect(f?.bookImbalance).toBeNull(); // no quote yet
    }
  });

  it('takes its periods from the options (RSI 5, MACD 3/7/4, Bollinger 10 x 1.5, 5-second volume buckets over 3)', () => {
    const tier = new HotTier({
      tradesCapacity: 16, quotesCapacity: 16, maxSymbols: 1,
      features: { rsiPeriod: 5, macdFast: 3, macdSlow: 7, macdSignal: 4, bollingerPeriod: 10, bollingerK: 1.5, volumeBucketNs: 5_000_000_000n, volumeLookback: 3 },
    });
    const prices: number[] = [];
    const buckets = bucketsOf(trades, 5_000_000_000n);
    const sizes = trades.map((t) => t.size);
    for (const [i, t] of trades.slice(0, 3_000).entries()) {
      tier.onTrade(t);
      prices.push(t.price);
      const f = tier.features('BTCUSDT');
      if (f === undefined) throw new Error('features missing');
      expectClose(f.rsi, referenceRsi(prices, 5), `trade ${i} rsi(5)`);
      const macd = referenceMacd(prices, 3, 7, 4);
      expectClose(f.macd, macd.macd, `trade ${i} macd`);
      expectClose(f.macdSignal, macd.signal, `trade ${i} signal`);
      expectClose(f.macdHistogram, macd.histogram, `trade ${i} histogram`);
      const bands = referenceBands(prices, 10, 1.5);
      expectClose(f.bollingerUpper, bands?.upper ?? null, `trade ${i} upper`);
      expectClose(f.bollingerLower, bands?.lower ?? null, `trade ${i} lower`);
      expectClose(f.volumeRatio, referenceVolumeRatio(buckets, sizes, i + 1, 3), `trade ${i} volume ratio`);
    }
  });

  it('gives RSI 50 when nothing moves and 100 when nothing falls', () => {
    const flat = new HotTier({ tradesCapacity: 64, quotesCapacity: 4, maxSymbols: 1 });
    const rising = new HotTier({ tradesCapacity: 64, quotesCapacity: 4, maxSymbols: 1 });
    const base = trades[0] as TradeRow;
    for (let i = 0; i < 20; i++) {
      flat.onTrade({ ...base, ts: base.ts + BigInt(i), trade_id: BigInt(i) });
      rising.onTrade({ ...base, ts: base.ts + BigInt(i), trade_id: BigInt(i), price: base.price + i });
    }
    expect(flat.features('BTCUSDT')?.rsi).toBe(50);
    expect(flat.features('BTCUSDT')?.bollingerUpper).toBe(base.price); // zero width, exactly
    expect(rising.features('BTCUSDT')?.rsi).toBe(100);
  });
});
