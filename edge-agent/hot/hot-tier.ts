/**
 * The agent's hot tier: per symbol a top of book, the trades and quotes of the last minute (columnar rings), the
 * last bar and a feature cache; one portfolio. Synchronous throughout: no promise on the write or read path.
 *
 * Memory is bounded two ways, both checked when a symbol is about to be created (writes for known symbols never
 * allocate):
 *  - at most `maxSymbols` symbols;
 *  - reserved bytes never exceed `memoryCeilingBytes`. A symbol's rings are allocated at full capacity on first sight,
 *    so its footprint is known up front (SymbolState.plannedBytes, which assumes the longest symbol); the portfolio
 *    and exchange table reserve their maximum. Before creating a symbol that would cross either bound, the least
 *    recently used symbols are evicted (a symbol is used by every write and every read naming it). A configuration
 *    that cannot hold even one symbol is refused at construction.
 * memory() reports the bytes actually held (always <= reserved <= ceiling); see memory-estimate.ts for how bytes
 * are counted.
 *
 * An evicted symbol's market data and features are gone; its position (if any) stays in the portfolio, valued at
 * the mark it had when it left.
 *
 * toSnapshot() / HotTier.fromSnapshot() carry the whole state across a restart (format: hot-snapshot.ts). A restored
 * tier answers every read and takes every later write exactly as the original would have. It keeps the snapshot's
 * options unless the caller passes others:
 *  - windowNs, tradesCapacity, quotesCapacity may change: each ring is rebuilt keeping its newest events (those
 *    dropped count as capacity or window evictions), for in-order events exactly what a ring of that size would hold;
 *  - maxSymbols, memoryCeilingBytes may change: when the symbols no longer fit, the least recently used are evicted
 *    as restore reads them, counted like any eviction; memory held never passes the ceiling in force, not even
 *    during the restore, so a caller who distrusts the payload bounds the restore by passing memoryCeilingBytes;
 *  - portfolio limits may change as long as the open orders and positions fit (the oldest closed orders beyond
 *    closedOrdersKept are forgotten); initialCash only changes what options reports (cash is restored);
 *  - features may not change: an EMA of 12 trades cannot become one of 9. A HotSnapshotError ('incompatible') says
 *    which option differs; restore with the snapshot's features or start an empty tier and replay.
 */
import type { BarRow, QuoteRow, TradeRow } from '../../core/datasets.ts';
import { MAX_SYMBOL_BYTES, symbolProblem } from '../../core/symbols.ts';
import { HotSnapshotError, HotTierConfigError } from './errors.ts';
import { ExchangeTable } from './exchange-table.ts';
import { DEFAULT_FEATURE_OPTIONS, type FeatureOptions, type FeatureSnapshot, validateFeatureOptions } from './feature-cache.ts';
import { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import type { BarView } from './last-bar.ts';
import { flatCopy, objectBytes } from './memory-estimate.ts';
import type { BookView } from './order-book.ts';
import {
  DEFAULT_PORTFOLIO_OPTIONS, FILL_REJECT_REASONS, ORDER_REJECT_REASONS, Portfolio, type PortfolioOptions, type PortfolioRejectReason,
} from './portfolio.ts';
import { QUOTE_SLOT_BYTES, type QuoteBatch } from './quote-window.ts';
import { SymbolState } from './symbol-state.ts';
import { lastHi, lastLo, split } from './time-limbs.ts';
import { TRADE_SLOT_BYTES, type TradeBatch } from './trade-window.ts';

export interface HotTierOptions {
  /** Event-time span the trade and quote rings cover. @default 60_000_000_000n (60 s, storage-strategy 2.3) */
  readonly windowNs: bigint;
  /** Trades held per symbol at most: 60 s at the design's 1 000 trades/s (2.3). @default 60_000 */
  readonly tradesCapacity: number;
  /** Quotes held per symbol at most: 60 s at 1 000 quotes/s, the rate behind the design's 6.72 MB quote buffer (2.6). @default 60_000 */
  readonly quotesCapacity: number;
  /** @default 100 */
  readonly maxSymbols: number;
  /** Ceiling on reserved bytes; ~4.5 MB per symbol with the default capacities, so ~29 symbols. @default 134_217_728 (128 MiB) */
  readonly memoryCeilingBytes: number;
  readonly features: FeatureOptions;
  readonly portfolio: PortfolioOptions;
}

export type HotTierInput = Partial<Omit<HotTierOptions, 'features' | 'portfolio'>> & {
  readonly features?: Partial<FeatureOptions>;
  readonly portfolio?: Partial<PortfolioOptions>;
};

export const DEFAULT_HOT_TIER_OPTIONS: HotTierOptions = Object.freeze({
  windowNs: 60_000_000_000n,
  tradesCapacity: 60_000,
  quotesCapacity: 60_000,
  maxSymbols: 100,
  memoryCeilingBytes: 128 * 1024 * 1024,
  features: DEFAULT_FEATURE_OPTIONS,
  portfolio: DEFAULT_PORTFOLIO_OPTIONS,
});

/** The fewest bytes one symbol takes in a snapshot (its name, two empty rings, book, bar, features). */
const MIN_SYMBOL_SNAPSHOT_BYTES = 256;

/** Why the tier itself refused an event (the portfolio adds its own reasons). */
export const HOT_REJECT_REASONS = ['invalidRow', 'invalidSymbol', 'outsideWindow'] as const;
export type HotRejectReason = (typeof HOT_REJECT_REASONS)[number];

export interface HotTierStats {
  readonly accepted: { readonly trades: number; readonly quotes: number; readonly bars: number };
  readonly evictions: {
    /** Symbols evicted to stay within maxSymbols. */
    readonly symbolsOverMaxSymbols: number;
    /** Symbols evicted to stay under memoryCeilingBytes. */
    readonly symbolsOverMemoryCeiling: number;
    readonly tradesByWindow: number;
    readonly tradesByCapacity: number;
    readonly quotesByWindow: number;
    readonly quotesByCapacity: number;
  };
  readonly rejects: Readonly<Record<HotRejectReason | PortfolioRejectReason, number>>;
  /** Kept in the rings but not applied: older than what the book or bar already held; exchange names refused. */
  readonly ignored: { readonly lateBookQuotes: number; readonly lateBars: number; readonly exchangeOverflows: number };
}

export interface HotMemoryReport {
  /** Bytes held now (typed arrays exactly, objects and strings estimated). */
  readonly totalBytes: number;
  /** Bytes reserved: full footprint of every live symbol plus the portfolio's and exchange table's maximum. */
  readonly reservedBytes: number;
  readonly ceilingBytes: number;
  readonly symbolCount: number;
  readonly maxSymbols: number;
  /** Footprint reserved per symbol. */
  readonly perSymbolBytes: number;
  readonly byComponent: {
    readonly books: number;
    readonly trades: number;
    readonly quotes: number;
    readonly bars: number;
    readonly features: number;
    readonly portfolio: number;
    /** The symbol map, per-symbol state objects and names, the exchange table and the tier itself. */
    readonly index: number;
  };
}

const TIER_OBJECT_BYTES = objectBytes(24) + objectBytes(4);

export class HotTier {
  readonly options: HotTierOptions;
  readonly portfolio: Portfolio;
  private readonly exchanges = new ExchangeTable();
  private readonly bySymbol = new Map<string, SymbolState>();
  /** Most recently used end of the LRU list. */
  private mru: SymbolState | undefined;
  /** Least recently used end. */
  private lru: SymbolState | undefined;
  private readonly perSymbolBytes: number;
  private readonly fixedReservedBytes: number;

  private acceptedTrades = 0;
  private acceptedQuotes = 0;
  private acceptedBars = 0;
  private lateBookQuotes = 0;
  private lateBars = 0;
  private evictedOverMaxSymbols = 0;
  private evictedOverCeiling = 0;
  /** Ring counters of symbols already evicted. */
  private retired = { tradesByWindow: 0, tradesByCapacity: 0, quotesByWindow: 0, quotesByCapacity: 0 };
  private readonly rejectCounts: Record<HotRejectReason, number> = { invalidRow: 0, invalidSymbol: 0, outsideWindow: 0 };

  constructor(input: HotTierInput = {}) {
    const options: HotTierOptions = {
      ...DEFAULT_HOT_TIER_OPTIONS,
      ...input,
      features: { ...DEFAULT_FEATURE_OPTIONS, ...input.features },
      portfolio: { ...DEFAULT_PORTFOLIO_OPTIONS, ...input.portfolio },
    };
    validateOptions(options);
    this.options = Object.freeze(options);
    this.perSymbolBytes = SymbolState.plannedBytes(options);
    this.fixedReservedBytes = fixedReservedBytes(options);
    if (this.fixedReservedBytes + this.perSymbolBytes > options.memoryCeilingBytes) {
      throw new HotTierConfigError(
        `hot tier: memoryCeilingBytes ${options.memoryCeilingBytes} cannot hold one symbol: a symbol needs ${this.perSymbolBytes} bytes `
        + `(tradesCapacity ${options.tradesCapacity}, quotesCapacity ${options.quotesCapacity}) on top of ${this.fixedReservedBytes} bytes `
        + `reserved for the portfolio and exchange table; raise memoryCeilingBytes to at least ${this.fixedReservedBytes + this.perSymbolBytes} `
        + 'or lower the capacities',
      );
    }
    this.portfolio = new Portfolio(options.portfolio, (symbol) => this.markPrice(symbol));
  }

  // ---- writes -------------------------------------------------------------------------------------------------

  /** Records a trade: ring, features. false when refused (counted in stats.rejects). */
  onTrade(row: TradeRow): boolean {
    const price = row.price;
    const size = row.size;
    if (!(price > 0 && price < Infinity && size >= 0 && size < Infinity)) return this.reject('invalidRow');
    const state = this.writable(row.symbol);
    if (state === undefined) return false;
    split(row.ts);
    const hi = lastHi();
    const lo = lastLo();
    if (!state.trades.pushAt(hi, lo, row.trade_id, price, size, this.exchanges.codeOf(row.exchange))) return this.reject('outsideWindow');
    state.features.update(hi, lo, price, size);
    this.acceptedTrades++;
    return true;
  }

  /** Records a quote: ring, and the book unless the book already holds a newer quote. false when refused. */
  onQuote(row: QuoteRow): boolean {
    const bid = row.bid_price;
    const ask = row.ask_price;
    const bidSize = row.bid_size ?? Number.NaN;
    const askSize = row.ask_size ?? Number.NaN;
    if (!(bid > 0 && bid < Infinity && ask > 0 && ask < Infinity) || bidSize < 0 || bidSize === Infinity || askSize < 0 || askSize === Infinity) {
      return this.reject('invalidRow');
    }
    const state = this.writable(row.symbol);
    if (state === undefined) return false;
    const bidCode = this.exchanges.codeOf(row.bid_exchange);
    const askCode = row.ask_exchange === row.bid_exchange ? bidCode : this.exchanges.codeOf(row.ask_exchange);
    split(row.ts);
    const hi = lastHi();
    const lo = lastLo();
    if (!state.quotes.pushAt(hi, lo, bid, bidSize, ask, askSize, bidCode, askCode)) return this.reject('outsideWindow');
    if (!state.book.apply(hi, lo, bid, bidSize, ask, askSize, bidCode, askCode)) this.lateBookQuotes++;
    this.acceptedQuotes++;
    return true;
  }

  /** Keeps the bar if it is the newest of its symbol. false when refused. */
  onBar(row: BarRow): boolean {
    const state = this.writable(row.symbol);
    if (state === undefined) return false;
    if (!state.bar.apply(row)) this.lateBars++;
    this.acceptedBars++;
    return true;
  }

  // ---- reads (copies; each marks the symbol used) ----------------------------------------------------------------

  book(symbol: string): BookView | undefined {
    const state = this.readable(symbol);
    return state === undefined ? undefined : state.book.view(state.symbol, this.exchanges);
  }

  /** The newest n trades, oldest of them first; empty for a symbol not held. */
  recentTrades(symbol: string, n: number): TradeBatch {
    const state = this.readable(symbol);
    return state === undefined ? this.emptyTrades() : state.trades.newest(n);
  }

  /** The newest n quotes, oldest of them first; empty for a symbol not held. */
  recentQuotes(symbol: string, n: number): QuoteBatch {
    const state = this.readable(symbol);
    return state === undefined ? this.emptyQuotes() : state.quotes.newest(n);
  }

  /** Held trades with event time >= tsNs, in arrival order. */
  tradesSince(symbol: string, tsNs: bigint): TradeBatch {
    const state = this.readable(symbol);
    return state === undefined ? this.emptyTrades() : state.trades.since(tsNs);
  }

  /** Held quotes with event time >= tsNs, in arrival order. */
  quotesSince(symbol: string, tsNs: bigint): QuoteBatch {
    const state = this.readable(symbol);
    return state === undefined ? this.emptyQuotes() : state.quotes.since(tsNs);
  }

  lastBar(symbol: string): BarView | undefined {
    const state = this.readable(symbol);
    return state === undefined ? undefined : state.bar.view(state.symbol);
  }

  features(symbol: string): FeatureSnapshot | undefined {
    const state = this.readable(symbol);
    return state === undefined ? undefined : state.features.snapshot(state.symbol, state.book.imbalance());
  }

  /** Symbols held, most recently used first. Does not mark them used. */
  symbols(): string[] {
    const out: string[] = [];
    for (let s = this.mru; s !== undefined; s = s.older) out.push(s.symbol);
    return out;
  }

  /**
   * Mark price of a held symbol: whichever of the book mid and the last trade price is newer by event time
   * (the mid when they tie); undefined when the symbol has neither. Does not mark the symbol used.
   */
  markPrice(symbol: string): number | undefined {
    const state = this.bySymbol.get(symbol);
    return state === undefined ? undefined : markOf(state);
  }

  memory(): HotMemoryReport {
    let books = 0;
    let trades = 0;
    let quotes = 0;
    let bars = 0;
    let features = 0;
    let index = TIER_OBJECT_BYTES + this.exchanges.byteSize;
    for (const s of this.bySymbol.values()) {
      books += s.book.byteSize;
      trades += s.trades.byteSize;
      quotes += s.quotes.byteSize;
      bars += s.bar.byteSize;
      features += s.features.byteSize;
      index += s.indexBytes;
    }
    const portfolio = this.portfolio.byteSize;
    return {
      totalBytes: books + trades + quotes + bars + features + portfolio + index,
      reservedBytes: this.reservedBytes(),
      ceilingBytes: this.options.memoryCeilingBytes,
      symbolCount: this.bySymbol.size,
      maxSymbols: this.options.maxSymbols,
      perSymbolBytes: this.perSymbolBytes,
      byComponent: { books, trades, quotes, bars, features, portfolio, index },
    };
  }

  get stats(): HotTierStats {
    const rings = { ...this.retired };
    for (const s of this.bySymbol.values()) addRingCounters(rings, s);
    const portfolioRejects = this.portfolio.rejects;
    const rejects = { ...this.rejectCounts } as Record<HotRejectReason | PortfolioRejectReason, number>;
    for (const reason of [...ORDER_REJECT_REASONS, ...FILL_REJECT_REASONS]) rejects[reason] = portfolioRejects[reason];
    return {
      accepted: { trades: this.acceptedTrades, quotes: this.acceptedQuotes, bars: this.acceptedBars },
      evictions: { symbolsOverMaxSymbols: this.evictedOverMaxSymbols, symbolsOverMemoryCeiling: this.evictedOverCeiling, ...rings },
      rejects,
      ignored: { lateBookQuotes: this.lateBookQuotes, lateBars: this.lateBars, exchangeOverflows: this.exchanges.overflows },
    };
  }

  // ---- snapshots (format: hot-snapshot.ts) --------------------------------------------------------------------

  /**
   * The whole state as a snapshot payload: options, counters, exchange table, portfolio, then every symbol, least
   * recently used first, with its rings, book, bar and indicator state. Does not mark any symbol used.
   */
  toSnapshot(): Uint8Array {
    const f = this.options.features;
    let expected = 4_096 + this.portfolio.snapshotBytesHint;
    for (const s of this.bySymbol.values()) {
      expected += 1_024 + 8 * (f.bollingerPeriod + f.volumeLookback) + s.trades.length * TRADE_SLOT_BYTES + s.quotes.length * QUOTE_SLOT_BYTES;
    }
    const w = new SnapshotWriter(expected);
    w.header();
    writeOptions(w, this.options);
    for (const v of [
      this.acceptedTrades, this.acceptedQuotes, this.acceptedBars, this.lateBookQuotes, this.lateBars, this.evictedOverMaxSymbols,
      this.evictedOverCeiling, this.retired.tradesByWindow, this.retired.tradesByCapacity, this.retired.quotesByWindow,
      this.retired.quotesByCapacity, ...HOT_REJECT_REASONS.map((reason) => this.rejectCounts[reason]),
    ]) w.f64(v);
    this.exchanges.writeSnapshot(w);
    this.portfolio.writeSnapshot(w);
    w.u32(this.bySymbol.size);
    for (let s = this.lru; s !== undefined; s = s.newer) {
      w.string(s.symbol);
      s.writeSnapshot(w);
    }
    return w.finish();
  }

  /**
   * A tier restored from a toSnapshot() payload, with the snapshot's options or compatible `overrides` (see the
   * file comment). Throws HotSnapshotError for a payload that is malformed, of another format version, or
   * incompatible with the overrides; HotTierConfigError for overrides that are invalid in themselves.
   */
  static fromSnapshot(bytes: Uint8Array, overrides: HotTierInput = {}): HotTier {
    if (!(bytes instanceof Uint8Array)) throw new HotSnapshotError('malformed', 'hot snapshot: the payload is not a Uint8Array');
    const r = new SnapshotReader(bytes);
    r.header();
    r.where = 'options';
    const written = readOptions(r);
    let tier: HotTier;
    try {
      tier = new HotTier(written);
    } catch (e) {
      if (e instanceof HotTierConfigError) r.fail(`the options it was taken with are invalid: ${e.message}`, e);
      throw e;
    }
    if (Object.keys(overrides).length > 0) {
      const wanted: HotTierOptions = {
        ...written, ...overrides, features: { ...written.features, ...overrides.features }, portfolio: { ...written.portfolio, ...overrides.portfolio },
      };
      const changed = (Object.keys(written.features) as (keyof FeatureOptions)[]).filter((key) => wanted.features[key] !== written.features[key]);
      if (changed.length > 0) {
        throw new HotSnapshotError('incompatible', `hot snapshot: indicator state cannot change its options (${
          changed.map((key) => `features.${key} ${written.features[key]} in the snapshot, ${wanted.features[key]} requested`).join('; ')
        }); restore with the snapshot's features, or start an empty tier and replay`);
      }
      tier = new HotTier(wanted);
    }
    tier.restore(r, written);
    r.end();
    return tier;
  }

  /** Reads counters, exchange table, portfolio and symbols into this new, empty tier. */
  private restore(r: SnapshotReader, written: HotTierOptions): void {
    r.where = 'tier counters';
    this.acceptedTrades = r.counter('accepted trades');
    this.acceptedQuotes = r.counter('accepted quotes');
    this.acceptedBars = r.counter('accepted bars');
    this.lateBookQuotes = r.counter('late book quotes');
    this.lateBars = r.counter('late bars');
    this.evictedOverMaxSymbols = r.counter('symbols evicted over maxSymbols');
    this.evictedOverCeiling = r.counter('symbols evicted over the memory ceiling');
    for (const key of ['tradesByWindow', 'tradesByCapacity', 'quotesByWindow', 'quotesByCapacity'] as const) this.retired[key] = r.counter(`retired ${key}`);
    for (const reason of HOT_REJECT_REASONS) this.rejectCounts[reason] = r.counter(`${reason} rejects`);
    this.exchanges.readSnapshot(r);
    this.portfolio.readSnapshot(r, written.portfolio, (message) => {
      throw new HotSnapshotError('incompatible', `hot snapshot: ${message}; raise the limit or restore with the snapshot's portfolio options`);
    });

    r.where = 'symbols';
    const count = r.count('symbols', written.maxSymbols, MIN_SYMBOL_SNAPSHOT_BYTES);
    const writtenFixed = fixedReservedBytes(written);
    const writtenPerSymbol = SymbolState.plannedBytes(written);
    if (writtenFixed + count * writtenPerSymbol > written.memoryCeilingBytes) {
      r.fail(`${count} symbols of ${writtenPerSymbol} bytes cannot have been held under its memoryCeilingBytes ${written.memoryCeilingBytes}`);
    }
    // Only other options can make symbols not fit: then the least recently used (written first) go, as they arrive.
    const byCeiling = Math.floor((this.options.memoryCeilingBytes - this.fixedReservedBytes) / this.perSymbolBytes);
    const dropped = Math.max(0, count - Math.min(this.options.maxSymbols, byCeiling));
    const seen = new Set<string>();
    let spare: SymbolState | undefined;
    for (let i = 0; i < count; i++) {
      r.where = `symbol ${i} of ${count}`;
      const symbol = flatCopy(r.string('symbol', MAX_SYMBOL_BYTES));
      const problem = symbolProblem(symbol);
      if (problem !== undefined) r.fail(`symbol ${JSON.stringify(symbol)} is invalid: ${problem}`);
      if (seen.has(symbol)) r.fail(`symbol ${symbol} appears twice`);
      seen.add(symbol);
      const state = spare === undefined ? new SymbolState(symbol, this.options, this.exchanges) : spare.reset(symbol);
      spare = undefined;
      state.readSnapshot(r, written, this.exchanges.names.length);
      if (i < dropped) {
        if (this.options.maxSymbols <= byCeiling) this.evictedOverMaxSymbols++;
        else this.evictedOverCeiling++;
        this.retire(state);
        spare = state;
        continue;
      }
      this.bySymbol.set(symbol, state);
      state.older = this.mru;
      if (this.mru !== undefined) this.mru.newer = state;
      this.mru = state;
      this.lru ??= state;
    }
  }

  // ---- symbols and LRU ---------------------------------------------------------------------------------------

  private reservedBytes(): number {
    return this.fixedReservedBytes + this.bySymbol.size * this.perSymbolBytes;
  }

  private writable(symbol: string): SymbolState | undefined {
    const mru = this.mru;
    if (mru !== undefined && mru.symbol === symbol) return mru;
    const state = this.bySymbol.get(symbol);
    if (state === undefined) return this.create(symbol);
    this.touch(state);
    return state;
  }

  private readable(symbol: string): SymbolState | undefined {
    const mru = this.mru;
    if (mru !== undefined && mru.symbol === symbol) return mru;
    const state = this.bySymbol.get(symbol);
    if (state !== undefined) this.touch(state);
    return state;
  }

  private create(symbol: string): SymbolState | undefined {
    if (typeof symbol !== 'string' || symbolProblem(symbol) !== undefined) {
      this.reject('invalidSymbol');
      return undefined;
    }
    let spare: SymbolState | undefined;
    for (;;) {
      const overCount = this.bySymbol.size >= this.options.maxSymbols;
      const overBytes = this.reservedBytes() + this.perSymbolBytes > this.options.memoryCeilingBytes;
      if (!overCount && !overBytes) break;
      // The constructor proved one symbol fits, so a victim exists whenever a bound is hit.
      const victim = this.lru as SymbolState;
      if (overCount) this.evictedOverMaxSymbols++;
      else this.evictedOverCeiling++;
      this.evict(victim);
      spare ??= victim;
    }
    const own = flatCopy(symbol);
    const state = spare === undefined ? new SymbolState(own, this.options, this.exchanges) : spare.reset(own);
    this.bySymbol.set(own, state);
    state.older = this.mru;
    if (this.mru !== undefined) this.mru.newer = state;
    this.mru = state;
    this.lru ??= state;
    return state;
  }

  private evict(state: SymbolState): void {
    this.retire(state);
    this.unlink(state);
    this.bySymbol.delete(state.symbol);
  }

  /** Keeps what outlives a symbol leaving: its ring counters, and its mark for the portfolio. */
  private retire(state: SymbolState): void {
    addRingCounters(this.retired, state);
    const mark = markOf(state);
    if (mark !== undefined) this.portfolio.rememberMark(state.symbol, mark);
  }

  private touch(state: SymbolState): void {
    if (state === this.mru) return;
    this.unlink(state);
    state.older = this.mru;
    if (this.mru !== undefined) this.mru.newer = state;
    this.mru = state;
    this.lru ??= state;
  }

  private unlink(state: SymbolState): void {
    if (state.newer === undefined) this.mru = state.older;
    else state.newer.older = state.older;
    if (state.older === undefined) this.lru = state.newer;
    else state.older.newer = state.newer;
    state.newer = undefined;
    state.older = undefined;
  }

  private reject(reason: HotRejectReason): false {
    this.rejectCounts[reason]++;
    return false;
  }

  private emptyTrades(): TradeBatch {
    return {
      length: 0, tsNs: new BigInt64Array(0), tradeId: new BigInt64Array(0), price: new Float64Array(0), size: new Float64Array(0),
      exchangeCode: new Uint8Array(0), exchangeNames: this.exchanges.names,
    };
  }

  private emptyQuotes(): QuoteBatch {
    return {
      length: 0, tsNs: new BigInt64Array(0), bidPrice: new Float64Array(0), bidSize: new Float64Array(0), askPrice: new Float64Array(0),
      askSize: new Float64Array(0), bidExchangeCode: new Uint8Array(0), askExchangeCode: new Uint8Array(0), exchangeNames: this.exchanges.names,
    };
  }
}

/** What a tier reserves besides its symbols: itself, the exchange table and the portfolio at their maximum. */
function fixedReservedBytes(options: HotTierOptions): number {
  return TIER_OBJECT_BYTES + ExchangeTable.maxByteSize + Portfolio.maxByteSize(options.portfolio);
}

function writeOptions(w: SnapshotWriter, o: HotTierOptions): void {
  w.bigint(o.windowNs);
  for (const v of [o.tradesCapacity, o.quotesCapacity, o.maxSymbols, o.memoryCeilingBytes]) w.f64(v);
  const f = o.features;
  for (const v of [f.rsiPeriod, f.macdFast, f.macdSlow, f.macdSignal, f.bollingerPeriod, f.bollingerK]) w.f64(v);
  w.bigint(f.volumeBucketNs);
  w.f64(f.volumeLookback);
  const p = o.portfolio;
  for (const v of [p.initialCash, p.maxOpenOrders, p.closedOrdersKept, p.maxPositions]) w.f64(v);
}

/** The options as written; HotTier's constructor validates them. */
function readOptions(r: SnapshotReader): HotTierOptions {
  const windowNs = r.bigint('windowNs');
  const tradesCapacity = r.f64('tradesCapacity');
  const quotesCapacity = r.f64('quotesCapacity');
  const maxSymbols = r.f64('maxSymbols');
  const memoryCeilingBytes = r.f64('memoryCeilingBytes');
  const features: FeatureOptions = {
    rsiPeriod: r.f64('features.rsiPeriod'),
    macdFast: r.f64('features.macdFast'),
    macdSlow: r.f64('features.macdSlow'),
    macdSignal: r.f64('features.macdSignal'),
    bollingerPeriod: r.f64('features.bollingerPeriod'),
    bollingerK: r.f64('features.bollingerK'),
    volumeBucketNs: r.bigint('features.volumeBucketNs'),
    volumeLookback: r.f64('features.volumeLookback'),
  };
  const portfolio: PortfolioOptions = {
    initialCash: r.f64('portfolio.initialCash'),
    maxOpenOrders: r.f64('portfolio.maxOpenOrders'),
    closedOrdersKept: r.f64('portfolio.closedOrdersKept'),
    maxPositions: r.f64('portfolio.maxPositions'),
  };
  return { windowNs, tradesCapacity, quotesCapacity, maxSymbols, memoryCeilingBytes, features, portfolio };
}

function markOf(state: SymbolState): number | undefined {
  const mid = state.book.hasQuote ? state.book.mid() : Number.NaN;
  const last = state.features.lastTradePrice;
  const midOk = mid > 0 && mid < Infinity;
  const lastOk = last > 0 && last < Infinity;
  if (midOk && lastOk) return (state.book.updateTs ?? 0n) >= (state.features.lastTradeTs ?? 0n) ? mid : last;
  if (midOk) return mid;
  return lastOk ? last : undefined;
}

function addRingCounters(into: { tradesByWindow: number; tradesByCapacity: number; quotesByWindow: number; quotesByCapacity: number }, s: SymbolState): void {
  into.tradesByWindow += s.trades.evictedByWindow;
  into.tradesByCapacity += s.trades.evictedByCapacity;
  into.quotesByWindow += s.quotes.evictedByWindow;
  into.quotesByCapacity += s.quotes.evictedByCapacity;
}

function validateOptions(o: HotTierOptions): void {
  const fail = (key: string, value: unknown, rule: string): never => {
    throw new HotTierConfigError(`hot tier option ${key} = ${String(value)}: ${rule}`);
  };
  // Above 2^63 - 1 the rings (64-bit event times) would refuse it only when the first symbol arrives.
  if (typeof o.windowNs !== 'bigint' || o.windowNs <= 0n || o.windowNs > 2n ** 63n - 1n) {
    fail('windowNs', o.windowNs, 'must be a positive bigint of nanoseconds below 2^63');
  }
  // 2^27 slots: beyond it a ring's columns pass a gigabyte, which no hot tier here should hold.
  for (const key of ['tradesCapacity', 'quotesCapacity'] as const) {
    if (!Number.isSafeInteger(o[key]) || o[key] < 1 || o[key] > 2 ** 27) fail(key, o[key], 'must be an integer from 1 to 134217728');
  }
  if (!Number.isSafeInteger(o.maxSymbols) || o.maxSymbols < 1) fail('maxSymbols', o.maxSymbols, 'must be a positive integer');
  if (!(o.memoryCeilingBytes > 0 && o.memoryCeilingBytes <= Number.MAX_SAFE_INTEGER)) fail('memoryCeilingBytes', o.memoryCeilingBytes, 'must be a positive number of bytes');
  try {
    validateFeatureOptions(o.features);
    // Constructing one checks the portfolio limits the same way.
    void new Portfolio(o.portfolio);
  } catch (e) {
    throw new HotTierConfigError(`hot tier option ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
