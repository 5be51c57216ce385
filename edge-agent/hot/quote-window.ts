/**
 * Recent quotes (top of book updates) of one symbol: a windowed ring (see windowed-ring.ts) with one typed-array
 * column per field. A size the feed did not give is NaN in its column. Reads copy and never move the ring.
 */
import { type ExchangeTable, OVERFLOW_EXCHANGE_CODE } from './exchange-table.ts';
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { plannedTypedArrayBytes, typedArrayBytes } from './memory-estimate.ts';
import { lastHi, lastLo, split } from './time-limbs.ts';
import { RING_BASE_BYTES, type Selection, WindowedRing, copyColumns } from './windowed-ring.ts';

/** Quotes copied out of a ring, oldest first: one typed array per column, all views on one new buffer owned by the caller. */
export interface QuoteBatch {
  readonly length: number;
  readonly tsNs: BigInt64Array;
  readonly bidPrice: Float64Array;
  /** NaN where the feed gave no size. */
  readonly bidSize: Float64Array;
  readonly askPrice: Float64Array;
  /** NaN where the feed gave no size. */
  readonly askSize: Float64Array;
  readonly bidExchangeCode: Uint8Array;
  readonly askExchangeCode: Uint8Array;
  /** Frozen; shared between batches, never changed. */
  readonly exchangeNames: readonly string[];
}

/** Bytes per held quote: ts and four prices/sizes (8 each), two exchange codes (1 each). */
export const QUOTE_SLOT_BYTES = 42;
/** The ring object itself: the base's bytes plus this class's 7 fields. */
const OBJECT_BYTES = RING_BASE_BYTES + 7 * 8;

export class QuoteWindow extends WindowedRing {
  private readonly bidPrice: Float64Array;
  private readonly bidSize: Float64Array;
  private readonly askPrice: Float64Array;
  private readonly askSize: Float64Array;
  private readonly bidExchangeCode: Uint8Array;
  private readonly askExchangeCode: Uint8Array;

  constructor(capacity: number, windowNs: bigint, private readonly exchanges: ExchangeTable) {
    super(capacity, windowNs);
    this.bidPrice = new Float64Array(capacity);
    this.bidSize = new Float64Array(capacity);
    this.askPrice = new Float64Array(capacity);
    this.askSize = new Float64Array(capacity);
    this.bidExchangeCode = new Uint8Array(capacity);
    this.askExchangeCode = new Uint8Array(capacity);
  }

  /** The bytes a ring of this capacity takes, before it exists. */
  static plannedBytes(capacity: number): number {
    return OBJECT_BYTES + plannedTypedArrayBytes(capacity, 8) * 5 + plannedTypedArrayBytes(capacity, 1) * 2;
  }

  get byteSize(): number {
    return OBJECT_BYTES + typedArrayBytes(this.tsNs) + typedArrayBytes(this.bidPrice) + typedArrayBytes(this.bidSize)
      + typedArrayBytes(this.askPrice) + typedArrayBytes(this.askSize) + typedArrayBytes(this.bidExchangeCode)
      + typedArrayBytes(this.askExchangeCode);
  }

  /** Adds a quote (sizes NaN when unknown); false when it is older than the window and was refused. */
  push(tsNs: bigint, bidPrice: number, bidSize: number, askPrice: number, askSize: number, bidExchangeCode: number, askExchangeCode: number): boolean {
    split(tsNs);
    return this.pushAt(lastHi(), lastLo(), bidPrice, bidSize, askPrice, askSize, bidExchangeCode, askExchangeCode);
  }

  /** push() with the event time already split into limbs (time-limbs.ts), for the tier's write path. */
  pushAt(
    tsHi: number, tsLo: number, bidPrice: number, bidSize: number, askPrice: number, askSize: number, bidExchangeCode: number, askExchangeCode: number,
  ): boolean {
    const slot = this.claim(tsHi, tsLo);
    if (slot < 0) return false;
    this.bidPrice[slot] = bidPrice;
    this.bidSize[slot] = bidSize;
    this.askPrice[slot] = askPrice;
    this.askSize[slot] = askSize;
    this.bidExchangeCode[slot] = bidExchangeCode;
    this.askExchangeCode[slot] = askExchangeCode;
    return true;
  }

  /** The newest n quotes, oldest of them first. */
  newest(n: number): QuoteBatch {
    return this.copy(this.selectNewest(n));
  }

  /** Every held quote with ts >= sinceNs, in arrival order. */
  since(sinceNs: bigint): QuoteBatch {
    return this.copy(this.selectSince(sinceNs));
  }

  /** Appends this ring to a snapshot (hot-snapshot.ts). */
  writeSnapshot(w: SnapshotWriter): void {
    this.writeRing(w, [this.bidPrice, this.bidSize, this.askPrice, this.askSize, this.bidExchangeCode, this.askExchangeCode]);
  }

  /**
   * Restores a ring written by writeSnapshot into this empty one, rebuilt when it was written with another capacity
   * or window (see WindowedRing.readRing). The exchange table must be restored first.
   */
  readSnapshot(r: SnapshotReader, storedCapacity: number, storedWindowNs: bigint): void {
    this.readRing(r, storedCapacity, storedWindowNs, [this.bidPrice, this.bidSize, this.askPrice, this.askSize, this.bidExchangeCode, this.askExchangeCode]);
    this.checkCodes(r, this.bidExchangeCode, this.exchanges.names.length, OVERFLOW_EXCHANGE_CODE);
    this.checkCodes(r, this.askExchangeCode, this.exchanges.names.length, OVERFLOW_EXCHANGE_CODE);
  }

  private copy(selection: Selection): QuoteBatch {
    const [tsNs, bidPrice, bidSize, askPrice, askSize, bidExchangeCode, askExchangeCode] = copyColumns(
      [this.tsNs, this.bidPrice, this.bidSize, this.askPrice, this.askSize, this.bidExchangeCode, this.askExchangeCode], selection,
    );
    return {
      length: tsNs.length, tsNs, bidPrice, bidSize, askPrice, askSize, bidExchangeCode, askExchangeCode, exchangeNames: this.exchanges.names,
    };
  }
}
