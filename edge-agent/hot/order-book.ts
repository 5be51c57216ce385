/**
 * Top of book of one symbol: best bid and ask with sizes and exchanges, and the event time of the quote that set
 * them. A quote older than the one the book holds does not overwrite it (the feed can deliver out of order); the
 * caller counts those.
 */
import { type ExchangeTable, OVERFLOW_EXCHANGE_CODE } from './exchange-table.ts';
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { objectBytes } from './memory-estimate.ts';
import { join } from './time-limbs.ts';

/** A copy of a book, owned by the caller. */
export interface BookView {
  readonly symbol: string;
  readonly bidPrice: number;
  /** null when the feed gives no sizes. */
  readonly bidSize: number | null;
  readonly askPrice: number;
  readonly askSize: number | null;
  readonly bidExchange: string;
  readonly askExchange: string;
  /** Event time of the quote that set this book, epoch nanoseconds. */
  readonly updateTsNs: bigint;
  /** (bid + ask) / 2. */
  readonly mid: number;
  /** ask - bid (negative when the book is crossed, as feeds sometimes briefly show). */
  readonly spread: number;
  /** (bidSize - askSize) / (bidSize + askSize) in [-1, 1]; null without sizes or when both are 0. */
  readonly imbalance: number | null;
}

const FIELDS = 9;
const DOUBLE_FIELDS = 6;

export class TopOfBook {
  private bidPrice = Number.NaN;
  private bidSize = Number.NaN;
  private askPrice = Number.NaN;
  private askSize = Number.NaN;
  private bidExchangeCode = 0;
  private askExchangeCode = 0;
  /** Event time of the quote held, as limbs (time-limbs.ts); -Infinity before the first. */
  private updateHi = -Infinity;
  private updateLo = 0;
  private quoted = false;

  static readonly plannedBytes = objectBytes(FIELDS, DOUBLE_FIELDS);

  get byteSize(): number {
    return TopOfBook.plannedBytes;
  }

  /** Event time of the quote the book holds, or undefined before the first. */
  get updateTs(): bigint | undefined {
    return this.quoted ? join(this.updateHi, this.updateLo) : undefined;
  }

  get hasQuote(): boolean {
    return this.quoted;
  }

  /**
   * Applies a quote at time (hi, lo) (time-limbs.ts), sizes NaN when unknown; false when it is older than the quote
   * the book holds and was not applied.
   */
  apply(tsHi: number, tsLo: number, bidPrice: number, bidSize: number, askPrice: number, askSize: number, bidExchangeCode: number, askExchangeCode: number): boolean {
    if (tsHi < this.updateHi || (tsHi === this.updateHi && tsLo < this.updateLo)) return false;
    this.bidPrice = bidPrice;
    this.bidSize = bidSize;
    this.askPrice = askPrice;
    this.askSize = askSize;
    this.bidExchangeCode = bidExchangeCode;
    this.askExchangeCode = askExchangeCode;
    this.updateHi = tsHi;
    this.updateLo = tsLo;
    this.quoted = true;
    return true;
  }

  /** (bid + ask) / 2, or NaN before the first quote. */
  mid(): number {
    return (this.bidPrice + this.askPrice) / 2;
  }

  /** Order-book imbalance from the top of book; null without sizes, before the first quote, or when both are 0. */
  imbalance(): number | null {
    const total = this.bidSize + this.askSize;
    if (!(total > 0)) return null;
    return (this.bidSize - this.askSize) / total;
  }

  view(symbol: string, exchanges: ExchangeTable): BookView | undefined {
    if (!this.quoted) return undefined;
    return {
      symbol,
      bidPrice: this.bidPrice,
      bidSize: Number.isNaN(this.bidSize) ? null : this.bidSize,
      askPrice: this.askPrice,
      askSize: Number.isNaN(this.askSize) ? null : this.askSize,
      bidExchange: exchanges.nameOf(this.bidExchangeCode),
      askExchange: exchanges.nameOf(this.askExchangeCode),
      updateTsNs: join(this.updateHi, this.updateLo),
      mid: this.mid(),
      spread: this.askPrice - this.bidPrice,
      imbalance: this.imbalance(),
    };
  }

  /** Appends the book to a snapshot (hot-snapshot.ts). */
  writeSnapshot(w: SnapshotWriter): void {
    w.bool(this.quoted);
    w.f64(this.bidPrice);
    w.f64(this.bidSize);
    w.f64(this.askPrice);
    w.f64(this.askSize);
    w.u8(this.bidExchangeCode);
    w.u8(this.askExchangeCode);
    w.f64(this.updateHi);
    w.u32(this.updateLo);
  }

  /** Restores a book written by writeSnapshot; `exchangeNames` is the size of the (already restored) exchange table. */
  readSnapshot(r: SnapshotReader, exchangeNames: number): void {
    const quoted = r.bool('quoted');
    const bidPrice = r.f64('bid price');
    const bidSize = r.f64('bid size');
    const askPrice = r.f64('ask price');
    const askSize = r.f64('ask size');
    const bidExchangeCode = r.u8('bid exchange code');
    const askExchangeCode = r.u8('ask exchange code');
    for (const code of [bidExchangeCode, askExchangeCode]) {
      if (code >= exchangeNames && code !== OVERFLOW_EXCHANGE_CODE) r.fail(`exchange code ${code}, but the table holds ${exchangeNames} names`);
    }
    const updateHi = r.timeHi('update time', { negative: !quoted });
    const updateLo = r.u32('update time');
    if (!quoted && (updateHi !== -Infinity || updateLo !== 0)) r.fail('a book without a quote has an update time');
    this.quoted = quoted;
    this.bidPrice = bidPrice;
    this.bidSize = bidSize;
    this.askPrice = askPrice;
    this.askSize = askSize;
    this.bidExchangeCode = bidExchangeCode;
    this.askExchangeCode = askExchangeCode;
    this.updateHi = updateHi;
    this.updateLo = updateLo;
  }

  clear(): void {
    this.bidPrice = Number.NaN;
    this.bidSize = Number.NaN;
    this.askPrice = Number.NaN;
    this.askSize = Number.NaN;
    this.bidExchangeCode = 0;
    this.askExchangeCode = 0;
    this.updateHi = -Infinity;
    this.updateLo = 0;
    this.quoted = false;
  }
}
