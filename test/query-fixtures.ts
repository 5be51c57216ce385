/**
 * Shared by the query tests: stores of real Parquet files laid out as the agent and the compactor lay them out
 * (warm part objects with a day manifest beside them, cold month files with the compactor's `_manifest-`/`_plan-`
 * files beside them, the agent's local warm files), a store wrapper that counts the objects opened, and a hot view
 * shaped like the agent's for a real read API.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { encodeParquet } from '../core/codec/parquet-file.ts';
import { type BarRow, type DatasetName, type QuoteRow, type RowOf, SCHEMA_VERSION, type TradeRow } from '../core/datasets.ts';
import { COLD_PREFIX, coldFilePath, warmFilePath, warmManifestKey, warmObjectKey } from '../core/layout.ts';
import type { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { symbolToPath } from '../core/symbols.ts';
import { expect } from 'vitest';
import { dateOfNs, formatNs } from '../core/time.ts';
import { type WarmManifestObject, encodeWarmManifest, readWarmManifest } from '../core/warm-manifest.ts';
import type { HotView } from '../edge-agent/http/read-api.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

export const NS_PER_MINUTE = 60_000_000_000n;

/** Midnight UTC of a date, in ns. */
export const dayNs = (date: string): bigint => BigInt(Date.parse(`${date}T00:00:00Z`)) * 1_000_000n;
/** An ISO instant in ns. */
export const isoNs = (iso: string): bigint => BigInt(Date.parse(iso)) * 1_000_000n;

/** Trades of one symbol every `stepNs` over [fromNs, toNs), ids from idStart, prices a seeded walk. */
export function genTrades(symbol: string, fromNs: bigint, toNs: bigint, stepNs: bigint, idStart: bigint, seed: number): TradeRow[] {
  const rand = seededRandom(seed);
  const rows: TradeRow[] = [];
  let price = 100 + rand() * 50;
  let id = idStart;
  for (let t = fromNs; t < toNs; t += stepNs) {
    // A jitter below the step keeps timestamps increasing but irregular, and some share a nanosecond.
    const ts = t + BigInt(Math.floor(rand() * Number(stepNs / 2n)));
    price = Math.max(1, price + (rand() - 0.5) * 0.2);
    rows.push({ ts, ts_ns: ts, symbol, trade_id: id++, price: Math.round(price * 100) / 100, size: Math.ceil(rand() * 300), exchange: rand() < 0.5 ? 'V' : 'Q', conditions: rand() < 0.2 ? '@,I' : '@', tape: 'C' });
  }
  return rows;
}

/** Quotes of one symbol every `stepNs` over [fromNs, toNs): some crossed or one-sided, some without sizes. */
export function genQuotes(symbol: string, fromNs: bigint, toNs: bigint, stepNs: bigint, seed: number): QuoteRow[] {
  const rand = seededRandom(seed);
  const rows: QuoteRow[] = [];
  let mid = 100 + rand() * 50;
  for (let t = fromNs; t < toNs; t += stepNs) {
    const ts = t + BigInt(Math.floor(rand() * Number(stepNs / 2n)));
    mid = Math.max(1, mid + (rand() - 0.5) * 0.1);
    const half = Math.round((0.01 + rand() * 0.05) * 100) / 100;
    const roll = rand();
    const bid = roll < 0.03 ? 0 : Math.round((mid - half) * 100) / 100;
    const ask = roll > 0.97 ? Math.round((mid - half - 0.02) * 100) / 100 : Math.round((mid + half) * 100) / 100;
    rows.push({
      ts, ts_ns: ts, symbol, bid_price: bid, bid_size: rand() < 0.1 ? null : Math.ceil(rand() * 9) * 100, ask_price: ask,
      ask_size: rand() < 0.1 ? null : Math.ceil(rand() * 9) * 100, bid_exchange: 'V', ask_exchange: 'Q', conditions: 'R', tape: 'C',
    });
  }
  return rows;
}

/** Feed-style 1m bars of one symbol over [fromNs, toNs). */
export function genBars(symbol: string, fromNs: bigint, toNs: bigint, seed: number): BarRow[] {
  const rand = seededRandom(seed);
  const rows: BarRow[] = [];
  let close = 100 + rand() * 50;
  for (let t = fromNs - (fromNs % NS_PER_MINUTE); t < toNs; t += NS_PER_MINUTE) {
    const open = close;
    close = Math.round((open + (rand() - 0.5)) * 100) / 100;
    rows.push({
      ts: t, ts_ns: t, symbol, open, high: Math.max(open, close) + 0.1, low: Math.min(open, close) - 0.1, close,
      volume: Math.ceil(rand() * 1000), trade_count: BigInt(Math.ceil(rand() * 50)), vwap: (open + close) / 2,
    });
  }
  return rows;
}

function encode<D extends DatasetName>(dataset: D, rows: readonly RowOf<D>[]): Uint8Array {
  const batch = new ColumnarBatch(dataset, rows.length);
  for (const r of rows) batch.append(r);
  return encodeParquet(batch);
}

/** Rows of one UTC day, in order. */
export function onDay<R extends { ts_ns: bigint }>(rows: readonly R[], date: string): R[] {
  return rows.filter((r) => dateOfNs(r.ts_ns) === date);
}

/** A warm object put by putWarmDay: its key and the time bounds of its rows. */
export interface PutPart {
  readonly key: string;
  readonly minTsNs: bigint;
  readonly maxTsNs: bigint;
}

/**
 * Puts the rows of one (symbol, day) as the agent's uploader would: part objects of `partRows` rows each, then the
 * agent's day manifest with them added (the query skips it as data, and prunes parts by its time bounds).
 * `unlisted` leaves the parts out of the manifest, as when the manifest lags the data.
 */
export async function putWarmDay<D extends DatasetName>(store: ObjectStore, dataset: D, rows: readonly RowOf<D>[], options: { agentId?: string; partRows?: number; firstPart?: number; unlisted?: boolean } = {}): Promise<PutPart[]> {
  const first = rows[0] as { ts_ns: bigint; symbol: string } | undefined;
  if (first === undefined) return [];
  const date = dateOfNs(first.ts_ns);
  const agentId = options.agentId ?? 'edge-1';
  const partRows = options.partRows ?? rows.length;
  const parts: PutPart[] = [];
  const entries: WarmManifestObject[] = [];
  for (let i = 0, part = options.firstPart ?? 0; i < rows.length; i += partRows, part++) {
    const slice = rows.slice(i, i + partRows);
    const key = warmObjectKey({ dataset, date, symbol: first.symbol, part }, agentId);
    const bytes = encode(dataset, slice);
    await store.put(key, bytes);
    const times = slice.map((r) => (r as { ts_ns: bigint }).ts_ns);
    const minTsNs = times.reduce((a, b) => (a < b ? a : b));
    const maxTsNs = times.reduce((a, b) => (a > b ? a : b));
    parts.push({ key, minTsNs, maxTsNs });
    entries.push({
      key, symbol: first.symbol, part, rows: slice.length, bytes: bytes.byteLength, minTsNs: String(minTsNs), maxTsNs: String(maxTsNs),
      sha256: createHash('sha256').update(bytes).digest('base64'), schemaVersion: SCHEMA_VERSION,
    });
  }
  if (options.unlisted !== true) {
    const previous = await readWarmManifest(store, dataset, date, agentId);
    await store.put(warmManifestKey(dataset, date, agentId), encodeWarmManifest({ dataset, date, agentId, updatedAtMs: Date.now() }, [...(previous?.objects ?? []), ...entries]));
  }
  return parts;
}

/** Puts a cold file (rows sorted by ts) with the compactor's side files beside it, which the query must skip. */
export async function putCold<D extends DatasetName>(store: ObjectStore, dataset: D, period: string, rows: readonly RowOf<D>[]): Promise<string> {
  const symbol = (rows[0] as { symbol: string }).symbol;
  const key = `${COLD_PREFIX}${coldFilePath({ dataset, period, symbol })}`;
  const sorted = [...rows].sort((a, b) => Number((a as { ts_ns: bigint }).ts_ns - (b as { ts_ns: bigint }).ts_ns));
  await store.put(key, encode(dataset, sorted));
  const dir = key.slice(0, key.lastIndexOf('/') + 1);
  await store.put(`${dir}_manifest-${symbolToPath(symbol)}.json`, new TextEncoder().encode('{"not":"data"}'));
  await store.put(`${dir}_plan-${symbolToPath(symbol)}.json`, new TextEncoder().encode('{"not":"data"}'));
  return key;
}

/** Writes the agent's local warm file `part` of the rows' (symbol, day) under warmDir; returns its path. */
export function writeWarmDirFile<D extends DatasetName>(warmDir: string, dataset: D, rows: readonly RowOf<D>[], part: number): string {
  const first = rows[0] as { ts_ns: bigint; symbol: string };
  const path = join(warmDir, ...warmFilePath({ dataset, date: dateOfNs(first.ts_ns), symbol: first.symbol, part }).split('/'));
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, encode(dataset, rows));
  // A temp file of a write in flight, which must never be read.
  writeFileSync(join(path, '..', `.part-${String(part + 1).padStart(5, '0')}.parquet.tmp-1234`), 'partial');
  return path;
}

/** What a counting store saw opened: get() downloads and localPathOf() in-place reads, by key. */
export interface OpenCounts {
  readonly gets: string[];
  readonly localPaths: string[];
  /** Every data file (Parquet object) opened, either way, sorted; manifests read for pruning are not data. */
  opened(): string[];
}

export type CountingStore = ObjectStore & OpenCounts;

/**
 * Wraps a local store to count what is opened. `local: false` hides localPathOf, so the store looks like S3 and
 * every object must be downloaded. (A proxy, so every other method of the store passes through unchanged.)
 */
export function countingStore(inner: LocalDirectoryStore, local: boolean): CountingStore {
  const counts: OpenCounts = {
    gets: [], localPaths: [],
    opened() { return [...this.gets, ...this.localPaths].filter((k) => k.endsWith('.parquet')).sort(); },
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'gets' || prop === 'localPaths' || prop === 'opened') return counts[prop];
      if (prop === 'get') return (key: string) => { counts.gets.push(key); return target.get(key); };
      if (prop === 'localPathOf') return local ? (key: string) => { counts.localPaths.push(key); return target.localPathOf(key); } : undefined;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as CountingStore;
}

/** A hot view over fixed rows, answering like the agent's (newest first, 64-bit integers as bigint). */
export function fakeHotView(trades: Record<string, readonly TradeRow[]>, quotes: Record<string, readonly QuoteRow[]> = {}): HotView {
  const newest = <R extends { ts_ns: bigint }>(rows: readonly R[], n: number): R[] => [...rows].sort((a, b) => Number(a.ts_ns - b.ts_ns)).slice(-n).reverse();
  return {
    symbols: () => [...new Set([...Object.keys(trades), ...Object.keys(quotes)])],
    book: () => undefined,
    recentTrades: (symbol, n) => newest(trades[symbol] ?? [], n).map((t) => ({
      ts: formatNs(t.ts_ns), tsNs: t.ts_ns, tradeId: t.trade_id, price: t.price, size: t.size, exchange: t.exchange,
    })),
    recentQuotes: (symbol, n) => newest(quotes[symbol] ?? [], n).map((q) => ({
      ts: formatNs(q.ts_ns), tsNs: q.ts_ns, bidPrice: q.bid_price, bidSize: q.bid_size, askPrice: q.ask_price, askSize: q.ask_size,
      bidExchange: q.bid_exchange, askExchange: q.ask_exchange,
    })),
    features: () => undefined,
    portfolio: () => ({}),
    status: () => ({}),
  };
}

/** The row as the hot tier serves it back (no conditions or tape). */
export function asHot<R extends TradeRow | QuoteRow>(row: R): R {
  return { ...row, conditions: '', tape: '' };
}

/** Independent spread statistics, computed in JavaScript from the quotes as the files hold them. */
export interface SpreadStat {
  readonly n: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly tw: number;
  readonly seconds: number;
}

/** Asserts that one spread row of a query equals its reference from spreadStats (absent reference: fails). */
export function expectSpreadRow(row: Record<string, unknown>, e: SpreadStat | undefined): void {
  expect(row['quote_count']).toBe(BigInt(e?.n ?? -1));
  expect(row['mean_spread']).toBeCloseTo(e?.mean ?? NaN, 9);
  expect(row['min_spread']).toBeCloseTo(e?.min ?? NaN, 9);
  expect(row['max_spread']).toBeCloseTo(e?.max ?? NaN, 9);
  expect(row['tw_mean_spread']).toBeCloseTo(e?.tw ?? NaN, 9);
  expect(row['quoted_seconds']).toBeCloseTo(e?.seconds ?? NaN, 6);
}

export function spreadStats(rows: QuoteRow[], fromNs: bigint, toNs: bigint, intervalNs: bigint | undefined): Map<string, SpreadStat> {
  const out = new Map<string, { n: number; sum: number; min: number; max: number; tws: number; dts: number }>();
  const bySymbol = new Map<string, QuoteRow[]>();
  for (const q of rows) bySymbol.set(q.symbol, [...(bySymbol.get(q.symbol) ?? []), q]);
  for (const [symbol, list] of bySymbol) {
    const sorted = [...list].sort((a, b) => (a.ts_ns !== b.ts_ns ? Number(a.ts_ns - b.ts_ns) : a.bid_price !== b.bid_price ? a.bid_price - b.bid_price : a.ask_price - b.ask_price));
    sorted.forEach((q, i) => {
      if (!(q.bid_price > 0 && q.ask_price >= q.bid_price)) return;
      const next = sorted[i + 1]?.ts_ns ?? toNs;
      const bucket = intervalNs === undefined ? fromNs : q.ts_ns - (q.ts_ns % intervalNs);
      const end = intervalNs === undefined ? toNs : bucket + intervalNs;
      const dt = Number([next, end, toNs].reduce((a, b) => (a < b ? a : b)) - q.ts_ns);
      const spread = q.ask_price - q.bid_price;
      const key = `${symbol}@${bucket}`;
      const s = out.get(key) ?? { n: 0, sum: 0, min: Infinity, max: -Infinity, tws: 0, dts: 0 };
      out.set(key, { n: s.n + 1, sum: s.sum + spread, min: Math.min(s.min, spread), max: Math.max(s.max, spread), tws: s.tws + spread * dt, dts: s.dts + dt });
    });
  }
  return new Map([...out].map(([k, s]) => [k, { n: s.n, mean: s.sum / s.n, min: s.min, max: s.max, tw: s.tws / s.dts, seconds: s.dts / 1e9 }]));
}

/** Independent OHLCV bars (open/close by (ts_ns, trade_id)), keyed `symbol@bucket`. */
export function ohlcvOf(rows: readonly TradeRow[], intervalNs: bigint): Map<string, { open: number; high: number; low: number; close: number; volume: number; count: number; vwap: number }> {
  const sorted = [...rows].sort((a, b) => (a.ts_ns !== b.ts_ns ? (a.ts_ns < b.ts_ns ? -1 : 1) : a.trade_id < b.trade_id ? -1 : 1));
  const out = new Map<string, { open: number; high: number; low: number; close: number; volume: number; count: number; notional: number }>();
  for (const t of sorted) {
    const key = `${t.symbol}@${t.ts_ns - (t.ts_ns % intervalNs)}`;
    const b = out.get(key);
    out.set(key, b === undefined
      ? { open: t.price, high: t.price, low: t.price, close: t.price, volume: t.size, count: 1, notional: t.price * t.size }
      : { ...b, high: Math.max(b.high, t.price), low: Math.min(b.low, t.price), close: t.price, volume: b.volume + t.size, count: b.count + 1, notional: b.notional + t.price * t.size });
  }
  return new Map([...out].map(([k, b]) => [k, { open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, count: b.count, vwap: b.notional / b.volume }]));
}
