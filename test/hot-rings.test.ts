import { describe, expect, it } from 'vitest';
import { ExchangeTable, OVERFLOW_EXCHANGE_CODE, OVERFLOW_EXCHANGE_NAME } from '../edge-agent/hot/exchange-table.ts';
import { QuoteWindow } from '../edge-agent/hot/quote-window.ts';
import { type TradeBatch, TradeWindow } from '../edge-agent/hot/trade-window.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const S = 1_000_000_000n; // one second in ns
const T0 = 1_582_329_602_111_000_000n;
const HOUR = 3600n * S;

function ring(capacity: number, windowNs = HOUR): TradeWindow {
  return new TradeWindow(capacity, windowNs, new ExchangeTable());
}

/** Pushes trade k at T0 + k ms with id k, price 100 + k, size k / 10. */
function pushTrade(r: TradeWindow, k: number, tsNs = T0 + BigInt(k) * 1_000_000n): boolean {
  return r.push(tsNs, BigInt(k), 100 + k, k / 10, 0);
}

const ids = (b: TradeBatch): number[] => [...b.tradeId].map(Number);

describe('trade window: reads never mutate', () => {
  it('reading twice gives the same trades and leaves head and length where they were', () => {
    const r = ring(8);
    for (let k = 0; k < 11; k++) pushTrade(r, k);
    const head = r.head;
    const length = r.length;
    const first = r.newest(5);
    const second = r.newest(5);
    expect(ids(first)).toEqual([6, 7, 8, 9, 10]);
    expect(second).toEqual(first);
    expect(r.head).toBe(head);
    expect(r.length).toBe(length);
    expect(ids(r.newest(100))).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(r.since(0n).length).toBe(8);
    expect(r.head).toBe(head);
    expect(r.length).toBe(length);
  });

  it('returns copies: changing a returned batch does not change the ring', () => {
    const r = ring(4);
    for (let k = 0; k < 6; k++) pushTrade(r, k);
    const batch = r.newest(4);
    batch.price.fill(-1);
    batch.tradeId.fill(-1n);
    batch.tsNs.fill(0n);
    batch.size.fill(-1);
    const again = r.newest(4);
    expect([...again.price]).toEqual([102, 103, 104, 105]);
    expect(ids(again)).toEqual([2, 3, 4, 5]);
    expect(Object.isFrozen(again.exchangeNames)).toBe(true);
  });

  it('gives every column of the newest trades, oldest first', () => {
    const r = ring(3);
    pushTrade(r, 1);
    pushTrade(r, 2);
    const b = r.newest(2);
    expect(b.length).toBe(2);
    expect([...b.tsNs]).toEqual([T0 + 1_000_000n, T0 + 2_000_000n]);
    expect([...b.price]).toEqual([101, 102]);
    expect([...b.size]).toEqual([0.1, 0.2]);
    expect(r.newest(0).length).toBe(0);
    expect(r.newest(-3).length).toBe(0);
  });
});

describe('trade window: wrap-around and capacity', () => {
  it('keeps the newest `capacity` trades in order across many wraps', () => {
    const r = ring(5);
    for (let k = 0; k < 23; k++) {
      pushTrade(r, k);
      const expected = Array.from({ length: Math.min(k + 1, 5) }, (_, i) => k - Math.min(k + 1, 5) + 1 + i);
      expect(ids(r.newest(5))).toEqual(expected);
      expect(ids(r.newest(2))).toEqual(expected.slice(-2));
    }
    expect(r.length).toBe(5);
    expect(r.evictedByCapacity).toBe(18);
    expect(r.evictedByWindow).toBe(0);
  });

  it('copies a read that straddles the physical end of the arrays', () => {
    const r = ring(4);
    for (let k = 0; k < 6; k++) pushTrade(r, k); // slots: 4 5 2 3, head at 2
    expect(r.head).toBe(2);
    expect(ids(r.newest(4))).toEqual([2, 3, 4, 5]);
    expect(ids(r.newest(3))).toEqual([3, 4, 5]);
    expect(ids(r.since(T0 + 3_000_000n))).toEqual([3, 4, 5]);
  });
});

describe('trade window: eviction by event time', () => {
  it('keeps exactly the trades with newest - ts < window, judged by event time', () => {
    const r = ring(100, 10n * S);
    r.push(T0, 0n, 1, 1, 0);
    r.push(T0 + 3n * S, 1n, 1, 1, 0);
    r.push(T0 + 6n * S, 2n, 1, 1, 0);
    r.push(T0 + 9n * S, 3n, 1, 1, 0);
    expect(r.length).toBe(4);
    r.push(T0 + 12n * S, 4n, 1, 1, 0); // cutoff T0 + 2 s: trade 0 leaves
    expect(ids(r.newest(10))).toEqual([1, 2, 3, 4]);
    r.push(T0 + 13n * S, 5n, 1, 1, 0); // cutoff T0 + 3 s: trade 1 is exactly a window old and leaves
    expect(ids(r.newest(10))).toEqual([2, 3, 4, 5]);
    r.push(T0 + 16n * S - 1n, 6n, 1, 1, 0); // cutoff T0 + 6 s - 1 ns: trade 2 (at 6 s) stays
    expect(ids(r.newest(10))).toEqual([2, 3, 4, 5, 6]);
    expect(r.evictedByWindow).toBe(2);
    expect(r.evictedByCapacity).toBe(0);
  });

  it('refuses a trade already a window older than the newest, and counts it', () => {
    const r = ring(100, 10n * S);
    r.push(T0 + 20n * S, 1n, 1, 1, 0);
    expect(r.push(T0 + 10n * S, 2n, 1, 1, 0)).toBe(false); // exactly a window old
    expect(r.push(T0 + 10n * S + 1n, 3n, 1, 1, 0)).toBe(true); // late but inside
    expect(r.refusedOutsideWindow).toBe(1);
    expect(ids(r.newest(10))).toEqual([1, 3]);
  });

  it('does not evict on read: without writes old trades stay readable', () => {
    const r = ring(10, 10n * S);
    r.push(T0, 1n, 1, 1, 0);
    expect(r.newest(10).length).toBe(1);
    expect(r.since(T0).length).toBe(1);
    expect(r.length).toBe(1);
  });
});

describe('trade window: trades since a time', () => {
  it('binary-searches a sorted ring, including equal timestamps', () => {
    const r = ring(8);
    const times = [1n, 2n, 2n, 2n, 5n, 7n, 7n, 9n, 10n, 11n].map((t) => T0 + t);
    times.forEach((t, k) => r.push(t, BigInt(k), 1, 1, 0));
    expect(r.inversions).toBe(0);
    expect(ids(r.since(T0 + 2n))).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids(r.since(T0 + 3n))).toEqual([4, 5, 6, 7, 8, 9]);
    expect(ids(r.since(T0 + 7n))).toEqual([5, 6, 7, 8, 9]);
    expect(ids(r.since(T0 + 12n))).toEqual([]);
    expect(ids(r.since(0n))).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids(r.since(2n ** 70n))).toEqual([]);
    expect(ids(r.since(-(2n ** 70n)))).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('scans when a late trade made the ring unsorted, and binary-searches again once it has left', () => {
    const r = ring(4);
    r.push(T0 + 10n, 0n, 1, 1, 0);
    r.push(T0 + 20n, 1n, 1, 1, 0);
    r.push(T0 + 15n, 2n, 1, 1, 0); // late
    expect(r.inversions).toBe(1);
    expect(ids(r.since(T0 + 12n))).toEqual([1, 2]);
    expect(ids(r.since(T0 + 16n))).toEqual([1]);
    r.push(T0 + 30n, 3n, 1, 1, 0);
    r.push(T0 + 31n, 4n, 1, 1, 0); // evicts 0
    expect(r.inversions).toBe(1);
    r.push(T0 + 32n, 5n, 1, 1, 0); // evicts 1: the pair (20, 15) is gone
    expect(r.inversions).toBe(0);
    expect(ids(r.since(T0 + 16n))).toEqual([3, 4, 5]);
  });

  it('matches a naive model (array, push/shift) after every one of 20 000 random writes', () => {
    const random = seededRandom(20240701);
    const windowNs = 50_000n;
    const capacity = 37;
    const r = ring(capacity, windowNs);
    const model: { ts: bigint; id: number }[] = [];
    let newest: bigint | undefined;
    let refused = 0;
    let now = T0;
    for (let k = 0; k < 20_000; k++) {
      // Mostly forward in time, sometimes equal, sometimes late (possibly beyond the window), sometimes a gap.
      const roll = random();
      const ts = roll < 0.1 ? now - BigInt(Math.floor(random() * 70_000)) : roll < 0.15 ? now : (now += BigInt(1 + Math.floor(random() * (roll > 0.98 ? 200_000 : 3_000))));
      const accepted = r.push(ts, BigInt(k), k, 1, 0);
      // The model: the rules of windowed-ring.ts, written the slow obvious way.
      let modelAccepts = true;
      if (newest === undefined || ts > newest) {
        newest = ts;
        while (model.length > 0 && (model[0] as { ts: bigint }).ts <= newest - windowNs) model.shift();
      } else if (ts <= newest - windowNs) {
        modelAccepts = false;
        refused++;
      }
      if (modelAccepts) {
        if (model.length === capacity) model.shift();
        model.push({ ts, id: k });
      }
      expect(accepted).toBe(modelAccepts);
      const n = Math.floor(random() * 45);
      expect(ids(r.newest(n))).toEqual(model.slice(Math.max(0, model.length - n)).map((e) => e.id));
      const since = now - BigInt(Math.floor(random() * 60_000));
      expect(ids(r.since(since))).toEqual(model.filter((e) => e.ts >= since).map((e) => e.id));
      expect([...r.since(since).tsNs]).toEqual(model.filter((e) => e.ts >= since).map((e) => e.ts));
    }
    expect(r.refusedOutsideWindow).toBe(refused);
    expect(r.length).toBe(model.length);
  });
});

describe('quote window', () => {
  it('keeps missing sizes as NaN and copies every column', () => {
    const exchanges = new ExchangeTable();
    const q = new QuoteWindow(3, HOUR, exchanges);
    const nasdaq = exchanges.codeOf('Q');
    const nyse = exchanges.codeOf('N');
    q.push(T0, 10, 1, 11, Number.NaN, nasdaq, nyse);
    q.push(T0 + 1n, 10.5, 2, 11.5, 3, nyse, nyse);
    const b = q.newest(5);
    expect(b.length).toBe(2);
    expect([...b.bidPrice]).toEqual([10, 10.5]);
    expect([...b.bidSize]).toEqual([1, 2]);
    expect(Number.isNaN(b.askSize[0])).toBe(true);
    expect(b.askSize[1]).toBe(3);
    expect([...b.bidExchangeCode].map((c) => b.exchangeNames[c])).toEqual(['Q', 'N']);
    expect([...b.askExchangeCode].map((c) => b.exchangeNames[c])).toEqual(['N', 'N']);
    b.bidPrice.fill(0);
    expect([...q.newest(2).bidPrice]).toEqual([10, 10.5]);
    expect(q.since(T0 + 1n).length).toBe(1);
  });
});

describe('exchange table', () => {
  it('interns names as one byte, and refuses (counting) past its bounds', () => {
    const t = new ExchangeTable();
    expect(t.codeOf('BINANCE_FUTURES')).toBe(0);
    expect(t.codeOf('X')).toBe(1);
    expect(t.codeOf('BINANCE_FUTURES')).toBe(0);
    const before = t.names;
    for (let i = 0; i < 300; i++) t.codeOf(`EX${i}`);
    expect(t.names.length).toBe(255);
    expect(before).toEqual(['BINANCE_FUTURES', 'X']); // a snapshot handed out never changes
    expect(t.codeOf('ONE_TOO_MANY')).toBe(OVERFLOW_EXCHANGE_CODE);
    expect(t.nameOf(OVERFLOW_EXCHANGE_CODE)).toBe(OVERFLOW_EXCHANGE_NAME);
    expect(t.overflows).toBe(300 - 253 + 1);
    expect(new ExchangeTable().codeOf('E'.repeat(65))).toBe(OVERFLOW_EXCHANGE_CODE);
    expect(t.byteSize).toBeLessThanOrEqual(ExchangeTable.maxByteSize);
  });
});
