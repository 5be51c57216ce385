/**
 * Recent trades of one symbol: a windowed ring (see windowed-ring.ts) with one typed-array column per field, no
 * object per trade. Reads return fresh columns, oldest first, and never move the ring.
 */
import { type ExchangeTable, OVERFLOW_EXCHANGE_CODE } from './exchange-table.ts';
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { plannedTypedArrayBytes, typedArrayBytes } from './memory-estimate.ts';
import { lastHi, lastLo, split } from './time-limbs.ts';
import { RING_BASE_BYTES, type Selection, WindowedRing, copyColumns } from './windowed-ring.ts';

/** Trades copied out of a ring, oldest first: one typed array per column, all views on one new buffer owned by the caller. */
export interface TradeBatch {
  readonly length: number;
  readonly tsNs: BigInt64Array;
  readonly tradeId: BigInt64Array;
  readonly price: Float64Array;
  readonly size: Float64Array;
  /** Index into `exchangeNames`. */
  readonly exchangeCode: Uint8Array;
  /** Frozen; shared between batches, never changed. */
  readonly exchangeNames: readonly string[];
}

/** Bytes per held trade: ts, trade id, price, size (8 each) and the exchange code (1). */
export const TRADE_SLOT_BYTES = 33;
/** The ring object itself: the base's bytes plus this class's 5 fields. */
const OBJECT_BYTES = RING_BASE_BYTES + 5 * 8;

export class TradeWindow extends WindowedRing {
  private readonly tradeId: BigInt64Array;
  private readonly price: Float64Array;
  private readonly size: Float64Array;
  private readonly exchangeCode: Uint8Array;

  constructor(capacity: number, windowNs: bigint, private readonly exchanges: ExchangeTable) {
    super(capacity, windowNs);
    this.tradeId = new BigInt64Array(capacity);
    this.price = new Float64Array(capacity);
    this.size = new Float64Array(capacity);
    this.exchangeCode = new Uint8Array(capacity);
  }

  /** The bytes a ring of this capacity takes, before it exists. */
  static plannedBytes(capacity: number): number {
    return OBJECT_BYTES + plannedTypedArrayBytes(capacity, 8) * 4 + plannedTypedArrayBytes(capacity, 1);
  }

  get byteSize(): number {
    return OBJECT_BYTES + typedArrayBytes(this.tsNs) + typedArrayBytes(this.tradeId) + typedArrayBytes(this.price)
      + typedArrayBytes(this.size) + typedArrayBytes(this.exchangeCode);
  }

  /** Adds a trade; false when it is older than the window and was refused. */
  push(tsNs: bigint, tradeId: bigint, price: number, size: number, exchangeCode: number): boolean {
    split(tsNs);
    return this.pushAt(lastHi(), lastLo(), tradeId, price, size, exchangeCode);
  }

  /** push() with the event time already split into limbs (time-limbs.ts), for the tier's write path. */
  pushAt(tsHi: number, tsLo: number, tradeId: bigint, price: number, size: number, exchangeCode: number): boolean {
    const slot = this.claim(tsHi, tsLo);
    if (slot < 0) return false;
    this.tradeId[slot] = tradeId;
    this.price[slot] = price;
    this.size[slot] = size;
    this.exchangeCode[slot] = exchangeCode;
    return true;
  }

  /** The newest n trades, oldest of them first. */
  newest(n: number): TradeBatch {
    return this.copy(this.selectNewest(n));
  }

  /** Every held trade with ts >= sinceNs, in arrival order. */
  since(sinceNs: bigint): TradeBatch {
    return this.copy(this.selectSince(sinceNs));
  }

  /** Appends this ring to a snapshot (hot-snapshot.ts). */
  writeSnapshot(w: SnapshotWriter): void {
    this.writeRing(w, [this.tradeId, this.price, this.size, this.exchangeCode]);
  }

  /**
   * Restores a ring written by writeSnapshot into this empty one, rebuilt when it was written with another capacity
   * or window (see WindowedRing.readRing). The exchange table must be restored first.
   */
  readSnapshot(r: SnapshotReader, storedCapacity: number, storedWindowNs: bigint): void {
    this.readRing(r, storedCapacity, storedWindowNs, [this.tradeId, this.price, this.size, this.exchangeCode]);
    this.checkCodes(r, this.exchangeCode, this.exchanges.names.length, OVERFLOW_EXCHANGE_CODE);
  }

  private copy(selection: Selection): TradeBatch {
    const [tsNs, tradeId, price, size, exchangeCode] = copyColumns([this.tsNs, this.tradeId, this.price, this.size, this.exchangeCode], selection);
    return { length: tsNs.length, tsNs, tradeId, price, size, exchangeCode, exchangeNames: this.exchanges.names };
  }
}
