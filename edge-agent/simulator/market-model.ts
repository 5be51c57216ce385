/**
 * A synthetic market, deterministic for a seed: per symbol a random walk of the bid on its tick grid with a spread of
 * one to three ticks, trades at or inside the quote with round, odd-lot and block sizes (fractional for crypto pairs),
 * trade ids strictly increasing per symbol, and now and then a correction or cancel of a recent trade. Minute bars
 * (and running daily bars) come out when simulated time crosses a minute boundary, built from the trades of that
 * minute as sent.
 *
 * The model has no clock and no timer of its own: the caller says how many events happened and up to which simulated
 * instant, so the same model runs in real time behind the server and as fast as a test likes.
 */
import type { EpochNs } from '../../core/column-types.ts';
import type {
  AlpacaDataMessage,
  AlpacaQuote,
  AlpacaTrade,
  AlpacaTradeCancel,
  AlpacaTradeCorrection,
} from './alpaca-messages.ts';
import { BarBuilder } from './bar-builder.ts';
import { type Instrument, instrumentFor } from './instruments.ts';
import { Prng } from './prng.ts';
import { Rfc3339Stamper, formatRfc3339Nanos } from '../../core/rfc3339.ts';

export class MarketModelError extends Error {
  override readonly name = 'MarketModelError';
}

export interface MarketModelOptions {
  readonly seed: number;
  /** The symbols to simulate; crypto pairs contain a '/'. */
  readonly symbols: readonly string[];
  /** Simulated time before the first event; every event is stamped after it. */
  readonly startNs: EpochNs;
  /** Share of events that are trades; the rest are quotes. @default 0.3 */
  readonly tradeShare?: number;
  /** Share of trade events that instead correct an earlier trade. @default 0 */
  readonly correctionRate?: number;
  /** Share of trade events that instead cancel an earlier trade. @default 0 */
  readonly cancelRate?: number;
}

const NS_PER_MINUTE = 60_000_000_000n;
const NS_PER_DAY = 86_400_000_000_000n;
/** How many of a symbol's latest trades stay eligible for a correction or cancel. */
const RECENT_TRADES = 64;
/** Spreads in ticks, repeated by how often they occur. */
const SPREADS = [1, 1, 1, 2, 2, 3];
/** Share of events that move the price; the rest requote or trade at the same level. */
const MOVE_SHARE = 0.15;

interface SentTrade {
  readonly id: number;
  readonly venue: string;
  readonly priceTicks: number;
  readonly sizeUnits: number;
  readonly conditions: readonly string[];
}

interface SymbolState {
  readonly instrument: Instrument;
  bidTicks: number;
  spreadTicks: number;
  nextTradeId: number;
  readonly minuteBar: BarBuilder;
  readonly dayBar: BarBuilder;
  /** The latest RECENT_TRADES trades not yet corrected or cancelled: recent[recentHead..]. */
  readonly recent: SentTrade[];
  recentHead: number;
}

function floorTo(ns: EpochNs, unit: bigint): EpochNs {
  const r = ns % unit;
  return r < 0n ? ns - r - unit : ns - r;
}

function checkShare(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new MarketModelError(`${name} must be within [0, 1], got ${value}`);
  return value;
}

export class MarketModel {
  private readonly prng: Prng;
  private readonly states: readonly SymbolState[];
  private readonly cumulativeWeights: readonly number[];
  private readonly tradeShare: number;
  private readonly correctionRate: number;
  private readonly cancelRate: number;
  private cursor: EpochNs;
  private minuteStartNs: EpochNs;
  private dayStartNs: EpochNs;

  constructor(options: MarketModelOptions) {
    if (options.symbols.length === 0) throw new MarketModelError('symbols must name at least one symbol');
    if (new Set(options.symbols).size !== options.symbols.length) {
      throw new MarketModelError(`symbols must not repeat: ${options.symbols.join(',')}`);
    }
    this.tradeShare = checkShare('tradeShare', options.tradeShare ?? 0.3);
    this.correctionRate = checkShare('correctionRate', options.correctionRate ?? 0);
    this.cancelRate = checkShare('cancelRate', options.cancelRate ?? 0);
    if (this.correctionRate + this.cancelRate > 1) {
      throw new MarketModelError(`correctionRate + cancelRate must not exceed 1, got ${this.correctionRate + this.cancelRate}`);
    }
    this.prng = new Prng(options.seed);
    this.states = options.symbols.map((symbol) => {
      const instrument = instrumentFor(symbol, this.prng);
      return {
        instrument,
        bidTicks: instrument.startPriceTicks,
        spreadTicks: 1,
        nextTradeId: this.prng.between(1_000, 999_999),
        minuteBar: new BarBuilder(symbol, instrument.priceScale, instrument.sizeScale),
        dayBar: new BarBuilder(symbol, instrument.priceScale, instrument.sizeScale),
        recent: [],
        recentHead: 0,
      };
    });
    let total = 0;
    this.cumulativeWeights = this.states.map((s) => (total += s.instrument.weight));
    this.cursor = options.startNs;
    this.minuteStartNs = floorTo(options.startNs, NS_PER_MINUTE);
    this.dayStartNs = floorTo(options.startNs, NS_PER_DAY);
  }

  /** The simulated instant the model has reached. */
  get cursorNs(): EpochNs {
    return this.cursor;
  }

  get instruments(): readonly Instrument[] {
    return this.states.map((s) => s.instrument);
  }

  /**
   * Produces `eventCount` trades and quotes (corrections and cancels among them) stamped in order within
   * (cursorNs, untilNs], plus the bars of every minute that closes on the way. Time never runs backwards: an
   * `untilNs` before the cursor stamps the events at the cursor.
   */
  advance(eventCount: number, untilNs: EpochNs): AlpacaDataMessage[] {
    const out: AlpacaDataMessage[] = [];
    const fromNs = this.cursor;
    const end = untilNs > fromNs ? untilNs : fromNs;
    const stamps = this.arrivalOffsets(eventCount, Number(end - fromNs));
    // Offsets stay plain numbers (a window is far below 2^53 ns); bigint only where a minute closes.
    const stamper = new Rfc3339Stamper(fromNs);
    let minuteEndOffset = Number(this.minuteStartNs + NS_PER_MINUTE - fromNs);
    for (const offset of stamps) {
      if (offset >= minuteEndOffset) {
        this.closeMinute(fromNs + BigInt(offset), out);
        minuteEndOffset = Number(this.minuteStartNs + NS_PER_MINUTE - fromNs);
      }
      out.push(this.nextEvent(stamper.format(offset)));
    }
    if (end >= this.minuteStartNs + NS_PER_MINUTE) this.closeMinute(end, out);
    this.cursor = end;
    return out;
  }

  /** Sorted offsets in (0, windowNs] (all 0 for an empty window): uniform order statistics via exponential gaps. */
  private arrivalOffsets(count: number, windowNs: number): number[] {
    const gaps = new Array<number>(count);
    let total = this.prng.exponential(1);
    for (let k = 0; k < count; k++) {
      total += this.prng.exponential(1);
      gaps[k] = total;
    }
    const scale = windowNs / total;
    for (let k = 0; k < count; k++) gaps[k] = Math.min(windowNs, Math.ceil((gaps[k] ?? 0) * scale));
    return gaps;
  }

  /** Emits the bars of the current minute and moves to the minute holding `nowNs`. */
  private closeMinute(nowNs: EpochNs, out: AlpacaDataMessage[]): void {
    const minuteTime = formatRfc3339Nanos(this.minuteStartNs);
    const dayTime = formatRfc3339Nanos(this.dayStartNs);
    const traded = this.states.filter((s) => s.minuteBar.tradeCount > 0);
    for (const state of traded) {
      const bar = state.minuteBar.toMessage('b', minuteTime);
      if (bar !== undefined) out.push(bar);
      state.minuteBar.reset();
    }
    for (const state of traded) {
      const daily = state.dayBar.toMessage('d', dayTime);
      if (daily !== undefined) out.push(daily);
    }
    this.minuteStartNs = floorTo(nowNs, NS_PER_MINUTE);
    const dayStartNs = floorTo(nowNs, NS_PER_DAY);
    if (dayStartNs !== this.dayStartNs) {
      this.dayStartNs = dayStartNs;
      for (const state of this.states) state.dayBar.reset();
    }
  }

  private pickSymbol(): SymbolState {
    const total = this.cumulativeWeights[this.cumulativeWeights.length - 1] ?? 0;
    const draw = this.prng.next() * total;
    // A plain loop: this runs per event, and a closure per call shows up in profiles.
    let index = 0;
    while (index < this.cumulativeWeights.length - 1 && draw >= (this.cumulativeWeights[index] ?? 0)) index++;
    const state = this.states[index];
    if (state === undefined) throw new MarketModelError('no symbols');
    return state;
  }

  /** One trade or quote (or correction or cancel) stamped `t`. */
  private nextEvent(t: string): AlpacaDataMessage {
    const state = this.pickSymbol();
    const prng = this.prng;
    if (prng.chance(MOVE_SHARE)) {
      state.bidTicks = Math.max(1, state.bidTicks + Math.round(prng.gauss() * state.instrument.stepSigmaTicks));
    }
    if (prng.chance(0.3)) state.spreadTicks = prng.pick(SPREADS);
    if (!prng.chance(this.tradeShare)) return this.quote(state, t);
    const draw = prng.next();
    if (draw < this.correctionRate) {
      const original = this.takeRecent(state);
      if (original !== undefined) return this.correction(state, original, t);
    } else if (draw < this.correctionRate + this.cancelRate) {
      const original = this.takeRecent(state);
      if (original !== undefined) return this.cancel(state, original, t);
    }
    return this.trade(state, t);
  }

  private quote(state: SymbolState, t: string): AlpacaQuote {
    const { instrument } = state;
    const prng = this.prng;
    return {
      T: 'q',
      S: instrument.symbol,
      bx: prng.pick(instrument.quoteVenues),
      bp: state.bidTicks / instrument.priceScale,
      bs: this.quoteSizeUnits(instrument) / instrument.sizeScale,
      ax: prng.pick(instrument.quoteVenues),
      ap: (state.bidTicks + state.spreadTicks) / instrument.priceScale,
      as: this.quoteSizeUnits(instrument) / instrument.sizeScale,
      t,
      c: instrument.kind === 'stock' ? ['R'] : [],
      z: instrument.tape,
    };
  }

  private quoteSizeUnits(instrument: Instrument): number {
    if (instrument.kind === 'stock') return 100 * this.prng.between(1, 12);
    return 1 + Math.round(this.prng.exponential(instrument.meanSizeUnits * 4));
  }

  private trade(state: SymbolState, t: string): AlpacaTrade {
    const { instrument } = state;
    const prng = this.prng;
    const askTicks = state.bidTicks + state.spreadTicks;
    let priceTicks: number;
    if (state.spreadTicks > 1 && prng.chance(0.1)) priceTicks = prng.between(state.bidTicks + 1, askTicks - 1);
    else priceTicks = prng.chance(0.5) ? state.bidTicks : askTicks;
    let sizeUnits: number;
    let conditions: string[];
    if (instrument.kind === 'crypto') {
      sizeUnits = Math.max(1, Math.round(prng.exponential(instrument.meanSizeUnits)));
      conditions = [];
    } else {
      const kind = prng.next();
      if (kind < 0.25) sizeUnits = prng.between(1, 99);
      else if (kind < 0.98) sizeUnits = 100 * (1 + Math.floor(prng.exponential(1.5)));
      else sizeUnits = 100 * prng.between(10, 100);
      conditions = ['@'];
      if (prng.chance(0.1)) conditions.push('F');
      if (sizeUnits < 100) conditions.push('I');
    }
    const sent: SentTrade = { id: state.nextTradeId, venue: prng.pick(instrument.tradeVenues), priceTicks, sizeUnits, conditions };
    state.nextTradeId += prng.between(1, 3);
    state.recent.push(sent);
    // Dropping the oldest by moving a head index (compacting now and then) instead of shift() on every trade.
    if (state.recent.length - state.recentHead > RECENT_TRADES) state.recentHead++;
    if (state.recentHead >= RECENT_TRADES) {
      state.recent.splice(0, state.recentHead);
      state.recentHead = 0;
    }
    state.minuteBar.add(priceTicks, sizeUnits);
    state.dayBar.add(priceTicks, sizeUnits);
    return {
      T: 't',
      S: instrument.symbol,
      i: sent.id,
      x: sent.venue,
      p: priceTicks / instrument.priceScale,
      s: sizeUnits / instrument.sizeScale,
      t,
      c: conditions,
      z: instrument.tape,
    };
  }

  /** Removes and returns a random recent trade, so each trade is corrected or cancelled at most once. */
  private takeRecent(state: SymbolState): SentTrade | undefined {
    const count = state.recent.length - state.recentHead;
    if (count === 0) return undefined;
    return state.recent.splice(state.recentHead + this.prng.int(count), 1)[0];
  }

  private correction(state: SymbolState, original: SentTrade, t: string): AlpacaTradeCorrection {
    const { instrument } = state;
    const prng = this.prng;
    let priceTicks = original.priceTicks;
    let sizeUnits = original.sizeUnits;
    if (prng.chance(0.5)) priceTicks = Math.max(1, priceTicks + prng.pick([-1, 1]));
    else sizeUnits = Math.max(1, sizeUnits + prng.pick([-1, 1]) * Math.max(1, Math.round(sizeUnits * 0.1)));
    const correctedId = state.nextTradeId;
    state.nextTradeId += prng.between(1, 3);
    return {
      T: 'c',
      S: instrument.symbol,
      x: original.venue,
      oi: original.id,
      op: original.priceTicks / instrument.priceScale,
      os: original.sizeUnits / instrument.sizeScale,
      oc: original.conditions,
      ci: correctedId,
      cp: priceTicks / instrument.priceScale,
      cs: sizeUnits / instrument.sizeScale,
      cc: original.conditions,
      t,
      z: instrument.tape,
    };
  }

  private cancel(state: SymbolState, original: SentTrade, t: string): AlpacaTradeCancel {
    const { instrument } = state;
    return {
      T: 'x',
      S: instrument.symbol,
      i: original.id,
      x: original.venue,
      p: original.priceTicks / instrument.priceScale,
      s: original.sizeUnits / instrument.sizeScale,
      a: this.prng.chance(0.95) ? 'C' : 'E',
      t,
      z: instrument.tape,
    };
  }
}
