import { decode, encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AlpacaBar, AlpacaDataMessage, AlpacaQuote, AlpacaTrade } from '../edge-agent/simulator/alpaca-messages.ts';
import { ArrivalProcess } from '../edge-agent/simulator/arrivals.ts';
import { acceleratedClock } from '../edge-agent/simulator/clock.ts';
import { MarketModel } from '../edge-agent/simulator/market-model.ts';
import { Prng } from '../edge-agent/simulator/prng.ts';
import { Rfc3339Error, formatRfc3339Nanos, parseRfc3339Nanos } from '../core/rfc3339.ts';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../edge-agent/simulator/simulator-server.ts';
import { ConditionWaiter } from './support/condition-waiter.ts';

type Message = Record<string, unknown>;

const NS_PER_MINUTE = 60_000_000_000n;
const START_NS = parseRfc3339Nanos('2024-07-01T14:29:58Z');

/** A real `ws` client that records every message the simulator sends and lets a test wait for one. */
class StreamClient {
  readonly messages: Message[] = [];
  readonly frames: { binary: boolean; size: number }[] = [];
  closeCode: number | undefined;
  private cursor = 0;
  private readonly waiter = new ConditionWaiter();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      const decoded: unknown = isBinary ? decode(bytes) : JSON.parse(bytes.toString('utf8'));
      if (!Array.isArray(decoded)) throw new Error(`frame is not an array: ${bytes.toString('utf8')}`);
      this.frames.push({ binary: isBinary, size: decoded.length });
      this.messages.push(...(decoded as Message[]));
      this.waiter.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.waiter.wake();
    });
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
    const ws = new WebSocket(url, { headers });
    const client = new StreamClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** Connects, waits for `connected`, authenticates and subscribes. */
  static async subscribed(url: string, subscription: Record<string, string[]>): Promise<StreamClient> {
    const client = await StreamClient.open(url);
    await client.next((m) => m['msg'] === 'connected');
    client.send({ action: 'auth', key: 'key', secret: 'secret' });
    await client.next((m) => m['msg'] === 'authenticated');
    client.send({ action: 'subscribe', ...subscription });
    await client.next((m) => m['T'] === 'subscription');
    return client;
  }

  send(request: unknown): void {
    this.ws.send(typeof request === 'string' ? request : JSON.stringify(request));
  }

  /** Resolves once `condition` holds, re-checked on every message. */
  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return this.waiter.until(condition, timeoutMs, () => `timed out waiting for ${what}; last messages: ${JSON.stringify(this.messages.slice(-3))}`);
  }

  /** The next message after the previous `next` that matches. */
  async next(predicate: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    let found: Message | undefined;
    await this.until(
      () => {
        for (; this.cursor < this.messages.length && found === undefined; this.cursor++) {
          const m = this.messages[this.cursor];
          if (m !== undefined && predicate(m)) found = m;
        }
        return found !== undefined;
      },
      'a matching message',
      timeoutMs,
    );
    return found as Message;
  }

  data(): AlpacaDataMessage[] {
    return this.messages.filter((m) => ['t', 'q', 'b', 'd', 'c', 'x'].includes(m['T'] as string)) as unknown as AlpacaDataMessage[];
  }

  async close(): Promise<void> {
    if (this.closeCode !== undefined) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close();
    await closed;
  }
}

const trades = (messages: readonly AlpacaDataMessage[]): AlpacaTrade[] =>
  messages.filter((m): m is AlpacaTrade => m.T === 't');
const quotes = (messages: readonly AlpacaDataMessage[]): AlpacaQuote[] =>
  messages.filter((m): m is AlpacaQuote => m.T === 'q');
const minuteOf = (text: string): bigint => {
  const ns = parseRfc3339Nanos(text);
  return ns - (((ns % NS_PER_MINUTE) + NS_PER_MINUTE) % NS_PER_MINUTE);
};

/** Checks each minute bar whose minute the client saw in full against the trades it received in that minute. */
function expectBarsMatchTrades(stream: readonly AlpacaDataMessage[]): number {
  const first = stream[0];
  if (first === undefined) throw new Error('no data');
  const firstMinute = minuteOf(first.t);
  const lastMinute = minuteOf(stream[stream.length - 1]?.t ?? first.t);
  let checked = 0;
  stream.forEach((bar, barIndex) => {
    if (bar.T !== 'b') return;
    const start = parseRfc3339Nanos(bar.t);
    expect(bar.t).toBe(formatRfc3339Nanos(start));
    expect(start % NS_PER_MINUTE).toBe(0n);
    if (start <= firstMinute) return; // the client subscribed part-way through that minute
    const inMinute = trades(stream).filter((t) => t.S === bar.S && minuteOf(t.t) === start);
    expect(bar.n).toBe(inMinute.length);
    expect(bar.o).toBe(inMinute[0]?.p);
    expect(bar.c).toBe(inMinute[inMinute.length - 1]?.p);
    expect(bar.h).toBe(Math.max(...inMinute.map((t) => t.p)));
    expect(bar.l).toBe(Math.min(...inMinute.map((t) => t.p)));
    const volume = inMinute.reduce((sum, t) => sum + t.s, 0);
    expect(bar.v).toBeCloseTo(volume, 6);
    expect(bar.vw).toBeCloseTo(inMinute.reduce((sum, t) => sum + t.p * t.s, 0) / volume, 4);
    // The bar follows every trade of its minute and precedes every trade of a later one.
    stream.forEach((m, index) => {
      if (m.T !== 't' || m.S !== bar.S) return;
      const minute = minuteOf(m.t);
      if (minute === start) expect(index).toBeLessThan(barIndex);
      if (minute > start) expect(index).toBeGreaterThan(barIndex);
    });
    checked++;
  });
  // Every fully seen minute in which a symbol traded has its bar.
  for (const trade of trades(stream)) {
    const minute = minuteOf(trade.t);
    if (minute <= firstMinute || minute >= lastMinute) continue;
    const bar = stream.find((m) => m.T === 'b' && m.S === trade.S && parseRfc3339Nanos(m.t) === minute);
    expect(bar, `bar for ${trade.S} at ${formatRfc3339Nanos(minute)}`).toBeDefined();
  }
  return checked;
}

describe('RFC 3339 with nanoseconds', () => {
  const cases: [bigint, string][] = [
    [0n, '1970-01-01T00:00:00.000000000Z'],
    [1n, '1970-01-01T00:00:00.000000001Z'],
    [-1n, '1969-12-31T23:59:59.999999999Z'],
    [999_999_999n, '1970-01-01T00:00:00.999999999Z'],
    [1_719_844_200_123_456_789n, '2024-07-01T14:30:00.123456789Z'],
    [1_709_164_800_000_000_000n, '2024-02-29T00:00:00.000000000Z'],
    [951_782_400_000_000_000n, '2000-02-29T00:00:00.000000000Z'],
    [9_223_372_036_854_775_807n, '2262-04-11T23:47:16.854775807Z'],
    [-9_223_372_036_854_775_808n, '1677-09-21T00:12:43.145224192Z'],
    [-62_167_219_200_000_000_000n, '0000-01-01T00:00:00.000000000Z'],
    [253_402_300_799_999_999_999n, '9999-12-31T23:59:59.999999999Z'],
  ];

  it.each(cases)('formats %s ns as %s and parses it back', (ns, text) => {
    expect(formatRfc3339Nanos(ns)).toBe(text);
    expect(parseRfc3339Nanos(text)).toBe(ns);
  });

  it('agrees with Date on millisecond instants and round-trips random nanosecond instants', () => {
    const prng = new Prng(7);
    for (let k = 0; k < 2000; k++) {
      const ms = Math.floor((prng.next() - 0.3) * 8e12);
      const ns = BigInt(ms) * 1_000_000n + BigInt(prng.int(1_000_000));
      const text = formatRfc3339Nanos(ns);
      expect(text.slice(0, 23)).toBe(new Date(ms).toISOString().slice(0, 23));
      expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
      expect(parseRfc3339Nanos(text)).toBe(ns);
    }
  });

  it.each([
    ['2024-07-01T14:30:00Z', 1_719_844_200_000_000_000n],
    ['2024-07-01T14:30:00.5Z', 1_719_844_200_500_000_000n],
    ['2024-07-01T14:30:00.000000001Z', 1_719_844_200_000_000_001n],
    ['2024-07-01T14:30:00.12345z', 1_719_844_200_123_450_000n],
    ['2024-07-01t16:30:00.123456789+02:00', 1_719_844_200_123_456_789n],
    ['2024-07-01T10:00:00.123456789-04:30', 1_719_844_200_123_456_789n],
    ['2024-07-01T14:30:00-00:00', 1_719_844_200_000_000_000n],
    ['2024-07-02T00:00:00+09:30', 1_719_844_200_000_000_000n],
    ['0000-01-01T00:00:00+00:00', -62_167_219_200_000_000_000n],
  ])('parses %s', (text, ns) => {
    expect(parseRfc3339Nanos(text)).toBe(ns);
  });

  it.each([
    ['', /expected/],
    ['2024-07-01', /expected/],
    ['2024-07-01T14:30:00', /expected/],
    ['2024-07-01 14:30:00Z', /expected/],
    ['2024-07-01T14:30:00.Z', /expected/],
    ['2024-07-01T14:30:00.1234567890Z', /expected/],
    ['2024-07-01T14:30Z', /expected/],
    ['2024-07-01T14:30:00+0200', /expected/],
    ['2024-07-01T14:30:00+02', /expected/],
    ['24-07-01T14:30:00Z', /expected/],
    ['2024-7-01T14:30:00Z', /expected/],
    [' 2024-07-01T14:30:00Z', /expected/],
    ['2024-07-01T14:30:00Z\n', /expected/],
    ['2024-13-01T14:30:00Z', /month 13/],
    ['2024-00-01T14:30:00Z', /month 00/],
    ['2023-02-29T00:00:00Z', /day 29 does not exist in 2023-02/],
    ['2100-02-29T00:00:00Z', /day 29/],
    ['2024-04-31T00:00:00Z', /day 31/],
    ['2024-07-00T00:00:00Z', /day 00/],
    ['2024-07-01T24:00:00Z', /hour 24/],
    ['2024-07-01T14:60:00Z', /minute 60/],
    ['2016-12-31T23:59:60Z', /leap seconds/],
    ['2024-07-01T14:30:00+24:00', /offset/],
    ['2024-07-01T14:30:00+02:60', /offset/],
  ])('rejects %j, quoting it', (text, reason) => {
    let error: unknown;
    try {
      parseRfc3339Nanos(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Rfc3339Error);
    expect((error as Error).message).toContain(JSON.stringify(text));
    expect((error as Error).message).toMatch(reason);
  });

  it('refuses to format instants outside years 0000-9999', () => {
    expect(() => formatRfc3339Nanos(-62_167_219_200_000_000_001n)).toThrow(Rfc3339Error);
    expect(() => formatRfc3339Nanos(253_402_300_800_000_000_000n)).toThrow(/outside years 0000-9999/);
  });
});

describe('market model', () => {
  const symbols = ['AAPL', 'MSFT', 'SPY', 'BTC/USD'];
  const run = (seed: number, steps = 50): AlpacaDataMessage[] => {
    const model = new MarketModel({ seed, symbols, startNs: START_NS });
    const out: AlpacaDataMessage[] = [];
    for (let step = 1; step <= steps; step++) out.push(...model.advance(40, START_NS + BigInt(step) * 1_000_000_000n));
    return out;
  };

  it('replays the same trades for the same seed and different ones for another', () => {
    const first = trades(run(42)).slice(0, 100);
    expect(first).toHaveLength(100);
    expect(trades(run(42)).slice(0, 100)).toEqual(first);
    expect(trades(run(43)).slice(0, 100)).not.toEqual(first);
  });

  it('keeps ids increasing, quotes uncrossed, prices on ticks and stamps in order', () => {
    const stream = run(1, 200);
    const lastId = new Map<string, number>();
    let lastNs = START_NS;
    for (const m of stream) {
      if (m.T === 'b' || m.T === 'd') continue;
      const ns = parseRfc3339Nanos(m.t);
      expect(ns).toBeGreaterThanOrEqual(lastNs);
      lastNs = ns;
      if (m.T === 't') {
        expect(m.i).toBeGreaterThan(lastId.get(m.S) ?? 0);
        lastId.set(m.S, m.i);
        expect(Math.round(m.p * 100) / 100).toBe(m.p);
        expect(m.s).toBeGreaterThan(0);
      }
      if (m.T === 'q') expect(m.bp).toBeLessThan(m.ap);
    }
    expect(lastNs).toBeLessThanOrEqual(START_NS + 200n * 1_000_000_000n);
    const stockSizes = trades(stream).filter((t) => t.S !== 'BTC/USD').map((t) => t.s);
    expect(stockSizes.every(Number.isInteger)).toBe(true);
    expect(stockSizes.some((s) => s < 100)).toBe(true); // odd lots
    expect(stockSizes.some((s) => s % 100 === 0)).toBe(true); // round lots
    const cryptoSizes = trades(stream).filter((t) => t.S === 'BTC/USD').map((t) => t.s);
    expect(cryptoSizes.some((s) => !Number.isInteger(s))).toBe(true);
    for (const q of quotes(stream)) expect(Math.round((q.ap - q.bp) * 100)).toBeGreaterThanOrEqual(1);
    for (const q of quotes(stream)) expect(Math.round((q.ap - q.bp) * 100)).toBeLessThanOrEqual(3);
  });

  it('emits a minute bar per traded symbol at each minute boundary, built from that minute\'s trades', () => {
    const stream = run(5, 300); // five simulated minutes
    const bars = stream.filter((m): m is AlpacaBar => m.T === 'b');
    expect(new Set(bars.map((b) => b.t)).size).toBeGreaterThanOrEqual(4);
    expect(expectBarsMatchTrades(stream)).toBeGreaterThanOrEqual(12);
    // The running daily bar counts every trade of the day so far.
    const lastDaily = stream.filter((m): m is AlpacaBar => m.T === 'd' && m.S === 'AAPL').at(-1);
    const lastBarIndex = stream.lastIndexOf(lastDaily as AlpacaDataMessage);
    const aaplBefore = trades(stream.slice(0, lastBarIndex)).filter((t) => t.S === 'AAPL');
    expect(lastDaily?.n).toBe(aaplBefore.length);
    expect(lastDaily?.t).toBe('2024-07-01T00:00:00.000000000Z');
  });

  it('corrects and cancels only trades it sent, each at most once', () => {
    const model = new MarketModel({ seed: 9, symbols, startNs: START_NS, correctionRate: 0.05, cancelRate: 0.05 });
    const stream = model.advance(20_000, START_NS + 30_000_000_000n);
    const sent = new Map(trades(stream).map((t) => [`${t.S}/${t.i}`, t]));
    const touched = new Set<string>();
    let corrections = 0;
    let cancels = 0;
    for (const m of stream) {
      if (m.T === 'c') {
        const original = sent.get(`${m.S}/${m.oi}`);
        expect(original).toBeDefined();
        expect([m.op, m.os, m.x]).toEqual([original?.p, original?.s, original?.x]);
        expect(touched.has(`${m.S}/${m.oi}`)).toBe(false);
        touched.add(`${m.S}/${m.oi}`);
        expect(m.ci).toBeGreaterThan(m.oi);
        corrections++;
      } else if (m.T === 'x') {
        const original = sent.get(`${m.S}/${m.i}`);
        expect([m.p, m.s, m.x]).toEqual([original?.p, original?.s, original?.x]);
        expect(touched.has(`${m.S}/${m.i}`)).toBe(false);
        touched.add(`${m.S}/${m.i}`);
        expect(['C', 'E']).toContain(m.a);
        cancels++;
      }
    }
    expect(corrections).toBeGreaterThan(100);
    expect(cancels).toBeGreaterThan(100);
    expect(new MarketModel({ seed: 9, symbols, startNs: START_NS }).advance(20_000, START_NS + 30_000_000_000n)
      .some((m) => m.T === 'c' || m.T === 'x')).toBe(false);
  });

  it('rejects bad options naming them', () => {
    expect(() => new MarketModel({ seed: 1, symbols: [], startNs: 0n })).toThrow(/symbols/);
    expect(() => new MarketModel({ seed: 1, symbols: ['AAPL'], startNs: 0n, cancelRate: 2 })).toThrow(/cancelRate/);
    expect(() => new MarketModel({ seed: 1, symbols: ['../x'], startNs: 0n })).toThrow(/invalid symbol/);
  });
});

describe('arrival process', () => {
  it('averages the requested rate over a long run and bursts now and then', () => {
    const arrivals = new ArrivalProcess({ ratePerSecond: 2000, seed: 3 });
    const counts = Array.from({ length: 100_000 }, () => arrivals.take(0.01)); // 1000 s in 10 ms steps
    const mean = counts.reduce((a, b) => a + b, 0) / 1000;
    expect(mean).toBeGreaterThan(1800);
    expect(mean).toBeLessThan(2200);
    expect(counts.reduce((a, b) => Math.max(a, b), 0)).toBeGreaterThan(5 * 20);
  });
});

describe('simulator server', () => {
  let sim: RunningSimulator;
  const open: StreamClient[] = [];
  const track = async (client: Promise<StreamClient>): Promise<StreamClient> => {
    const c = await client;
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    sim = await startSimulator({ seed: 11, authTimeoutMs: 300 });
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await sim.close();
  });

  it('greets, authenticates any non-empty key, and answers errors the way Alpaca does', async () => {
    expect(sim.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v2\/sim$/);
    const client = await track(StreamClient.open(sim.url));
    expect(await client.next(() => true)).toEqual({ T: 'success', msg: 'connected' });
    client.send({ action: 'subscribe', trades: ['AAPL'] });
    expect(await client.next(() => true)).toEqual({ T: 'error', code: 401, msg: 'not authenticated' });
    client.send('{not json');
    expect(await client.next(() => true)).toEqual({ T: 'error', code: 400, msg: 'invalid syntax' });
    client.send({ action: 'dance' });
    expect(await client.next(() => true)).toEqual({ T: 'error', code: 400, msg: 'invalid syntax' });
    client.send({ action: 'auth', key: '', secret: 's' });
    expect(await client.next(() => true)).toEqual({ T: 'error', code: 402, msg: 'auth failed' });
    client.send({ action: 'auth', key: 'k', secret: 's' });
    expect(await client.next(() => true)).toEqual({ T: 'success', msg: 'authenticated' });
    client.send({ action: 'auth', key: 'k', secret: 's' });
    expect(await client.next(() => true)).toEqual({ T: 'error', code: 403, msg: 'already authenticated' });
    client.send({ action: 'subscribe', trades: 'AAPL' });
    expect(await client.next(() => true)).toEqual({ T: 'error', code: 400, msg: 'invalid syntax' });
    // Control messages travel one per frame.
    expect(client.frames.every((f) => f.size === 1 && !f.binary)).toBe(true);
  });

  it('times out a client that never authenticates with 404 and closes it', async () => {
    const client = await track(StreamClient.open(sim.url));
    await client.next((m) => m['msg'] === 'connected');
    expect(await client.next(() => true)).toEqual({ T: 'error', code: 404, msg: 'auth timeout' });
    await client.until(() => client.closeCode !== undefined, 'close');
  });

  it('streams only the subscribed symbols and channels, in Alpaca field names', async () => {
    const client = await track(
      StreamClient.subscribed(sim.url, { trades: ['AAPL', 'BTC/USD'], quotes: ['AAPL', 'BTC/USD'], bars: ['AAPL', 'BTC/USD'] }),
    );
    const subscription = client.messages.find((m) => m['T'] === 'subscription');
    expect(subscription).toEqual({
      T: 'subscription',
      trades: ['AAPL', 'BTC/USD'],
      quotes: ['AAPL', 'BTC/USD'],
      bars: ['AAPL', 'BTC/USD'],
      updatedBars: [],
      dailyBars: [],
      statuses: [],
      lulds: [],
      corrections: ['AAPL', 'BTC/USD'],
      cancelErrors: ['AAPL', 'BTC/USD'],
    });
    await client.until(() => trades(client.data()).length >= 100 && quotes(client.data()).length >= 100, '100 trades and quotes');
    const data = client.data();
    expect(new Set(data.map((m) => m.S))).toEqual(new Set(['AAPL', 'BTC/USD']));
    expect(new Set(data.map((m) => m.T)).has('d')).toBe(false);
    const lastId = new Map<string, number>();
    for (const t of trades(data)) {
      expect(Object.keys(t).sort()).toEqual(['S', 'T', 'c', 'i', 'p', 's', 't', 'x', 'z']);
      expect(Number.isInteger(t.i)).toBe(true);
      expect(typeof t.x).toBe('string');
      expect(typeof t.p).toBe('number');
      expect(typeof t.s).toBe('number');
      expect(Array.isArray(t.c)).toBe(true);
      expect(typeof t.z).toBe('string');
      expect(t.t).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
      expect(formatRfc3339Nanos(parseRfc3339Nanos(t.t))).toBe(t.t);
      expect(t.i).toBeGreaterThan(lastId.get(t.S) ?? 0);
      lastId.set(t.S, t.i);
    }
    for (const q of quotes(data)) {
      expect(Object.keys(q).sort()).toEqual(['S', 'T', 'as', 'ap', 'ax', 'bp', 'bs', 'bx', 'c', 't', 'z'].sort());
      expect(q.bp).toBeLessThan(q.ap);
      expect(formatRfc3339Nanos(parseRfc3339Nanos(q.t))).toBe(q.t);
    }
    // Real time: stamps are close to now.
    const lastNs = parseRfc3339Nanos(data[data.length - 1]?.t ?? '');
    expect(Number(lastNs / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('stops a channel on unsubscribe', async () => {
    const client = await track(StreamClient.subscribed(sim.url, { trades: ['*'], quotes: ['SPY'] }));
    await client.until(() => quotes(client.data()).length > 0, 'a quote');
    client.send({ action: 'unsubscribe', quotes: ['SPY'] });
    const reply = await client.next((m) => m['T'] === 'subscription');
    expect(reply['quotes']).toEqual([]);
    const after = client.messages.length;
    await client.until(() => trades(client.data()).length > 300, 'more trades');
    expect(client.messages.slice(after).some((m) => m['T'] === 'q')).toBe(false);
  });

  it('honours the message rate (loose lower bound)', async () => {
    const client = await track(StreamClient.subscribed(sim.url, { trades: ['*'], quotes: ['*'] }));
    const before = client.data().length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // 2000 messages/s by default; calm periods run at about 1700/s. Allow a busy machine plenty of slack.
    expect(client.data().length - before).toBeGreaterThan(500);
    expect(client.frames.some((f) => f.size > 1)).toBe(true);
  });

  it('shows two clients the same market', async () => {
    const [a, b] = await Promise.all([
      track(StreamClient.subscribed(sim.url, { trades: ['AAPL'] })),
      track(StreamClient.subscribed(sim.url, { trades: ['AAPL'] })),
    ]);
    await a.until(() => trades(a.data()).length >= 50, 'trades on a');
    await b.until(() => trades(b.data()).length >= 50, 'trades on b');
    const seenByA = new Map(trades(a.data()).map((t) => [t.i, t]));
    const shared = trades(b.data()).filter((t) => seenByA.has(t.i));
    expect(shared.length).toBeGreaterThanOrEqual(20);
    for (const t of shared) expect(t).toEqual(seenByA.get(t.i));
  });

  it('speaks msgpack when the client asks for it', async () => {
    const client = await track(StreamClient.open(sim.url, { 'Content-Type': 'application/msgpack' }));
    expect(await client.next(() => true)).toEqual({ T: 'success', msg: 'connected' });
    client.ws.send(encode({ action: 'auth', key: 'k', secret: 's' }));
    expect(await client.next(() => true)).toEqual({ T: 'success', msg: 'authenticated' });
    client.ws.send(encode({ action: 'subscribe', trades: ['MSFT'], quotes: ['MSFT'] }));
    await client.next((m) => m['T'] === 'subscription');
    await client.until(() => trades(client.data()).length >= 10 && quotes(client.data()).length >= 10, 'msgpack data');
    expect(client.frames.every((f) => f.binary)).toBe(true);
    const trade = trades(client.data())[0];
    expect(Object.keys(trade ?? {}).sort()).toEqual(['S', 'T', 'c', 'i', 'p', 's', 't', 'x', 'z']);
    expect(trade?.S).toBe('MSFT');
    expect(formatRfc3339Nanos(parseRfc3339Nanos(trade?.t ?? ''))).toBe(trade?.t);
    for (const q of quotes(client.data())) expect(q.bp).toBeLessThan(q.ap);
    expect(sim.stats().connections).toBeGreaterThanOrEqual(1);
  });

  it('lets a tap observe the whole market stream', async () => {
    const seen: AlpacaDataMessage[] = [];
    const stop = sim.tap((messages) => seen.push(...messages));
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop();
    expect(new Set(seen.map((m) => m.S)).size).toBeGreaterThanOrEqual(3);
    const stats = sim.stats();
    expect(stats.messagesGenerated).toBeGreaterThan(0);
    expect(stats.tradesSent).toBeGreaterThan(0);
    expect(stats.messagesSent).toBeGreaterThan(stats.tradesSent + stats.quotesSent);
  });
});

describe('simulator server with configured keys', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({ keyId: 'PKTEST', secretKey: 'sekrit', connectionsPerKey: 1 });
  });
  afterAll(() => sim.close());

  it('rejects a wrong key with 402, accepts the right one, and limits connections per key with 406', async () => {
    const first = await StreamClient.open(sim.url);
    await first.next((m) => m['msg'] === 'connected');
    first.send({ action: 'auth', key: 'PKTEST', secret: 'wrong' });
    expect(await first.next(() => true)).toEqual({ T: 'error', code: 402, msg: 'auth failed' });
    first.send({ action: 'auth', key: 'other', secret: 'sekrit' });
    expect(await first.next(() => true)).toEqual({ T: 'error', code: 402, msg: 'auth failed' });
    first.send({ action: 'auth', key: 'PKTEST', secret: 'sekrit' });
    expect(await first.next(() => true)).toEqual({ T: 'success', msg: 'authenticated' });

    const second = await StreamClient.open(sim.url);
    await second.next((m) => m['msg'] === 'connected');
    second.send({ action: 'auth', key: 'PKTEST', secret: 'sekrit' });
    expect(await second.next(() => true)).toEqual({ T: 'error', code: 406, msg: 'connection limit exceeded' });
    await second.until(() => second.closeCode !== undefined, 'close after 406');
    await first.close();
  });

  it('authenticates from the APCA headers', async () => {
    const client = await StreamClient.open(sim.url, { 'APCA-API-KEY-ID': 'PKTEST', 'APCA-API-SECRET-KEY': 'sekrit' });
    await client.next((m) => m['msg'] === 'connected');
    expect(await client.next(() => true)).toEqual({ T: 'success', msg: 'authenticated' });
    await client.close();
  });
});

describe('simulator server with an accelerated clock', () => {
  const start = async (options: SimulatorOptions): Promise<RunningSimulator> =>
    startSimulator({ ...options, clock: acceleratedClock({ startNs: START_NS, speed: 1000 }) });

  it('sends a bar for each simulated minute that matches the trades sent in it', async () => {
    // One simulated second per real millisecond: a simulated minute passes every 60 ms.
    const sim = await start({ seed: 21, messagesPerSecond: 4000, tickMs: 5 });
    try {
      const client = await StreamClient.subscribed(sim.url, { trades: ['*'], bars: ['*'], dailyBars: ['AAPL'] });
      await client.until(
        () => new Set(client.data().filter((m) => m.T === 'b').map((m) => m.t)).size >= 6,
        'six minutes of bars',
      );
      await client.close();
      const stream = client.data();
      expect(expectBarsMatchTrades(stream)).toBeGreaterThanOrEqual(10);
      const daily = stream.filter((m): m is AlpacaBar => m.T === 'd');
      expect(daily.length).toBeGreaterThan(0);
      expect(daily.every((d) => d.S === 'AAPL' && d.t === '2024-07-01T00:00:00.000000000Z')).toBe(true);
      expect(sim.stats().barsSent).toBeGreaterThanOrEqual(10);
    } finally {
      await sim.close();
    }
  });
});

describe('simulator server with a slow client', () => {
  it('disconnects a client that stops reading with 407 slow client instead of buffering without bound', async () => {
    const sim = await startSimulator({ messagesPerSecond: 50_000, maxBufferedBytes: 256 * 1024 });
    try {
      const client = await StreamClient.subscribed(sim.url, { trades: ['*'], quotes: ['*'] });
      client.ws.pause();
      const deadline = Date.now() + 30_000;
      while (sim.stats().slowClientsDisconnected === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(sim.stats().slowClientsDisconnected).toBe(1);
      client.ws.resume();
      expect(await client.next((m) => m['T'] === 'error')).toEqual({ T: 'error', code: 407, msg: 'slow client' });
      await client.until(() => client.closeCode !== undefined, 'close after 407');
    } finally {
      await sim.close();
    }
  });
});

describe('simulator server fault injection', () => {
  it('drops every connection at once on disconnectAll, and accepts new ones after', async () => {
    const sim = await startSimulator({});
    try {
      const client = await StreamClient.subscribed(sim.url, { trades: ['*'] });
      sim.disconnectAll();
      await client.until(() => client.closeCode !== undefined, 'the dropped connection to close');
      expect(client.closeCode).toBe(1006);
      const again = await StreamClient.subscribed(sim.url, { trades: ['*'] });
      await again.until(() => trades(again.data()).length > 0, 'a trade after reconnecting');
      await again.close();
    } finally {
      await sim.close();
    }
  });
});
