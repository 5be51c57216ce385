/** The newest bar of one symbol (by bar time), copied out of the row so the caller cannot change it afterwards. */
import type { BarRow } from '../../core/datasets.ts';
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { BIGINT_BYTES, objectBytes } from './memory-estimate.ts';

export interface BarView {
  readonly symbol: string;
  /** Bar start, epoch nanoseconds. */
  readonly tsNs: bigint;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly tradeCount: bigint;
  readonly vwap: number;
}

const NO_TIME = -(2n ** 63n);

export class LastBar {
  private tsNs = NO_TIME;
  private open = Number.NaN;
  private high = Number.NaN;
  private low = Number.NaN;
  private close = Number.NaN;
  private volume = Number.NaN;
  private tradeCount = 0n;
  private vwap = Number.NaN;

  static readonly plannedBytes = objectBytes(8, 6) + 2 * BIGINT_BYTES;

  get byteSize(): number {
    return LastBar.plannedBytes;
  }

  /** Keeps the bar if it is at least as new as the one held; false when it is older and was ignored. */
  apply(row: BarRow): boolean {
    if (row.ts < this.tsNs) return false;
    this.tsNs = row.ts;
    this.open = row.open;
    this.high = row.high;
    this.low = row.low;
    this.close = row.close;
    this.volume = row.volume;
    this.tradeCount = row.trade_count;
    this.vwap = row.vwap;
    return true;
  }

  view(symbol: string): BarView | undefined {
    if (this.tsNs === NO_TIME) return undefined;
    return {
      symbol, tsNs: this.tsNs, open: this.open, high: this.high, low: this.low, close: this.close,
      volume: this.volume, tradeCount: this.tradeCount, vwap: this.vwap,
    };
  }

  /** Appends the bar to a snapshot (hot-snapshot.ts). */
  writeSnapshot(w: SnapshotWriter): void {
    w.bigint(this.tsNs);
    for (const v of [this.open, this.high, this.low, this.close, this.volume, this.vwap]) w.f64(v);
    w.bigint(this.tradeCount);
  }

  /** Restores a bar written by writeSnapshot. */
  readSnapshot(r: SnapshotReader): void {
    this.tsNs = r.bigint('bar time');
    this.open = r.f64('bar open');
    this.high = r.f64('bar high');
    this.low = r.f64('bar low');
    this.close = r.f64('bar close');
    this.volume = r.f64('bar volume');
    this.vwap = r.f64('bar vwap');
    this.tradeCount = r.bigint('bar trade count');
  }

  clear(): void {
    this.tsNs = NO_TIME;
    this.open = this.high = this.low = this.close = this.volume = this.vwap = Number.NaN;
    this.tradeCount = 0n;
  }
}
