/**
 * SUPERSEDED by HotTier (hot-tier.ts) and TradeWindow (trade-window.ts); kept only so edge-agent/agent.ts keeps
 * working until it switches to HotTier. Delete this file in that change.
 *
 * Recent trades of one symbol in a fixed-capacity ring of typed arrays (no object per trade). Reads copy the
 * newest N out and never move the ring's positions.
 */
import type { TradeRow } from '../../core/datasets.ts';

export interface RecentTrade {
  readonly tsNs: bigint;
  readonly tradeId: bigint;
  readonly price: number;
  readonly size: number;
}

export class TradeRing {
  private readonly tsNs: BigInt64Array;
  private readonly tradeIds: BigInt64Array;
  private readonly prices: Float64Array;
  private readonly sizes: Float64Array;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity ${capacity} must be a positive integer`);
    this.tsNs = new BigInt64Array(capacity);
    this.tradeIds = new BigInt64Array(capacity);
    this.prices = new Float64Array(capacity);
    this.sizes = new Float64Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  get byteSize(): number {
    return this.capacity * 32;
  }

  push(row: TradeRow): void {
    const i = this.next;
    this.tsNs[i] = row.ts;
    this.tradeIds[i] = row.trade_id;
    this.prices[i] = row.price;
    this.sizes[i] = row.size;
    this.next = (i + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** The newest n trades, newest first. Does not change the ring. */
  newest(n: number): RecentTrade[] {
    const take = Math.min(Math.max(0, Math.floor(n)), this.count);
    const out: RecentTrade[] = new Array<RecentTrade>(take);
    for (let k = 0; k < take; k++) {
      const i = (this.next - 1 - k + this.capacity) % this.capacity;
      out[k] = { tsNs: this.tsNs[i] as bigint, tradeId: this.tradeIds[i] as bigint, price: this.prices[i] as number, size: this.sizes[i] as number };
    }
    return out;
  }
}
