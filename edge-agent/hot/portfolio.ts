/**
 * Orders, fills, positions and cash, exact to 1e-18 of a currency unit (see fixed-point.ts for the only roundings).
 *
 * Rules (the design sketch's apply_fill and equity had these wrong):
 *  - a fill must name a known open order; fills for unknown ids, beyond the order's remaining quantity, for a
 *    cancelled order, or through the order's limit price are rejected whole and counted by reason;
 *  - position quantity is signed (long > 0, short < 0); the average price is the volume-weighted average of the
 *    fills that built the position, unchanged by reductions, and reset to the fill price when a fill crosses
 *    through zero (the remainder opens a new position);
 *  - a reduction realizes (fill price - average price) x closed quantity, sign-adjusted for shorts;
 *  - equity = cash + sum of signed quantity x mark price, so a short REDUCES equity as its mark rises.
 *
 * Bounded: at most `maxOpenOrders` open orders, the last `closedOrdersKept` closed orders (so a late fill for one
 * is recognised as an overfill rather than unknown), and `maxPositions` positions. A position exists while it is
 * non-zero or has open orders; a flat one with no orders is dropped (its realized P&L stays in the total).
 */
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { ATTO, NANO, divRound, fromUnits, toNano } from './fixed-point.ts';
import { BIGINT_BYTES, MAP_ENTRY_BYTES, flatCopy, objectBytes, stringBytes } from './memory-estimate.ts';
import { MAX_SYMBOL_BYTES } from '../../core/symbols.ts';

export const SIDES = ['buy', 'sell'] as const;
export type Side = (typeof SIDES)[number];

export const ORDER_REJECT_REASONS = ['duplicateOrderId', 'invalidOrder', 'orderLimit', 'positionLimit'] as const;
export type OrderRejectReason = (typeof ORDER_REJECT_REASONS)[number];
export const FILL_REJECT_REASONS = ['unknownOrder', 'overfill', 'orderClosed', 'invalidFill', 'limitViolated'] as const;
export type FillRejectReason = (typeof FILL_REJECT_REASONS)[number];
export type PortfolioRejectReason = OrderRejectReason | FillRejectReason;

export const ORDER_STATUSES = ['open', 'partiallyFilled', 'filled', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Order ids longer than this are refused (they are kept in memory until the order is forgotten). */
export const MAX_ORDER_ID_CHARS = 64;

export interface OrderRequest {
  readonly orderId: string;
  readonly symbol: string;
  readonly side: Side;
  /** Quantity, > 0. */
  readonly qty: number;
  /** Limit price; absent for a market order. */
  readonly limit?: number;
}

export interface Fill {
  readonly orderId: string;
  /** Quantity filled, > 0. */
  readonly qty: number;
  readonly price: number;
}

export interface OrderView {
  readonly orderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly limit: number | null;
  readonly filledQty: number;
  /** Volume-weighted average of this order's fills; null before the first. */
  readonly avgFillPrice: number | null;
  readonly status: OrderStatus;
}

export interface PositionView {
  readonly symbol: string;
  /** Signed: long > 0, short < 0. */
  readonly qty: number;
  /** Volume-weighted average entry price of the open quantity; null when flat. */
  readonly avgPrice: number | null;
  /** P&L realized on this position's reductions since it was created. */
  readonly realizedPnl: number;
  readonly openOrders: number;
}

export type SubmitResult = { readonly ok: true; readonly order: OrderView } | { readonly ok: false; readonly reason: OrderRejectReason };
export type FillResult =
  | { readonly ok: true; readonly order: OrderView; readonly position: PositionView; readonly realizedPnl: number }
  | { readonly ok: false; readonly reason: FillRejectReason };

export interface PortfolioOptions {
  /** Starting cash. @default 0 */
  readonly initialCash: number;
  /** @default 1_000 */
  readonly maxOpenOrders: number;
  /** Closed (filled or cancelled) orders remembered, oldest forgotten first. @default 1_000 */
  readonly closedOrdersKept: number;
  /** @default 1_000 */
  readonly maxPositions: number;
}

export const DEFAULT_PORTFOLIO_OPTIONS: PortfolioOptions = Object.freeze({
  initialCash: 0,
  maxOpenOrders: 1_000,
  closedOrdersKept: 1_000,
  maxPositions: 1_000,
});

/** Mark price of a symbol (e.g. book mid or last trade), or undefined when there is none. */
export type MarkSource = (symbol: string) => number | undefined;

interface Order {
  readonly id: string;
  /** The position's own copy of the symbol (shared, not duplicated). */
  readonly symbol: string;
  readonly side: Side;
  readonly qty: bigint;
  readonly limit: bigint | null;
  filled: bigint;
  /** Sum of fill qty x price, 1e-18 units. */
  filledNotional: bigint;
  status: OrderStatus;
  readonly bytes: number;
}

interface Position {
  readonly symbol: string;
  /** 1e-9 units, signed. */
  qty: bigint;
  /** Sum of qty x price of the open quantity, 1e-18 units, same sign as qty. */
  cost: bigint;
  /** 1e-18 units. */
  realized: bigint;
  openOrders: number;
  /** Last known mark (1e-9 units): the last fill, or the mark remembered when the symbol left the hot tier. */
  lastMark: bigint;
}

const REJECT_REASONS = [...ORDER_REJECT_REASONS, ...FILL_REJECT_REASONS] as const;
/** The fewest bytes a position and an order take in a snapshot (each string and bigint at its shortest). */
const MIN_POSITION_BYTES = 6 + 4 * 3 + 4;
const MIN_ORDER_BYTES = 2 * 6 + 2 + 3 * 3 + 1;

// An order counts its symbol as if it were its own: a closed order outlives the position it shared it with.
const ORDER_OBJECT_BYTES = objectBytes(9) + 4 * BIGINT_BYTES + MAP_ENTRY_BYTES + stringBytes(MAX_SYMBOL_BYTES);
const POSITION_BYTES = objectBytes(6) + 4 * BIGINT_BYTES + stringBytes(MAX_SYMBOL_BYTES) + MAP_ENTRY_BYTES;

export class Portfolio {
  private readonly options: PortfolioOptions;
  private readonly open = new Map<string, Order>();
  /** Insertion order = close order; the first key is the oldest. */
  private readonly closed = new Map<string, Order>();
  private readonly positionsBySymbol = new Map<string, Position>();
  private cashAtto: bigint;
  private realizedAtto = 0n;
  private orderBytes = 0;
  private readonly rejectCounts: Record<PortfolioRejectReason, number>;
  private markSource: MarkSource;

  constructor(options: Partial<PortfolioOptions> = {}, markSource: MarkSource = () => undefined) {
    this.options = { ...DEFAULT_PORTFOLIO_OPTIONS, ...options };
    validatePortfolioOptions(this.options);
    this.cashAtto = toNano(this.options.initialCash) * NANO;
    this.markSource = markSource;
    this.rejectCounts = Object.fromEntries([...ORDER_REJECT_REASONS, ...FILL_REJECT_REASONS].map((r) => [r, 0])) as Record<PortfolioRejectReason, number>;
  }

  /** The most bytes a portfolio with these limits can take (reserved under the hot tier's memory ceiling). */
  static maxByteSize(options: Partial<PortfolioOptions> = {}): number {
    const o = { ...DEFAULT_PORTFOLIO_OPTIONS, ...options };
    return Portfolio.fixedBytes + (o.maxOpenOrders + o.closedOrdersKept) * (ORDER_OBJECT_BYTES + stringBytes(MAX_ORDER_ID_CHARS, true))
      + o.maxPositions * POSITION_BYTES;
  }

  private static readonly fixedBytes = objectBytes(10) + 3 * objectBytes(4) + 2 * BIGINT_BYTES + objectBytes(9);

  /** Bytes held now: the object, each order (with its id) and each position. */
  get byteSize(): number {
    return Portfolio.fixedBytes + this.orderBytes + this.positionsBySymbol.size * POSITION_BYTES;
  }

  /** About how many bytes writeSnapshot takes (it grows its buffer when this falls short). */
  get snapshotBytesHint(): number {
    return 256 + (this.open.size + this.closed.size) * 400 + this.positionsBySymbol.size * 300;
  }

  /** Where equity() gets mark prices (the hot tier sets its books and last trades). */
  setMarkSource(markSource: MarkSource): void {
    this.markSource = markSource;
  }

  get cash(): number {
    return fromUnits(this.cashAtto, ATTO);
  }

  /** P&L realized by every reduction so far. */
  get realizedPnl(): number {
    return fromUnits(this.realizedAtto, ATTO);
  }

  /** Rejected orders and fills so far, by reason (a copy). */
  get rejects(): Readonly<Record<PortfolioRejectReason, number>> {
    return { ...this.rejectCounts };
  }

  get openOrderCount(): number {
    return this.open.size;
  }

  /**
   * cash + sum of signed qty x mark. The mark of each position is the mark source's price (book mid, else last
   * trade), else the last mark remembered for it (its last fill, or its price when the symbol left the hot tier).
   */
  equity(): number {
    let total = this.cashAtto;
    for (const p of this.positionsBySymbol.values()) {
      if (p.qty === 0n) continue;
      const live = this.markSource(p.symbol);
      const mark = live !== undefined && live > 0 && live < Infinity ? toNano(live) : p.lastMark;
      total += p.qty * mark;
    }
    return fromUnits(total, ATTO);
  }

  /** Remembers a symbol's mark for equity() once the hot tier no longer holds its market data. */
  rememberMark(symbol: string, price: number): void {
    const p = this.positionsBySymbol.get(symbol);
    if (p !== undefined && price > 0 && price < Infinity) p.lastMark = toNano(price);
  }

  submit(request: OrderRequest): SubmitResult {
    const { orderId, symbol, side, qty, limit } = request;
    if (this.open.has(orderId) || this.closed.has(orderId)) return this.rejectOrder('duplicateOrderId');
    if (typeof orderId !== 'string' || orderId.length === 0 || orderId.length > MAX_ORDER_ID_CHARS
      || typeof symbol !== 'string' || symbol.length === 0 || symbol.length > MAX_SYMBOL_BYTES
      || (side !== 'buy' && side !== 'sell') || !isPositiveFinite(qty)
      || (limit !== undefined && !isPositiveFinite(limit))) return this.rejectOrder('invalidOrder');
    const qtyNano = toNano(qty);
    if (qtyNano <= 0n) return this.rejectOrder('invalidOrder');
    if (this.open.size >= this.options.maxOpenOrders) return this.rejectOrder('orderLimit');
    let position = this.positionsBySymbol.get(symbol);
    if (position === undefined) {
      if (this.positionsBySymbol.size >= this.options.maxPositions) return this.rejectOrder('positionLimit');
      const ownSymbol = flatCopy(symbol);
      position = { symbol: ownSymbol, qty: 0n, cost: 0n, realized: 0n, openOrders: 0, lastMark: 0n };
      this.positionsBySymbol.set(ownSymbol, position);
    }
    const id = flatCopy(orderId);
    const order: Order = {
      id, symbol: position.symbol, side, qty: qtyNano, limit: limit === undefined ? null : toNano(limit),
      filled: 0n, filledNotional: 0n, status: 'open', bytes: ORDER_OBJECT_BYTES + stringBytes(id.length, true),
    };
    position.openOrders++;
    this.open.set(id, order);
    this.orderBytes += order.bytes;
    return { ok: true, order: orderView(order) };
  }

  /** Cancels an open order; false when no open order has that id. */
  cancel(orderId: string): boolean {
    const order = this.open.get(orderId);
    if (order === undefined) return false;
    order.status = 'cancelled';
    this.close(order);
    return true;
  }

  applyFill(fill: Fill): FillResult {
    const order = this.open.get(fill.orderId);
    if (order === undefined) {
      const closed = this.closed.get(fill.orderId);
      if (closed === undefined) return this.rejectFill('unknownOrder');
      return this.rejectFill(closed.status === 'filled' ? 'overfill' : 'orderClosed');
    }
    if (!isPositiveFinite(fill.qty) || !isPositiveFinite(fill.price)) return this.rejectFill('invalidFill');
    const qty = toNano(fill.qty);
    const price = toNano(fill.price);
    if (qty <= 0n || price <= 0n) return this.rejectFill('invalidFill');
    if (order.filled + qty > order.qty) return this.rejectFill('overfill');
    if (order.limit !== null && (order.side === 'buy' ? price > order.limit : price < order.limit)) return this.rejectFill('limitViolated');

    order.filled += qty;
    order.filledNotional += qty * price;
    const position = this.positionOf(order);
    const signed = order.side === 'buy' ? qty : -qty;
    const realized = applyToPosition(position, signed, price);
    this.realizedAtto += realized;
    this.cashAtto -= signed * price;
    position.lastMark = price;
    if (order.filled === order.qty) {
      order.status = 'filled';
      this.close(order);
    } else {
      order.status = 'partiallyFilled';
    }
    return { ok: true, order: orderView(order), position: positionView(position), realizedPnl: fromUnits(realized, ATTO) };
  }

  order(orderId: string): OrderView | undefined {
    const order = this.open.get(orderId) ?? this.closed.get(orderId);
    return order === undefined ? undefined : orderView(order);
  }

  openOrders(): OrderView[] {
    return [...this.open.values()].map(orderView);
  }

  position(symbol: string): PositionView | undefined {
    const p = this.positionsBySymbol.get(symbol);
    return p === undefined ? undefined : positionView(p);
  }

  positions(): PositionView[] {
    return [...this.positionsBySymbol.values()].map(positionView);
  }

  /**
   * Appends cash, realized P&L, reject counters, positions and orders (open, then closed oldest first) to a snapshot
   * (hot-snapshot.ts), each map in its iteration order, which the views' order follows.
   */
  writeSnapshot(w: SnapshotWriter): void {
    w.bigint(this.cashAtto);
    w.bigint(this.realizedAtto);
    for (const reason of REJECT_REASONS) w.f64(this.rejectCounts[reason]);
    w.u32(this.positionsBySymbol.size);
    for (const p of this.positionsBySymbol.values()) {
      w.string(p.symbol);
      w.bigint(p.qty);
      w.bigint(p.cost);
      w.bigint(p.realized);
      w.u32(p.openOrders);
      w.bigint(p.lastMark);
    }
    for (const orders of [this.open, this.closed]) {
      w.u32(orders.size);
      for (const o of orders.values()) {
        w.string(o.id);
        w.string(o.symbol);
        w.u8(SIDES.indexOf(o.side));
        w.u8(ORDER_STATUSES.indexOf(o.status));
        w.bigint(o.qty);
        w.bool(o.limit !== null);
        if (o.limit !== null) w.bigint(o.limit);
        w.bigint(o.filled);
        w.bigint(o.filledNotional);
      }
    }
  }

  /**
   * Restores a portfolio written by writeSnapshot into this empty one. `written` are the limits it was written under:
   * contents beyond them are malformed. Contents beyond this portfolio's own limits are incompatible (a
   * HotSnapshotError the caller must resolve), except closed orders: the oldest are forgotten, as they would be.
   */
  readSnapshot(r: SnapshotReader, written: PortfolioOptions, incompatible: (message: string) => never): void {
    r.where = 'portfolio';
    this.cashAtto = r.bigint('cash');
    this.realizedAtto = r.bigint('realized P&L');
    for (const reason of REJECT_REASONS) this.rejectCounts[reason] = r.counter(`${reason} rejects`);
    const positions = r.count('positions', written.maxPositions, MIN_POSITION_BYTES);
    if (positions > this.options.maxPositions) {
      incompatible(`the snapshot holds ${positions} positions, more than portfolio.maxPositions ${this.options.maxPositions}`);
    }
    for (let i = 0; i < positions; i++) {
      r.where = `portfolio position ${i}`;
      const symbol = flatCopy(r.string('symbol', MAX_SYMBOL_BYTES));
      if (symbol.length === 0 || this.positionsBySymbol.has(symbol)) r.fail(`position symbol ${JSON.stringify(symbol)} is empty or repeated`);
      const qty = r.bigint('quantity');
      const cost = r.bigint('cost');
      const realized = r.bigint('realized P&L');
      const openOrders = r.u32('open orders');
      const lastMark = r.bigint('last mark');
      if (qty === 0n && openOrders === 0) r.fail(`flat position ${symbol} without open orders should have been dropped`);
      this.positionsBySymbol.set(symbol, { symbol, qty, cost, realized, openOrders, lastMark });
    }
    const counted = new Map<string, number>();
    for (const status of ['open', 'closed'] as const) {
      const orders = status === 'open' ? this.open : this.closed;
      const limit = status === 'open' ? written.maxOpenOrders : written.closedOrdersKept;
      const count = r.count(`${status} orders`, limit, MIN_ORDER_BYTES);
      if (status === 'open' && count > this.options.maxOpenOrders) {
        incompatible(`the snapshot holds ${count} open orders, more than portfolio.maxOpenOrders ${this.options.maxOpenOrders}`);
      }
      for (let i = 0; i < count; i++) {
        r.where = `portfolio ${status} order ${i}`;
        const order = this.readOrder(r);
        if (this.open.has(order.id) || this.closed.has(order.id)) r.fail(`order id ${JSON.stringify(order.id)} appears twice`);
        const isOpen = order.status === 'open' || order.status === 'partiallyFilled';
        if (isOpen !== (status === 'open')) r.fail(`${status} order ${JSON.stringify(order.id)} has status ${order.status}`);
        if (isOpen) {
          if (!this.positionsBySymbol.has(order.symbol)) r.fail(`open order ${JSON.stringify(order.id)} has no position for ${order.symbol}`);
          counted.set(order.symbol, (counted.get(order.symbol) ?? 0) + 1);
        }
        orders.set(order.id, order);
        this.orderBytes += order.bytes;
      }
    }
    r.where = 'portfolio';
    for (const p of this.positionsBySymbol.values()) {
      const n = counted.get(p.symbol) ?? 0;
      if (p.openOrders !== n) r.fail(`position ${p.symbol} counts ${p.openOrders} open orders, ${n} are held`);
    }
    while (this.closed.size > this.options.closedOrdersKept) {
      const oldest = this.closed.values().next();
      if (oldest.done === true) break;
      this.orderBytes -= oldest.value.bytes;
      this.closed.delete(oldest.value.id);
    }
  }

  private readOrder(r: SnapshotReader): Order {
    const id = flatCopy(r.string('order id', MAX_ORDER_ID_CHARS));
    const symbolText = r.string('symbol', MAX_SYMBOL_BYTES);
    const side = SIDES[r.u8('side')];
    const status = ORDER_STATUSES[r.u8('status')];
    if (side === undefined || status === undefined) r.fail('side or status is out of range');
    const qty = r.bigint('quantity');
    const limit = r.bool('has limit') ? r.bigint('limit') : null;
    const filled = r.bigint('filled quantity');
    const filledNotional = r.bigint('filled notional');
    if (id.length === 0 || symbolText.length === 0) r.fail('empty order id or symbol');
    if (qty <= 0n || filled < 0n || filled > qty || (limit !== null && limit <= 0n)) r.fail(`order ${JSON.stringify(id)} quantities are inconsistent`);
    if ((status === 'filled') !== (filled === qty)) r.fail(`order ${JSON.stringify(id)} is ${status} with ${filled} of ${qty} filled`);
    // Share the position's copy of the symbol, as submit() does.
    const symbol = this.positionsBySymbol.get(symbolText)?.symbol ?? flatCopy(symbolText);
    return { id, symbol, side, qty, limit, filled, filledNotional, status, bytes: ORDER_OBJECT_BYTES + stringBytes(id.length, true) };
  }

  private close(order: Order): void {
    this.open.delete(order.id);
    this.closed.set(order.id, order);
    if (this.closed.size > this.options.closedOrdersKept) {
      const oldest = this.closed.keys().next();
      if (oldest.done !== true) {
        this.orderBytes -= this.closed.get(oldest.value)?.bytes ?? 0;
        this.closed.delete(oldest.value);
      }
    }
    const position = this.positionOf(order);
    position.openOrders--;
    if (position.openOrders === 0 && position.qty === 0n) this.positionsBySymbol.delete(position.symbol);
  }

  /** An open order's position: it exists while the order is open (openOrders > 0 keeps it). */
  private positionOf(order: Order): Position {
    const position = this.positionsBySymbol.get(order.symbol);
    if (position === undefined) throw new Error(`portfolio invariant broken: open order ${order.id} has no position for ${order.symbol}`);
    return position;
  }

  private rejectOrder(reason: OrderRejectReason): SubmitResult {
    this.rejectCounts[reason]++;
    return { ok: false, reason };
  }

  private rejectFill(reason: FillRejectReason): FillResult {
    this.rejectCounts[reason]++;
    return { ok: false, reason };
  }
}

/**
 * Moves a position by `delta` (1e-9 units, signed) at `price` (1e-9 units) and returns the P&L realized (1e-18 units).
 * Increase: cost += delta x price (the average stays volume-weighted). Reduction: the closed share of the cost leaves
 * at the average, the difference to the fill price is realized. Through zero: close all, open the rest at `price`.
 */
function applyToPosition(p: Position, delta: bigint, price: bigint): bigint {
  if (p.qty === 0n || (p.qty > 0n) === (delta > 0n)) {
    p.qty += delta;
    p.cost += delta * price;
    return 0n;
  }
  const held = p.qty < 0n ? -p.qty : p.qty;
  const closing = delta < 0n ? -delta : delta;
  if (closing <= held) {
    // The closed part's cost, at the average price; exact when everything closes.
    const removed = closing === held ? p.cost : divRound(p.cost * closing, held);
    // Long: proceeds - cost. Short: cost (negative) - buy-back (negative direction): both are (-delta) x price - removed.
    const realized = -delta * price - removed;
    p.qty += delta;
    p.cost -= removed;
    p.realized += realized;
    return realized;
  }
  // Crossing zero: realize on the whole held quantity, then the remainder opens a position at the fill price.
  const realized = p.qty * price - p.cost;
  const remainder = p.qty + delta;
  p.qty = remainder;
  p.cost = remainder * price;
  p.realized += realized;
  return realized;
}

function orderView(o: Order): OrderView {
  return {
    orderId: o.id,
    symbol: o.symbol,
    side: o.side,
    qty: fromUnits(o.qty, NANO),
    limit: o.limit === null ? null : fromUnits(o.limit, NANO),
    filledQty: fromUnits(o.filled, NANO),
    avgFillPrice: o.filled === 0n ? null : fromUnits(divRound(o.filledNotional, o.filled), NANO),
    status: o.status,
  };
}

function positionView(p: Position): PositionView {
  return {
    symbol: p.symbol,
    qty: fromUnits(p.qty, NANO),
    avgPrice: p.qty === 0n ? null : fromUnits(divRound(p.cost, p.qty), NANO),
    realizedPnl: fromUnits(p.realized, ATTO),
    openOrders: p.openOrders,
  };
}

function isPositiveFinite(x: unknown): x is number {
  return typeof x === 'number' && x > 0 && x < Infinity;
}

function validatePortfolioOptions(o: PortfolioOptions): void {
  for (const key of ['maxOpenOrders', 'closedOrdersKept', 'maxPositions'] as const) {
    const v = o[key];
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`portfolio.${key} ${v} must be a positive integer`);
  }
  if (!(Math.abs(o.initialCash) < Infinity)) throw new RangeError(`portfolio.initialCash ${o.initialCash} must be a finite number`);
}
