/**
 * The features of one symbol, updated in O(1) on every trade (see indicators.ts for each definition). Reads build
 * a fresh snapshot; the book imbalance comes from the symbol's top of book at read time.
 */
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { Macd, RollingBands, VolumeRatio, WilderRsi } from './indicators.ts';
import { objectBytes } from './memory-estimate.ts';
import { join } from './time-limbs.ts';

export interface FeatureOptions {
  /** RSI period, in price changes. @default 14 */
  readonly rsiPeriod: number;
  /** MACD fast EMA period, in trades. @default 12 */
  readonly macdFast: number;
  /** MACD slow EMA period, in trades. @default 26 */
  readonly macdSlow: number;
  /** MACD signal EMA period, in MACD values. @default 9 */
  readonly macdSignal: number;
  /** Bollinger window, in trades. @default 20 */
  readonly bollingerPeriod: number;
  /** Bollinger width, in population standard deviations. @default 2 */
  readonly bollingerK: number;
  /** Volume-ratio bucket length, event time. @default 60_000_000_000n (1 minute) */
  readonly volumeBucketNs: bigint;
  /** Volume-ratio lookback, in buckets. @default 10 */
  readonly volumeLookback: number;
}

export const DEFAULT_FEATURE_OPTIONS: FeatureOptions = Object.freeze({
  rsiPeriod: 14,
  macdFast: 12,
  macdSlow: 26,
  macdSignal: 9,
  bollingerPeriod: 20,
  bollingerK: 2,
  volumeBucketNs: 60_000_000_000n,
  volumeLookback: 10,
});

/** Features of one symbol at one moment. null = not enough trades yet (or, for the imbalance, no sizes). */
export interface FeatureSnapshot {
  readonly symbol: string;
  /** Trades that updated these features since the symbol entered the hot tier. */
  readonly trades: number;
  readonly lastPrice: number | null;
  readonly lastTradeTsNs: bigint | null;
  readonly rsi: number | null;
  readonly macd: number | null;
  readonly macdSignal: number | null;
  readonly macdHistogram: number | null;
  readonly bollingerLower: number | null;
  readonly bollingerMiddle: number | null;
  readonly bollingerUpper: number | null;
  readonly volumeRatio: number | null;
  readonly bookImbalance: number | null;
}

/** Checks feature options, naming the bad one. */
export function validateFeatureOptions(o: FeatureOptions): void {
  const periods = ['rsiPeriod', 'macdFast', 'macdSlow', 'macdSignal', 'bollingerPeriod', 'volumeLookback'] as const;
  for (const key of periods) {
    const v = o[key];
    if (!Number.isSafeInteger(v) || v < 1 || v > 100_000) throw new RangeError(`features.${key} ${v} must be an integer from 1 to 100000`);
  }
  if (o.macdFast >= o.macdSlow) throw new RangeError(`features.macdFast ${o.macdFast} must be below features.macdSlow ${o.macdSlow}`);
  if (!(o.bollingerK >= 0 && o.bollingerK < Infinity)) throw new RangeError(`features.bollingerK ${o.bollingerK} must be a finite number >= 0`);
  if (o.volumeBucketNs <= 0n) throw new RangeError(`features.volumeBucketNs ${o.volumeBucketNs} must be positive`);
}

export class FeatureCache {
  private readonly rsi: WilderRsi;
  private readonly macd: Macd;
  private readonly bands: RollingBands;
  private readonly volume: VolumeRatio;
  private tradeCount = 0;
  private lastPrice = Number.NaN;
  /** Event time of the last trade as limbs (time-limbs.ts). */
  private lastTradeHi = 0;
  private lastTradeLo = 0;

  constructor(options: FeatureOptions) {
    this.rsi = new WilderRsi(options.rsiPeriod);
    this.macd = new Macd(options.macdFast, options.macdSlow, options.macdSignal);
    this.bands = new RollingBands(options.bollingerPeriod, options.bollingerK);
    this.volume = new VolumeRatio(options.volumeBucketNs, options.volumeLookback);
  }

  static plannedBytes(options: FeatureOptions): number {
    return objectBytes(8, 3) + WilderRsi.plannedBytes + Macd.plannedBytes
      + RollingBands.plannedBytes(options.bollingerPeriod) + VolumeRatio.plannedBytes(options.volumeLookback);
  }

  get byteSize(): number {
    return objectBytes(8, 3) + WilderRsi.plannedBytes + Macd.plannedBytes + this.bands.byteSize + this.volume.byteSize;
  }

  /** One trade at time (hi, lo) (time-limbs.ts), in arrival order. */
  update(tsHi: number, tsLo: number, price: number, size: number): void {
    this.tradeCount++;
    this.lastPrice = price;
    this.lastTradeHi = tsHi;
    this.lastTradeLo = tsLo;
    this.rsi.update(price);
    this.macd.update(price);
    this.bands.update(price);
    this.volume.update(tsHi, tsLo, size);
  }

  /** The last trade price, or NaN before the first trade. */
  get lastTradePrice(): number {
    return this.lastPrice;
  }

  /** Event time of the last trade, or undefined before the first. */
  get lastTradeTs(): bigint | undefined {
    return this.tradeCount > 0 ? join(this.lastTradeHi, this.lastTradeLo) : undefined;
  }

  snapshot(symbol: string, bookImbalance: number | null): FeatureSnapshot {
    const bands = this.bands.bands();
    const traded = this.tradeCount > 0;
    return {
      symbol,
      trades: this.tradeCount,
      lastPrice: traded ? this.lastPrice : null,
      lastTradeTsNs: traded ? join(this.lastTradeHi, this.lastTradeLo) : null,
      rsi: this.rsi.value(),
      macd: this.macd.line(),
      macdSignal: this.macd.signal(),
      macdHistogram: this.macd.histogram(),
      bollingerLower: bands === null ? null : bands[0],
      bollingerMiddle: bands === null ? null : bands[1],
      bollingerUpper: bands === null ? null : bands[2],
      volumeRatio: this.volume.value(),
      bookImbalance,
    };
  }

  /** Appends the incremental state of every indicator to a snapshot (hot-snapshot.ts). */
  writeSnapshot(w: SnapshotWriter): void {
    w.f64(this.tradeCount);
    w.f64(this.lastPrice);
    w.f64(this.lastTradeHi);
    w.u32(this.lastTradeLo);
    this.rsi.writeSnapshot(w);
    this.macd.writeSnapshot(w);
    this.bands.writeSnapshot(w);
    this.volume.writeSnapshot(w);
  }

  /** Restores state written by writeSnapshot into a cache built with the same options. */
  readSnapshot(r: SnapshotReader): void {
    this.tradeCount = r.counter('feature trade count');
    this.lastPrice = r.f64('last trade price');
    this.lastTradeHi = r.timeHi('last trade time', {});
    this.lastTradeLo = r.u32('last trade time');
    this.rsi.readSnapshot(r);
    this.macd.readSnapshot(r);
    this.bands.readSnapshot(r);
    this.volume.readSnapshot(r);
  }

  clear(): void {
    this.rsi.clear();
    this.macd.clear();
    this.bands.clear();
    this.volume.clear();
    this.tradeCount = 0;
    this.lastPrice = Number.NaN;
    this.lastTradeHi = 0;
    this.lastTradeLo = 0;
  }
}
