/**
 * Hot tier benchmark: write and read throughput with p99 latency, and memory for the design's 10 symbols, each
 * against a named baseline measured in the same run:
 *
 *   BASELINE "naive array push/shift": the design sketch's shape (storage-strategy 2.3) in TypeScript, one array of
 *   trade objects per symbol, a new object per trade, push to add and shift to drop the oldest (by window and by
 *   capacity), reads copying the newest N objects. It runs the same feature update as the hot tier, so the ratio
 *   isolates the storage.
 *
 * Run: node --expose-gc bin/run-ts.js bench/hot.bench.ts   (without --expose-gc it enables gc itself via v8 flags).
 * runHotBench() returns the same table (bench/table.ts) for bench/run.ts.
 * Targets (storage-strategy 7.1): hot write < 1 us and 1M ops/s; aimed > 20M ops/s. Memory: design ~125 MB for 10
 * symbols (2.6), aimed 60 MB.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { DEFAULT_FEATURE_OPTIONS, FeatureCache } from '../edge-agent/hot/feature-cache.ts';
import { HotTier } from '../edge-agent/hot/hot-tier.ts';
import { lastHi, lastLo, split } from '../edge-agent/hot/time-limbs.ts';
import { type BenchTable, renderText } from './table.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = process.env['TICKVAULT_SHARED_DATA'] ?? join(REPO, '..', 'shared', 'data');
const SYMBOLS = Array.from({ length: 10 }, (_, i) => `SYM${i}`);
const WINDOW_NS = 60_000_000_000n;
/**
 * Latency is timed per batch of BATCH operations and divided by BATCH: one hot-tier write takes tens of
 * nanoseconds, below what two process.hrtime.bigint() calls (~30-60 ns together, with their own jitter) can
 * resolve. A batch's mean per-op time still carries any pause (GC, deoptimisation) that hits inside it, so the
 * 99th percentile over batches shows tail latency at 100-op resolution.
 */
const BATCH = 100;
const ROWS_PER_PASS = 200_000;
const T0 = 1_582_329_602_111_000_000n;

// ---- the baseline ----------------------------------------------------------------------------------------------

interface NaiveTrade { ts: bigint; tradeId: bigint; price: number; size: number; exchange: string }
interface NaiveQuote { ts: bigint; bidPrice: number; bidSize: number | null; askPrice: number; askSize: number | null; exchange: string }

/** The design sketch's buffer: an array of event objects, push to add, shift to drop. */
class NaiveBuffer<T extends { ts: bigint }> {
  readonly events: T[] = [];
  constructor(private readonly capacity: number) {}

  push(event: T): void {
    const cutoff = event.ts - WINDOW_NS;
    while (this.events.length > 0 && (this.events[0] as T).ts <= cutoff) this.events.shift();
    if (this.events.length >= this.capacity) this.events.shift();
    this.events.push(event);
  }

  /** Newest n as fresh copies (the hot tier's reads copy too). */
  newest(n: number): T[] {
    return this.events.slice(-n).map((e) => ({ ...e }));
  }
}

class NaiveHot {
  private readonly bySymbol = new Map<string, { trades: NaiveBuffer<NaiveTrade>; quotes: NaiveBuffer<NaiveQuote>; features: FeatureCache }>();
  constructor(private readonly tradesCapacity: number, private readonly quotesCapacity: number) {}

  private state(symbol: string) {
    let s = this.bySymbol.get(symbol);
    if (s === undefined) {
      s = { trades: new NaiveBuffer(this.tradesCapacity), quotes: new NaiveBuffer(this.quotesCapacity), features: new FeatureCache(DEFAULT_FEATURE_OPTIONS) };
      this.bySymbol.set(symbol, s);
    }
    return s;
  }

  onTrade(row: TradeRow): void {
    const s = this.state(row.symbol);
    s.trades.push({ ts: row.ts, tradeId: row.trade_id, price: row.price, size: row.size, exchange: row.exchange });
    split(row.ts);
    s.features.update(lastHi(), lastLo(), row.price, row.size);
  }

  onQuote(row: QuoteRow): void {
    this.state(row.symbol).quotes.push({
      ts: row.ts, bidPrice: row.bid_price, bidSize: row.bid_size, askPrice: row.ask_price, askSize: row.ask_size, exchange: row.bid_exchange,
    });
  }

  recentTrades(symbol: string, n: number): NaiveTrade[] {
    return this.bySymbol.get(symbol)?.trades.newest(n) ?? [];
  }
}

// ---- inputs: real BTCUSDT prices and sizes, 10 symbols interleaved ------------------------------------------------

function realTrades(): { price: Float64Array; size: Float64Array } {
  const name = 'trades_tardis_binance-futures_BTCUSDT_20200222.csv';
  const records = parseMarketCsv(readFileSync(join(DATA, name), 'utf8'), name).records;
  const rows = records.map((r) => r.row as TradeRow);
  return { price: Float64Array.from(rows, (r) => r.price), size: Float64Array.from(rows, (r) => r.size) };
}

/**
 * Trades first..first+count-1 of an endless stream: trade i goes to symbol i mod 10, 100 us after trade i-1, so each
 * symbol trades 1 000 times a second, the design's rate (2.3): after 600 000 trades every ring holds its full 60 s
 * and each write evicts one.
 */
function makeTrades(first: number, count: number, real: { price: Float64Array; size: Float64Array }): TradeRow[] {
  const out: TradeRow[] = new Array<TradeRow>(count);
  for (let n = 0; n < count; n++) {
    const i = first + n;
    const ts = T0 + BigInt(i) * 100_000n;
    const k = i % real.price.length;
    out[n] = {
      ts, ts_ns: ts, symbol: SYMBOLS[i % SYMBOLS.length] as string, trade_id: BigInt(i), price: real.price[k] as number, size: real.size[k] as number,
      exchange: 'BINANCE_FUTURES', conditions: '', tape: '',
    };
  }
  return out;
}

function makeQuotes(trades: readonly TradeRow[]): QuoteRow[] {
  return trades.map((t, i) => ({
    ts: t.ts, ts_ns: t.ts, symbol: t.symbol, bid_price: t.price - 0.01, bid_size: 1 + (i % 7), ask_price: t.price + 0.01, ask_size: 2 + (i % 5),
    bid_exchange: 'BINANCE_FUTURES', ask_exchange: 'BINANCE_FUTURES', conditions: '', tape: '',
  }));
}

// ---- measurement ---------------------------------------------------------------------------------------------

interface Timing { opsPerSecond: number; p50Ns: number; p99Ns: number }

interface Plan {
  /** Unmeasured passes first (JIT warm-up, and rings filled to their steady state), `warmupOps` operations each. */
  readonly warmups: number;
  readonly warmupOps: number;
  /** Then measured passes of `ops` operations each. */
  readonly passes: number;
  readonly ops: number;
  /** Builds the input of the next pass (`ops` operations), outside the timing. */
  readonly setup: (ops: number) => void;
  readonly op: (i: number) => void;
}

/** Runs a plan, timing each batch of BATCH operations of the measured passes. */
function measure(plan: Plan): Timing {
  const perOp = new Float64Array(Math.floor(plan.ops / BATCH) * plan.passes);
  let measured = 0;
  let elapsedNs = 0n;
  for (let pass = 0; pass < plan.warmups + plan.passes; pass++) {
    const counted = pass >= plan.warmups;
    const ops = counted ? plan.ops : plan.warmupOps;
    plan.setup(ops);
    const start = process.hrtime.bigint();
    for (let base = 0; base + BATCH <= ops; base += BATCH) {
      const t0 = process.hrtime.bigint();
      for (let j = 0; j < BATCH; j++) plan.op(base + j);
      const t1 = process.hrtime.bigint();
      if (counted) perOp[measured++] = Number(t1 - t0) / BATCH;
    }
    if (counted) elapsedNs += process.hrtime.bigint() - start;
  }
  const sorted = perOp.slice(0, measured).sort();
  return {
    opsPerSecond: (measured * BATCH) / (Number(elapsedNs) / 1e9),
    p50Ns: sorted[Math.floor(measured * 0.5)] as number,
    p99Ns: sorted[Math.min(measured - 1, Math.floor(measured * 0.99))] as number,
  };
}

function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Heap + array-buffer bytes retained by what `build` returns, after full GCs on both sides. */
function retainedBytes<T>(gc: () => void, build: () => T): { bytes: number; value: T } {
  gc();
  gc();
  const before = heapBytes();
  const value = build();
  gc();
  gc();
  return { bytes: heapBytes() - before, value };
}

const mops = (t: Timing) => (t.opsPerSecond >= 1e6 ? `${(t.opsPerSecond / 1e6).toFixed(2)}M ops/s` : `${(t.opsPerSecond / 1e3).toFixed(1)}K ops/s`);
const ns = (x: number) => `${x.toFixed(0)} ns`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const times = (a: number, b: number) => `${(a / b).toFixed(1)}x`;

/** Fills 10 symbols' rings completely: 60 s of trades and quotes at the given per-symbol rates. */
function fillDesignLoad(sink: { onTrade(r: TradeRow): unknown; onQuote(r: QuoteRow): unknown }, tradesPerSecond: number, quotesPerSecond: number): void {
  const seconds = 60;
  for (const symbol of SYMBOLS) {
    for (let i = 0; i < seconds * tradesPerSecond; i++) {
      const ts = T0 + BigInt(Math.floor((i * 1e9) / tradesPerSecond));
      sink.onTrade({ ts, ts_ns: ts, symbol, trade_id: BigInt(i), price: 9_000 + (i % 100), size: 0.5, exchange: 'BINANCE_FUTURES', conditions: '', tape: '' });
    }
    for (let i = 0; i < seconds * quotesPerSecond; i++) {
      const ts = T0 + BigInt(Math.floor((i * 1e9) / quotesPerSecond));
      sink.onQuote({
        ts, ts_ns: ts, symbol, bid_price: 9_000, bid_size: 1, ask_price: 9_000.1, ask_size: 2,
        bid_exchange: 'BINANCE_FUTURES', ask_exchange: 'BINANCE_FUTURES', conditions: '', tape: '',
      });
    }
  }
}

export async function runHotBench(): Promise<BenchTable> {
  const gc = gcFunction();
  const real = realTrades();
  // Throughput first, in a scope of its own so its tiers are garbage before memory is measured.
  const { tierWrite, naiveWrite, tierQuote, naiveQuote, tierRead, naiveRead, featureRead, bookRead, baselineOps } = (() => {
    // A continuing stream: each pass takes the next trades in time, so one tier (one baseline) stays in steady state.
    let next = 0;
    let trades: TradeRow[] = [];
    let quotes: QuoteRow[] = [];
    const nextTrades = (ops: number) => {
      trades = makeTrades(next, ops, real);
      next += ops;
    };
    const nextQuotes = (ops: number) => {
      quotes = makeQuotes(makeTrades(next, ops, real));
      next += ops;
    };
    // 3 x 200 000 warm-up events fill every symbol's ring (60 s at 1 000/s) before anything is measured.
    const fill = { warmups: 3, warmupOps: ROWS_PER_PASS };
    // The baseline's shift() on a full 60 000-element array moves every element (V8 trims only small arrays in
    // place), so it runs ~1 000x slower: it is measured on fewer operations to keep the bench short.
    const baselineOps = 5_000;

    const tier = new HotTier();
    const naive = new NaiveHot(60_000, 60_000);
    const tierWrite = measure({ ...fill, passes: 3, ops: ROWS_PER_PASS, setup: nextTrades, op: (i) => { tier.onTrade(trades[i] as TradeRow); } });
    next = 0;
    const naiveWrite = measure({ ...fill, passes: 2, ops: baselineOps, setup: nextTrades, op: (i) => { naive.onTrade(trades[i] as TradeRow); } });
    next = 0;
    const tierQuote = measure({ ...fill, passes: 3, ops: ROWS_PER_PASS, setup: nextQuotes, op: (i) => { tier.onQuote(quotes[i] as QuoteRow); } });
    next = 0;
    const naiveQuote = measure({ ...fill, passes: 2, ops: baselineOps, setup: nextQuotes, op: (i) => { naive.onQuote(quotes[i] as QuoteRow); } });
    trades = [];
    quotes = [];

    // Reads: newest 100 of a symbol whose ring is full (60 000 trades), rotating over the 10 symbols.
    const reads = { warmups: 1, warmupOps: 100_000, passes: 3, ops: 100_000, setup: () => undefined };
    let sink = 0;
    const tierRead = measure({ ...reads, op: (i) => { sink += tier.recentTrades(SYMBOLS[i % 10] as string, 100).length; } });
    const naiveRead = measure({ ...reads, op: (i) => { sink += naive.recentTrades(SYMBOLS[i % 10] as string, 100).length; } });
    const featureRead = measure({ ...reads, op: (i) => { sink += tier.features(SYMBOLS[i % 10] as string)?.trades ?? 0; } });
    const bookRead = measure({ ...reads, op: (i) => { sink += tier.book(SYMBOLS[i % 10] as string)?.mid ?? 0; } });
    if (sink === 0) throw new Error('reads returned nothing');
    if (tier.recentTrades('SYM0', 100_000).length !== 60_000 || naive.recentTrades('SYM0', 100_000).length !== 60_000) {
      throw new Error('rings were not at their steady state');
    }
    return { tierWrite, naiveWrite, tierQuote, naiveQuote, tierRead, naiveRead, featureRead, bookRead, baselineOps };
  })();

  // Memory: the design's figures (2.3, 2.6): 60 s at 1 000 trades/s and 1 000 quotes/s (the 6.72 MB quote buffer).
  const designTier = retainedBytes(gc, () => {
    const t = new HotTier({ maxSymbols: 10 });
    fillDesignLoad(t, 1_000, 1_000);
    return t;
  });
  const designReport = designTier.value.memory();
  const designNaive = retainedBytes(gc, () => {
    const n = new NaiveHot(60_000, 60_000);
    fillDesignLoad(n, 1_000, 1_000);
    return n;
  });
  // And 5 000 quotes/s per symbol, the brief's heavier quote rate: 300 000 quote slots per symbol.
  const heavyTier = retainedBytes(gc, () => {
    const t = new HotTier({ maxSymbols: 10, quotesCapacity: 300_000, memoryCeilingBytes: 256 * 1024 * 1024 });
    fillDesignLoad(t, 1_000, 5_000);
    return t;
  });
  const heavyReport = heavyTier.value.memory();
  if (designReport.symbolCount !== 10 || heavyReport.symbolCount !== 10) throw new Error('memory scenario lost symbols');

  const row = (measure: string, hot: string, baseline = '', ratio = '', target = ''): string[] => [measure, hot, baseline, ratio, target];
  const latency = (t: Timing) => `${ns(t.p50Ns)} / ${ns(t.p99Ns)}`;
  return {
    title: 'Hot tier (edge-agent/hot) vs BASELINE naive array push/shift',
    columns: ['measure', 'hot tier', 'BASELINE naive', 'ratio', 'target'],
    rows: [
      row('write onTrade, 10 symbols interleaved', mops(tierWrite), mops(naiveWrite), times(tierWrite.opsPerSecond, naiveWrite.opsPerSecond), '> 1M (aim 20M)'),
      row('  onTrade p50 / p99', latency(tierWrite), latency(naiveWrite), times(naiveWrite.p99Ns, tierWrite.p99Ns), 'p99 < 1000 ns'),
      row('write onQuote, 10 symbols interleaved', mops(tierQuote), mops(naiveQuote), times(tierQuote.opsPerSecond, naiveQuote.opsPerSecond), '> 1M'),
      row('  onQuote p50 / p99', latency(tierQuote), latency(naiveQuote), times(naiveQuote.p99Ns, tierQuote.p99Ns), 'p99 < 1000 ns'),
      row('read recentTrades(N=100), copies', mops(tierRead), mops(naiveRead), times(tierRead.opsPerSecond, naiveRead.opsPerSecond)),
      row('  recentTrades p50 / p99', latency(tierRead), latency(naiveRead), times(naiveRead.p99Ns, tierRead.p99Ns)),
      row('read features(symbol) / p50 / p99', `${mops(featureRead)} / ${latency(featureRead)}`),
      row('read book(symbol) / p50 / p99', `${mops(bookRead)} / ${latency(bookRead)}`, '', '', 'p99 < 1000 ns'),
      row('memory, 10 sym x 60 s of 1k trades/s + 1k quotes/s: memory()', mb(designReport.totalBytes), '', '', 'design 125 MB, aim 60 MB'),
      row('  same, measured (heapUsed + arrayBuffers delta)', mb(designTier.bytes), mb(designNaive.bytes), times(designNaive.bytes, designTier.bytes), 'aim 60 MB'),
      row('memory, 10 sym x 60 s of 1k trades/s + 5k quotes/s: memory()', mb(heavyReport.totalBytes)),
      row('  same, measured (heapUsed + arrayBuffers delta)', mb(heavyTier.bytes)),
    ],
    note: [
      'BASELINE: one array of trade/quote objects per symbol, push to add, shift to drop (by window and capacity), same feature update;',
      `its shift() on a full 60 000-element array moves every element. Latency = time of a batch of ${BATCH} ops / ${BATCH} (hrtime cannot resolve one op);`,
      `p50/p99 over 3 x ${ROWS_PER_PASS / BATCH} batches (hot tier writes), 2 x ${baselineOps / BATCH} (baseline writes). Writes in steady state: real BTCUSDT`,
      'prices/sizes, 10 symbols interleaved at 1 000 trades/s each, every ring full (60 000) after 600 000 warm-up writes, so each write evicts one.',
      `memory(): typed arrays exact + estimated object overhead (reserved per symbol ${mb(designReport.perSymbolBytes)}); measured: process.memoryUsage() delta`,
      `after forced GC. Load average during the run: ${(loadavg()[0] ?? 0).toFixed(1)} on ${availableParallelism()} cores.`,
    ].join('\n'),
  };
}

/**
 * True when this file is the program being run rather than a module imported by another bench. bin/run-ts.js
 * removes the entry from process.argv, so the original command line (/proc/self/cmdline on Linux) is checked too.
 */
function launchedDirectly(): boolean {
  const self = fileURLToPath(import.meta.url);
  const args = process.argv.slice(1);
  try {
    args.push(...readFileSync('/proc/self/cmdline', 'utf8').split('\0'));
  } catch {
    // Not Linux: process.argv alone (right for `tsx bench/hot.bench.ts`).
  }
  return args.some((arg) => arg !== '' && resolve(arg) === self);
}

if (launchedDirectly()) {
  const started = Date.now();
  process.stdout.write(`${renderText(await runHotBench())}\n`);
  console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
