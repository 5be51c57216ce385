import { describe, expect, it } from 'vitest';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { divRound, fromUnits, toNano, ATTO } from '../edge-agent/hot/fixed-point.ts';
import { HotTier } from '../edge-agent/hot/hot-tier.ts';
import { Portfolio } from '../edge-agent/hot/portfolio.ts';

function fill(p: Portfolio, orderId: string, qty: number, price: number) {
  const result = p.applyFill({ orderId, qty, price });
  if (!result.ok) throw new Error(`fill ${orderId} ${qty}@${price} rejected: ${result.reason}`);
  return result;
}

function submit(p: Portfolio, orderId: string, symbol: string, side: 'buy' | 'sell', qty: number, limit?: number) {
  const result = p.submit(limit === undefined ? { orderId, symbol, side, qty } : { orderId, symbol, side, qty, limit });
  if (!result.ok) throw new Error(`order ${orderId} rejected: ${result.reason}`);
  return result.order;
}

/** A portfolio whose marks come from a fixed table. */
function withMarks(marks: Record<string, number>, initialCash = 10_000): Portfolio {
  return new Portfolio({ initialCash }, (symbol) => marks[symbol]);
}

describe('portfolio: average price', () => {
  it('is volume-weighted over the fills that build a position, and unchanged by a reduction', () => {
    const p = withMarks({});
    submit(p, 'b1', 'AAPL', 'buy', 1);
    submit(p, 'b2', 'AAPL', 'buy', 3);
    fill(p, 'b1', 1, 100);
    const afterSecond = fill(p, 'b2', 3, 104);
    expect(afterSecond.position.qty).toBe(4);
    expect(afterSecond.position.avgPrice).toBe(103); // (100 + 3 x 104) / 4, not the last fill's 104
    submit(p, 's1', 'AAPL', 'sell', 2);
    const reduced = fill(p, 's1', 2, 110);
    expect(reduced.position.qty).toBe(2);
    expect(reduced.position.avgPrice).toBe(103);
    expect(reduced.realizedPnl).toBe(14); // (110 - 103) x 2
    expect(p.realizedPnl).toBe(14);
    expect(p.cash).toBe(10_000 - 100 - 312 + 220);
  });

  it('tracks partial fills of one order: status, filled quantity and the order\'s own average', () => {
    const p = withMarks({});
    submit(p, 'o', 'MSFT', 'buy', 10, 50);
    const first = fill(p, 'o', 4, 49.5);
    expect(first.order.status).toBe('partiallyFilled');
    expect(first.order.filledQty).toBe(4);
    const second = fill(p, 'o', 6, 50);
    expect(second.order.status).toBe('filled');
    expect(second.order.filledQty).toBe(10);
    expect(second.order.avgFillPrice).toBe(49.8); // (4 x 49.5 + 6 x 50) / 10
    expect(p.openOrderCount).toBe(0);
    expect(p.position('MSFT')).toMatchObject({ qty: 10, avgPrice: 49.8, openOrders: 0 });
  });

  it('resets the average to the fill price when a fill crosses through zero', () => {
    const p = withMarks({});
    submit(p, 'b', 'ES', 'buy', 5);
    fill(p, 'b', 5, 100);
    submit(p, 's', 'ES', 'sell', 8);
    const crossed = fill(p, 's', 8, 110);
    expect(crossed.realizedPnl).toBe(50); // the 5 held close at +10 each
    expect(crossed.position.qty).toBe(-3);
    expect(crossed.position.avgPrice).toBe(110);
    // And back through zero from the short side: buy 5 at 100 closes 3 (+10 each) and opens 2 long at 100.
    submit(p, 'b2', 'ES', 'buy', 5);
    const back = fill(p, 'b2', 5, 100);
    expect(back.realizedPnl).toBe(30);
    expect(back.position).toMatchObject({ qty: 2, avgPrice: 100, realizedPnl: 80 });
  });

  it('realizes short P&L with the right sign', () => {
    const p = withMarks({});
    submit(p, 's', 'X', 'sell', 10);
    fill(p, 's', 10, 100);
    submit(p, 'b', 'X', 'buy', 4);
    expect(fill(p, 'b', 4, 90).realizedPnl).toBe(40);
    expect(p.position('X')).toMatchObject({ qty: -6, avgPrice: 100 });
  });
});

describe('portfolio: equity', () => {
  it('counts a short as a liability: equity falls when the price of a short rises', () => {
    const marks: Record<string, number> = { X: 100 };
    const p = withMarks(marks, 10_000);
    submit(p, 's', 'X', 'sell', 10);
    fill(p, 's', 10, 100);
    expect(p.cash).toBe(11_000);
    expect(p.equity()).toBe(10_000);
    marks['X'] = 110;
    expect(p.equity()).toBe(9_900); // the sketch's abs(quantity) would say 12 100
    marks['X'] = 90;
    expect(p.equity()).toBe(10_100);
  });

  it('values longs and shorts together at their marks', () => {
    const p = withMarks({ L: 55, S: 20 }, 1_000);
    submit(p, 'l', 'L', 'buy', 10);
    fill(p, 'l', 10, 50);
    submit(p, 's', 'S', 'sell', 5);
    fill(p, 's', 5, 21);
    // cash 1000 - 500 + 105 = 605; + 10 x 55 - 5 x 20 = 1055
    expect(p.equity()).toBe(1_055);
  });

  it('marks from the hot tier: the book mid or the last trade, whichever is newer, and keeps the mark of an evicted symbol', () => {
    const tier = new HotTier({ tradesCapacity: 8, quotesCapacity: 8, maxSymbols: 1, portfolio: { initialCash: 1_000 } });
    const quote = (symbol: string, ts: bigint, bid: number, ask: number): QuoteRow => ({
      ts, ts_ns: ts, symbol, bid_price: bid, bid_size: 1, ask_price: ask, ask_size: 1, bid_exchange: 'X', ask_exchange: 'X', conditions: '', tape: '',
    });
    const trade = (symbol: string, ts: bigint, price: number): TradeRow => ({
      ts, ts_ns: ts, symbol, trade_id: ts, price, size: 1, exchange: 'X', conditions: '', tape: '',
    });
    expect(tier.portfolio.submit({ orderId: 'b', symbol: 'AAPL', side: 'buy', qty: 2 }).ok).toBe(true);
    expect(tier.portfolio.applyFill({ orderId: 'b', qty: 2, price: 100 }).ok).toBe(true);
    expect(tier.portfolio.equity()).toBe(1_000); // no market data yet: marked at its fill
    tier.onQuote(quote('AAPL', 10n, 101, 103));
    expect(tier.portfolio.equity()).toBe(800 + 2 * 102);
    tier.onTrade(trade('AAPL', 11n, 104));
    expect(tier.portfolio.equity()).toBe(800 + 2 * 104);
    tier.onQuote(quote('AAPL', 12n, 99, 101));
    expect(tier.portfolio.equity()).toBe(800 + 2 * 100);
    tier.onTrade(trade('MSFT', 13n, 1)); // maxSymbols 1: AAPL leaves the hot tier
    expect(tier.symbols()).toEqual(['MSFT']);
    expect(tier.portfolio.equity()).toBe(800 + 2 * 100);
  });
});

describe('portfolio: rejected fills and orders', () => {
  it('rejects and counts a fill for an unknown order id without moving anything', () => {
    const tier = new HotTier({ tradesCapacity: 8, quotesCapacity: 8, portfolio: { initialCash: 500 } });
    const p = tier.portfolio;
    expect(p.applyFill({ orderId: 'nope', qty: 1, price: 10 })).toEqual({ ok: false, reason: 'unknownOrder' });
    expect(p.applyFill({ orderId: 'nope', qty: 1, price: 10 }).ok).toBe(false);
    expect(p.cash).toBe(500);
    expect(p.positions()).toEqual([]);
    expect(p.rejects.unknownOrder).toBe(2);
    expect(tier.stats.rejects.unknownOrder).toBe(2);
  });

  it('rejects an overfill, whole, both beyond the remaining quantity and after the order is filled', () => {
    const p = withMarks({});
    submit(p, 'o', 'X', 'buy', 10);
    fill(p, 'o', 6, 10);
    expect(p.applyFill({ orderId: 'o', qty: 6, price: 10 })).toEqual({ ok: false, reason: 'overfill' });
    expect(p.position('X')?.qty).toBe(6);
    fill(p, 'o', 4, 10);
    expect(p.applyFill({ orderId: 'o', qty: 1, price: 10 })).toEqual({ ok: false, reason: 'overfill' });
    expect(p.position('X')?.qty).toBe(10);
    expect(p.cash).toBe(10_000 - 100);
    expect(p.rejects.overfill).toBe(2);
  });

  it('rejects fills through the limit, for cancelled orders, and with bad numbers; orders with a used id or bad fields', () => {
    const p = withMarks({});
    submit(p, 'b', 'X', 'buy', 5, 100);
    submit(p, 's', 'X', 'sell', 5, 100);
    expect(p.applyFill({ orderId: 'b', qty: 1, price: 100.01 })).toEqual({ ok: false, reason: 'limitViolated' });
    expect(p.applyFill({ orderId: 's', qty: 1, price: 99.99 })).toEqual({ ok: false, reason: 'limitViolated' });
    expect(p.applyFill({ orderId: 'b', qty: 0, price: 99 })).toEqual({ ok: false, reason: 'invalidFill' });
    expect(p.applyFill({ orderId: 'b', qty: 1, price: Number.NaN })).toEqual({ ok: false, reason: 'invalidFill' });
    expect(p.cancel('b')).toBe(true);
    expect(p.cancel('b')).toBe(false);
    expect(p.applyFill({ orderId: 'b', qty: 1, price: 99 })).toEqual({ ok: false, reason: 'orderClosed' });
    expect(p.submit({ orderId: 's', symbol: 'X', side: 'buy', qty: 1 })).toEqual({ ok: false, reason: 'duplicateOrderId' });
    expect(p.submit({ orderId: 'n', symbol: 'X', side: 'buy', qty: -1 })).toEqual({ ok: false, reason: 'invalidOrder' });
    expect(p.submit({ orderId: 'n', symbol: 'X', side: 'buy', qty: 1, limit: 0 })).toEqual({ ok: false, reason: 'invalidOrder' });
    expect(p.rejects).toMatchObject({ limitViolated: 2, invalidFill: 2, orderClosed: 1, duplicateOrderId: 1, invalidOrder: 2 });
    expect(p.cash).toBe(10_000);
  });

  it('holds its bounds: open orders, positions, and closed orders remembered', () => {
    const p = new Portfolio({ maxOpenOrders: 2, maxPositions: 2, closedOrdersKept: 1 });
    submit(p, 'a', 'A', 'buy', 1);
    submit(p, 'b', 'B', 'buy', 1);
    expect(p.submit({ orderId: 'c', symbol: 'A', side: 'buy', qty: 1 })).toEqual({ ok: false, reason: 'orderLimit' });
    fill(p, 'a', 1, 1);
    expect(p.submit({ orderId: 'c', symbol: 'C', side: 'buy', qty: 1 })).toEqual({ ok: false, reason: 'positionLimit' });
    p.cancel('b'); // B is flat with no orders: its position goes, making room
    expect(p.positions().map((x) => x.symbol)).toEqual(['A']);
    submit(p, 'c', 'C', 'buy', 1);
    expect(p.order('a')).toBeUndefined(); // only the last closed order ('b') is remembered
    expect(p.order('b')?.status).toBe('cancelled');
    expect(p.applyFill({ orderId: 'a', qty: 1, price: 1 })).toEqual({ ok: false, reason: 'unknownOrder' });
    expect(p.byteSize).toBeLessThanOrEqual(Portfolio.maxByteSize({ maxOpenOrders: 2, maxPositions: 2, closedOrdersKept: 1 }));
  });
});

describe('portfolio: exact arithmetic', () => {
  it('does not drift: 50 000 round trips (100 000 fills) of 0.1 bought at 0.1 and sold at 0.3 give exactly +1000', () => {
    const p = new Portfolio({ initialCash: 1_000.1, maxOpenOrders: 10, closedOrdersKept: 10 });
    let floatCash = 1_000.1;
    for (let i = 0; i < 50_000; i++) {
      submit(p, `b${i}`, 'X', 'buy', 0.1);
      fill(p, `b${i}`, 0.1, 0.1);
      submit(p, `s${i}`, 'X', 'sell', 0.1);
      fill(p, `s${i}`, 0.1, 0.3);
      floatCash = floatCash - 0.1 * 0.1 + 0.1 * 0.3;
    }
    expect(p.cash).toBe(1_000.1 + 1_000); // 50 000 x 0.1 x 0.2, exactly
    expect(p.realizedPnl).toBe(1_000);
    expect(p.position('X')).toBeUndefined(); // flat with no orders: dropped
    expect(floatCash).not.toBe(2_000.1); // the naive double sum has drifted
  });

  it('rounds a partial reduction\'s cost to 1e-18 and leaves no residue at a full close', () => {
    const p = withMarks({});
    submit(p, 'b', 'X', 'buy', 3);
    fill(p, 'b', 1, 1);
    fill(p, 'b', 1, 1);
    fill(p, 'b', 1, 2); // average 4/3
    submit(p, 's', 'X', 'sell', 3);
    fill(p, 's', 1, 2); // realizes 2 - 4/3, rounded at 1e-18
    fill(p, 's', 1, 2);
    const last = fill(p, 's', 1, 2);
    expect(last.position.qty).toBe(0);
    expect(p.realizedPnl).toBe(2); // 6 - 4, exact once flat
    expect(p.cash).toBe(10_002);
  });

  it('quantizes to the nearest 1e-9 at any magnitude', () => {
    expect(toNano(0.1)).toBe(100_000_000n);
    expect(toNano(9681.92)).toBe(9_681_920_000_000n);
    expect(toNano(-2.5e-9)).toBe(-3n);
    expect(toNano(1e15 + 0.5)).toBe(1_000_000_000_000_000_500_000_000n); // past 2^53 nano-units, still exact
    expect(divRound(5n, 2n)).toBe(3n);
    expect(divRound(-5n, 2n)).toBe(-3n);
    expect(divRound(4n, 3n)).toBe(1n);
    expect(fromUnits(ATTO * 3n + ATTO / 4n, ATTO)).toBe(3.25);
  });
});
