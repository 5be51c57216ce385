/**
 * Everything the hot tier holds for one symbol, allocated in full when the symbol first appears (so its footprint is
 * known up front), and linked into the tier's least-recently-used list.
 */
import type { ExchangeTable } from './exchange-table.ts';
import { FeatureCache, type FeatureOptions } from './feature-cache.ts';
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { LastBar } from './last-bar.ts';
import { MAP_ENTRY_BYTES, bytesOfString, objectBytes, stringBytes } from './memory-estimate.ts';
import { TopOfBook } from './order-book.ts';
import { QuoteWindow } from './quote-window.ts';
import { TradeWindow } from './trade-window.ts';
import { MAX_SYMBOL_BYTES } from '../../core/symbols.ts';

export interface SymbolCapacities {
  readonly windowNs: bigint;
  readonly tradesCapacity: number;
  readonly quotesCapacity: number;
  readonly features: FeatureOptions;
}

const FIELDS = 8;

export class SymbolState {
  readonly trades: TradeWindow;
  readonly quotes: QuoteWindow;
  readonly book = new TopOfBook();
  readonly bar = new LastBar();
  readonly features: FeatureCache;
  /** Toward the most recently used end of the tier's list. */
  newer: SymbolState | undefined;
  /** Toward the least recently used end. */
  older: SymbolState | undefined;

  constructor(public symbol: string, capacities: SymbolCapacities, exchanges: ExchangeTable) {
    this.trades = new TradeWindow(capacities.tradesCapacity, capacities.windowNs, exchanges);
    this.quotes = new QuoteWindow(capacities.quotesCapacity, capacities.windowNs, exchanges);
    this.features = new FeatureCache(capacities.features);
  }

  /**
   * The most one symbol can take: every ring at full capacity, the longest symbol a venue may send, and its entry
   * in the tier's map. Reserved in full before a symbol is created.
   */
  static plannedBytes(c: SymbolCapacities): number {
    return SymbolState.ownBytes(stringBytes(MAX_SYMBOL_BYTES, true)) + TradeWindow.plannedBytes(c.tradesCapacity)
      + QuoteWindow.plannedBytes(c.quotesCapacity) + TopOfBook.plannedBytes + LastBar.plannedBytes + FeatureCache.plannedBytes(c.features);
  }

  /** The state object, its symbol string and its map entry (the "index" component). */
  static ownBytes(symbolBytes: number): number {
    return objectBytes(FIELDS) + symbolBytes + MAP_ENTRY_BYTES;
  }

  get indexBytes(): number {
    return SymbolState.ownBytes(bytesOfString(this.symbol));
  }

  /** Appends every part but the name (the tier writes it) to a snapshot (hot-snapshot.ts). */
  writeSnapshot(w: SnapshotWriter): void {
    this.trades.writeSnapshot(w);
    this.quotes.writeSnapshot(w);
    this.book.writeSnapshot(w);
    this.bar.writeSnapshot(w);
    this.features.writeSnapshot(w);
  }

  /**
   * Restores the parts written by writeSnapshot into this empty state. `written` are the capacities the snapshot was
   * taken with; rings of another size are rebuilt (WindowedRing.readRing). Feature options must be the same. The
   * exchange table, holding `exchangeNames` names, is restored first.
   */
  readSnapshot(r: SnapshotReader, written: SymbolCapacities, exchangeNames: number): void {
    const where = `symbol ${this.symbol}`;
    r.where = `${where} trades`;
    this.trades.readSnapshot(r, written.tradesCapacity, written.windowNs);
    r.where = `${where} quotes`;
    this.quotes.readSnapshot(r, written.quotesCapacity, written.windowNs);
    r.where = `${where} book`;
    this.book.readSnapshot(r, exchangeNames);
    r.where = `${where} bar`;
    this.bar.readSnapshot(r);
    r.where = `${where} features`;
    this.features.readSnapshot(r);
  }

  /** Empties every part for another symbol, keeping the allocations. */
  reset(symbol: string): this {
    this.symbol = symbol;
    this.trades.clear();
    this.quotes.clear();
    this.book.clear();
    this.bar.clear();
    this.features.clear();
    this.newer = undefined;
    this.older = undefined;
    return this;
  }
}
