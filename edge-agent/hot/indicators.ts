/**
 * Streaming indicators, each O(1) per update with its state preallocated. The price series throughout is the price
 * of every trade, in arrival order (per-trade closes, not bar closes): the hot tier serves signals between bars.
 * Each definition below is the one test/hot-features.test.ts recomputes from scratch on real trades.
 */
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { BIGINT_BYTES, objectBytes, plannedTypedArrayBytes, typedArrayBytes } from './memory-estimate.ts';
import { join, limbsOf } from './time-limbs.ts';

const MAX_INT64 = 2n ** 63n - 1n;

/**
 * RSI with Wilder smoothing over `period` price changes.
 *  - change_i = p_i - p_(i-1); gain = max(change, 0), loss = max(-change, 0).
 *  - The first averages are the simple means of the first `period` gains and losses (so the first value comes with
 *    trade period + 1); after that avg = (avg * (period - 1) + x) / period.
 *  - RSI = 100 - 100 / (1 + avgGain / avgLoss); 100 when avgLoss is 0 and avgGain > 0; 50 when both are 0
 *    (no movement at all).
 */
export class WilderRsi {
  private prev = Number.NaN;
  private changes = 0;
  private avgGain = 0;
  private avgLoss = 0;

  constructor(readonly period: number) {}

  static readonly plannedBytes = objectBytes(5, 4);

  update(price: number): void {
    const prev = this.prev;
    this.prev = price;
    if (prev !== prev) return; // first price: no change yet (NaN check without a call)
    const change = price - prev;
    const gain = change > 0 ? change : 0;
    const loss = change < 0 ? -change : 0;
    const n = this.period;
    if (this.changes < n) {
      // Seed phase: avgGain/avgLoss hold running sums until the period is complete.
      this.avgGain += gain;
      this.avgLoss += loss;
      if (++this.changes === n) {
        this.avgGain /= n;
        this.avgLoss /= n;
      }
      return;
    }
    this.avgGain = (this.avgGain * (n - 1) + gain) / n;
    this.avgLoss = (this.avgLoss * (n - 1) + loss) / n;
  }

  value(): number | null {
    if (this.changes < this.period) return null;
    if (this.avgLoss === 0) return this.avgGain === 0 ? 50 : 100;
    return 100 - 100 / (1 + this.avgGain / this.avgLoss);
  }

  writeSnapshot(w: SnapshotWriter): void {
    w.f64(this.prev);
    w.f64(this.changes);
    w.f64(this.avgGain);
    w.f64(this.avgLoss);
  }

  readSnapshot(r: SnapshotReader): void {
    this.prev = r.f64('rsi previous price');
    this.changes = r.counter('rsi changes');
    if (this.changes > this.period) r.fail(`rsi changes ${this.changes} exceed the period ${this.period}`);
    this.avgGain = r.f64('rsi average gain');
    this.avgLoss = r.f64('rsi average loss');
  }

  clear(): void {
    this.prev = Number.NaN;
    this.changes = 0;
    this.avgGain = 0;
    this.avgLoss = 0;
  }
}

/**
 * MACD over prices, each EMA with alpha = 2 / (period + 1) and seeded with the simple mean of its first `period`
 * inputs (so it exists from its period-th input on), then ema = ema + alpha * (x - ema):
 *  - line = EMA(fast) - EMA(slow) of prices, from the trade where the slow EMA exists (trade `slow`);
 *  - signal = EMA(signal) of the line (first value at trade slow + signal - 1);
 *  - histogram = line - signal.
 * The three EMAs are plain fields (no object per EMA): this runs on every trade.
 */
export class Macd {
  private readonly fastAlpha: number;
  private readonly slowAlpha: number;
  private readonly signalAlpha: number;
  private count = 0;
  private fast = 0;
  private slow = 0;
  private lines = 0;
  private signalValue = 0;
  private lineValue = 0;

  constructor(readonly fastPeriod: number, readonly slowPeriod: number, readonly signalPeriod: number) {
    this.fastAlpha = 2 / (fastPeriod + 1);
    this.slowAlpha = 2 / (slowPeriod + 1);
    this.signalAlpha = 2 / (signalPeriod + 1);
  }

  static readonly plannedBytes = objectBytes(12, 9);

  update(price: number): void {
    const n = ++this.count;
    if (n < this.fastPeriod) this.fast += price;
    else if (n === this.fastPeriod) this.fast = (this.fast + price) / this.fastPeriod;
    else this.fast += this.fastAlpha * (price - this.fast);
    if (n < this.slowPeriod) {
      this.slow += price;
      return;
    }
    if (n === this.slowPeriod) this.slow = (this.slow + price) / this.slowPeriod;
    else this.slow += this.slowAlpha * (price - this.slow);
    const line = this.fast - this.slow;
    this.lineValue = line;
    const m = ++this.lines;
    if (m < this.signalPeriod) this.signalValue += line;
    else if (m === this.signalPeriod) this.signalValue = (this.signalValue + line) / this.signalPeriod;
    else this.signalValue += this.signalAlpha * (line - this.signalValue);
  }

  line(): number | null {
    return this.lines > 0 ? this.lineValue : null;
  }

  signal(): number | null {
    return this.lines >= this.signalPeriod ? this.signalValue : null;
  }

  histogram(): number | null {
    return this.lines >= this.signalPeriod ? this.lineValue - this.signalValue : null;
  }

  writeSnapshot(w: SnapshotWriter): void {
    for (const v of [this.count, this.fast, this.slow, this.lines, this.signalValue, this.lineValue]) w.f64(v);
  }

  readSnapshot(r: SnapshotReader): void {
    this.count = r.counter('macd inputs');
    this.fast = r.f64('macd fast ema');
    this.slow = r.f64('macd slow ema');
    this.lines = r.counter('macd lines');
    this.signalValue = r.f64('macd signal');
    this.lineValue = r.f64('macd line');
  }

  clear(): void {
    this.count = 0;
    this.fast = 0;
    this.slow = 0;
    this.lines = 0;
    this.signalValue = 0;
    this.lineValue = 0;
  }
}

/**
 * Bollinger bands over the last `period` prices: middle = their mean, upper/lower = mean +/- k * sigma with sigma
 * the POPULATION standard deviation (divide by period, not period - 1).
 *
 * O(1) per update: sums of (x - shift) and (x - shift)^2 are updated as a price enters and the oldest leaves. The
 * shift (a recent price) keeps the squares small, so the variance does not cancel catastrophically at prices near
 * 10 000, and every `period` updates the sums are recomputed from the window and the shift moved to the newest
 * price, so rounding cannot accumulate: amortised O(1), error bounded by `period` steps.
 */
export class RollingBands {
  private readonly window: Float64Array;
  private next = 0;
  private count = 0;
  private shift = Number.NaN;
  private sum = 0;
  private sumSquares = 0;

  constructor(readonly period: number, readonly k: number) {
    this.window = new Float64Array(period);
  }

  static plannedBytes(period: number): number {
    return objectBytes(8, 4) + plannedTypedArrayBytes(period, 8);
  }

  get byteSize(): number {
    return objectBytes(8, 4) + typedArrayBytes(this.window);
  }

  update(price: number): void {
    const w = this.window;
    const slot = this.next;
    if (this.count === 0) this.shift = price;
    if (this.count < this.period) {
      this.count++;
      const d = price - this.shift;
      this.sum += d;
      this.sumSquares += d * d;
    } else {
      const dOut = (w[slot] as number) - this.shift;
      const dIn = price - this.shift;
      this.sum += dIn - dOut;
      this.sumSquares += dIn * dIn - dOut * dOut;
    }
    w[slot] = price;
    this.next = slot + 1 === this.period ? 0 : slot + 1;
    if (this.next === 0 && this.count === this.period) this.recompute(price);
  }

  /** [lower, middle, upper], or null before `period` prices. */
  bands(): [number, number, number] | null {
    if (this.count < this.period) return null;
    const n = this.period;
    const meanOffset = this.sum / n;
    const variance = Math.max(0, this.sumSquares / n - meanOffset * meanOffset);
    const middle = this.shift + meanOffset;
    const width = this.k * Math.sqrt(variance);
    return [middle - width, middle, middle + width];
  }

  /** The prices held (slots 0..count-1: before the window fills, `next` equals `count`) and the running sums. */
  writeSnapshot(w: SnapshotWriter): void {
    w.u32(this.count);
    w.u32(this.next);
    w.f64(this.shift);
    w.f64(this.sum);
    w.f64(this.sumSquares);
    w.column(this.window, 0, this.count);
  }

  readSnapshot(r: SnapshotReader): void {
    const count = r.u32('bollinger count');
    if (count > this.period) r.fail(`bollinger count ${count} exceeds the period ${this.period}`);
    const next = r.index('bollinger next slot', this.period);
    if (count < this.period && next !== count) r.fail(`bollinger next slot ${next} of a window holding ${count} prices`);
    this.count = count;
    this.next = next;
    this.shift = r.f64('bollinger shift');
    this.sum = r.f64('bollinger sum');
    this.sumSquares = r.f64('bollinger sum of squares');
    r.columnInto('bollinger window', this.window, count, count, 0);
  }

  clear(): void {
    this.next = 0;
    this.count = 0;
    this.shift = Number.NaN;
    this.sum = 0;
    this.sumSquares = 0;
  }

  private recompute(shift: number): void {
    this.shift = shift;
    let sum = 0;
    let sumSquares = 0;
    for (let i = 0; i < this.period; i++) {
      const d = (this.window[i] as number) - shift;
      sum += d;
      sumSquares += d * d;
    }
    this.sum = sum;
    this.sumSquares = sumSquares;
  }
}

/**
 * Volume ratio over aligned event-time buckets of `bucketNs` (bucket b covers [b * bucketNs, (b + 1) * bucketNs)):
 *
 *   ratio = volume of the current bucket / mean volume of the previous `lookback` buckets
 *
 * The current bucket is the one holding the newest trade time seen; it is still filling, so early in a bucket the
 * ratio is low by construction. "Previous" buckets are counted from the first trade's bucket: with fewer than
 * `lookback` behind it the mean is over those there are. A bucket with no trades counts as 0 volume. A late trade
 * (time before the current bucket) adds to the current bucket. null before one bucket has completed or when the
 * previous buckets traded nothing.
 */
export class VolumeRatio {
  private readonly history: Float64Array;
  private historyNext = 0;
  private historyCount = 0;
  private historySum = 0;
  private currentVolume = 0;
  /** End (exclusive) of the current bucket as limbs (time-limbs.ts); -Infinity before the first trade. */
  private bucketEndHi = -Infinity;
  private bucketEndLo = 0;
  private bucketIndex = 0n;

  constructor(readonly bucketNs: bigint, readonly lookback: number) {
    this.history = new Float64Array(lookback);
  }

  static plannedBytes(lookback: number): number {
    return objectBytes(10, 4) + plannedTypedArrayBytes(lookback, 8) + 2 * BIGINT_BYTES;
  }

  get byteSize(): number {
    return objectBytes(10, 4) + typedArrayBytes(this.history) + 2 * BIGINT_BYTES;
  }

  /** One trade of `size` at time (hi, lo) (time-limbs.ts). */
  update(tsHi: number, tsLo: number, size: number): void {
    if (tsHi > this.bucketEndHi || (tsHi === this.bucketEndHi && tsLo >= this.bucketEndLo)) this.advance(join(tsHi, tsLo));
    this.currentVolume += size;
  }

  value(): number | null {
    if (this.historyCount === 0) return null;
    const mean = this.historySum / this.historyCount;
    return mean > 0 ? this.currentVolume / mean : null;
  }

  writeSnapshot(w: SnapshotWriter): void {
    w.u32(this.historyNext);
    w.u32(this.historyCount);
    w.f64(this.historySum);
    w.f64(this.currentVolume);
    w.f64(this.bucketEndHi);
    w.u32(this.bucketEndLo);
    w.bigint(this.bucketIndex);
    w.column(this.history, 0, this.lookback);
  }

  readSnapshot(r: SnapshotReader): void {
    this.historyNext = r.index('volume history slot', this.lookback);
    this.historyCount = r.u32('volume history count');
    if (this.historyCount > this.lookback) r.fail(`volume history count ${this.historyCount} exceeds the lookback ${this.lookback}`);
    this.historySum = r.f64('volume history sum');
    this.currentVolume = r.f64('current bucket volume');
    this.bucketEndHi = r.timeHi('bucket end', { negative: true, positive: true });
    this.bucketEndLo = r.u32('bucket end');
    this.bucketIndex = r.bigintIn('bucket index', -MAX_INT64 - 1n, MAX_INT64);
    r.columnInto('volume history', this.history, this.lookback, this.lookback, 0);
  }

  clear(): void {
    this.history.fill(0);
    this.historyNext = 0;
    this.historyCount = 0;
    this.historySum = 0;
    this.currentVolume = 0;
    this.bucketEndHi = -Infinity;
    this.bucketEndLo = 0;
    this.bucketIndex = 0n;
  }

  private advance(tsNs: bigint): void {
    const index = floorDiv(tsNs, this.bucketNs);
    if (this.bucketEndHi !== -Infinity) {
      // Close the current bucket, then one empty bucket per gap (at most `lookback` of them matter).
      this.pushHistory(this.currentVolume);
      const gap = index - this.bucketIndex - 1n;
      const empties = gap < BigInt(this.lookback) ? Number(gap) : this.lookback;
      for (let i = 0; i < empties; i++) this.pushHistory(0);
      // Re-add from the stored values, oldest first, so the sum carries no rounding from earlier buckets.
      let sum = 0;
      for (let k = 0; k < this.historyCount; k++) {
        let slot = this.historyNext - this.historyCount + k;
        if (slot < 0) slot += this.lookback;
        sum += this.history[slot] as number;
      }
      this.historySum = sum;
    }
    this.bucketIndex = index;
    const end = (index + 1n) * this.bucketNs;
    if (end > MAX_INT64) {
      this.bucketEndHi = Infinity; // the last bucket representable: it never closes
    } else {
      [this.bucketEndHi, this.bucketEndLo] = limbsOf(end);
    }
    this.currentVolume = 0;
  }

  private pushHistory(volume: number): void {
    this.history[this.historyNext] = volume;
    this.historyNext = this.historyNext + 1 === this.lookback ? 0 : this.historyNext + 1;
    if (this.historyCount < this.lookback) this.historyCount++;
  }
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}
