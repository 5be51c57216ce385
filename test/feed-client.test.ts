/**
 * The stream client against the built-in simulator over a real WebSocket on loopback: authentication and
 * subscription, message accounting, reconnect and resubscribe with a recorded gap, msgpack against JSON, corrections
 * and cancels, the connection limit and bad credentials.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TradeEventRow } from '../core/datasets.ts';
import { type AlpacaClientOptions, AlpacaStreamClient, FeedError, type StateChange } from '../edge-agent/feed/alpaca-client.ts';
import type { ParsedFrame } from '../edge-agent/feed/alpaca-messages.ts';
import type { FeedEvent } from '../edge-agent/feed/feed-event.ts';
import { type Gap, type GapInput, GapLog } from '../edge-agent/feed/gap-log.ts';
import type { AlpacaDataMessage } from '../edge-agent/simulator/alpaca-messages.ts';
import { parseRfc3339Nanos } from '../core/rfc3339.ts';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../edge-agent/simulator/simulator-server.ts';

const KEY = 'AKSIMULATEDKEY0001';
const SECRET = 'simulated-secret-0123456789abcdef';

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown> | undefined;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function simulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const sim = await startSimulator({ keyId: KEY, secretKey: SECRET, ...options });
  cleanups.push(() => sim.close());
  return sim;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tickvault-feed-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A client that records its frames, log lines and state changes; stopped after the test. */
function harness(url: string, options: Partial<AlpacaClientOptions> = {}) {
  const frames: ParsedFrame[] = [];
  const logs: LogLine[] = [];
  const states: StateChange[] = [];
  const client = new AlpacaStreamClient({
    url,
    keyId: KEY,
    secretKey: SECRET,
    subscription: { trades: ['AAPL', 'MSFT'], quotes: ['AAPL', 'MSFT'], bars: ['*'] },
    onFrame: (frame) => frames.push(frame),
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    onStateChange: (change) => states.push(change),
    initialBackoffMs: 50,
    maxBackoffMs: 500,
    ...options,
  });
  cleanups.push(() => client.stop());
  const events = (): FeedEvent[] => frames.flatMap((f) => f.events);
  return { client, frames, logs, states, events };
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const bigintSafe = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

function tickTime(event: FeedEvent): bigint | undefined {
  return event.kind === 'trade' || event.kind === 'quote' || event.kind === 'trade_event' ? event.row.ts : undefined;
}

describe('stream client against the simulator', () => {
  it('authenticates, subscribes, and accounts for every message it receives', async () => {
    const sim = await simulator({ symbols: ['AAPL', 'MSFT', 'BTC/USD'], messagesPerSecond: 3000, seed: 3 });
    const h = harness(sim.url, { subscription: { trades: ['AAPL', 'MSFT', 'BTC/USD'], quotes: ['*'], bars: ['*'], dailyBars: ['*'] } });
    await h.client.start();
    expect(h.client.connected).toBe(true);
    expect(h.states.map((s) => s.state)).toEqual(['connecting', 'authenticating', 'subscribing', 'subscribed']);
    await until(() => h.client.stats.accepted >= 1500, '1500 accepted messages');
    await h.client.stop();
    expect(h.client.state).toBe('stopped');

    const stats = h.client.stats;
    // Every message the simulator sent arrived and was either a control, accepted or rejected.
    expect(stats.messages).toBe(sim.stats().messagesSent);
    expect(stats.controls).toBe(3); // connected, authenticated, subscription
    expect(stats.rejected).toBe(0);
    expect(stats.messages).toBe(stats.controls + stats.accepted + stats.rejected);
    const delivered = h.events();
    expect(delivered.length).toBe(stats.accepted);
    expect(stats.acceptedByKind.trade).toBe(delivered.filter((e) => e.kind === 'trade').length);
    expect(stats.acceptedByKind.quote).toBe(delivered.filter((e) => e.kind === 'quote').length);
    expect(stats.acceptedByKind.trade + stats.acceptedByKind.quote + stats.acceptedByKind.bar).toBe(stats.accepted);
    expect(new Set(delivered.flatMap((e) => (e.kind === 'trade' ? [e.row.symbol] : [])))).toEqual(new Set(['AAPL', 'MSFT', 'BTC/USD']));
    // Credentials never reach a log line.
    const logged = bigintSafe(h.logs);
    expect(logged).not.toContain(KEY);
    expect(logged).not.toContain(SECRET);
    expect(h.logs.some((l) => l.msg === 'feed subscribed')).toBe(true);
  });

  it('reconnects after the server drops it, resubscribes, and records the outage as a durable gap', async () => {
    const sim = await simulator({ symbols: ['AAPL', 'MSFT', 'SPY'], messagesPerSecond: 2000, seed: 5, connectionsPerKey: 1 });
    const dir = await tempDir();
    const gapLog = GapLog.inDataDir(dir);
    // Which connection each delivered tick came on, to know the last before the drop and the first after it.
    const ticks: { connection: number; frameTimes: bigint[] }[] = [];
    const h = harness(sim.url, {
      gapRecorder: gapLog,
      subscription: { trades: ['AAPL', 'MSFT'], quotes: ['AAPL', 'MSFT'], bars: ['AAPL', 'MSFT'] },
      onFrame: (frame) => {
        const times = frame.events.flatMap((e) => tickTime(e) ?? []);
        if (times.length > 0) ticks.push({ connection: h.client.stats.connects, frameTimes: times });
      },
    });
    const gapSeen = once(h.client, 'gap') as Promise<[GapInput, Gap | undefined]>;
    await h.client.start();
    await until(() => ticks.length >= 20, '20 frames of ticks');
    const statesBefore = h.states.length;
    sim.disconnectAll();

    const [gap, recorded] = await gapSeen;
    expect(h.client.stats.connects).toBe(2);
    expect(h.client.connected).toBe(true);
    expect(h.states.slice(statesBefore).map((s) => s.state)).toEqual(['backoff', 'connecting', 'authenticating', 'subscribing', 'subscribed']);
    expect(h.states[statesBefore]?.reason).toMatch(/connection closed \(code 1006/);

    const before = ticks.filter((t) => t.connection === 1).flatMap((t) => t.frameTimes);
    const firstAfter = ticks.find((t) => t.connection === 2)?.frameTimes ?? [];
    const maxBefore = before.reduce((a, b) => (b > a ? b : a));
    const minAfter = firstAfter.reduce((a, b) => (b < a ? b : a));
    expect(gap.fromNs).toBe(maxBefore);
    expect(gap.toNs).toBe(minAfter);
    expect(gap.toNs).toBeGreaterThan(gap.fromNs);
    expect(gap.symbols).toEqual(['AAPL', 'MSFT']);
    expect(gap.channels).toEqual(['trades', 'quotes', 'bars']);
    expect(gap.reason).toMatch(/code 1006/);

    // Durable: a fresh reader of the file sees it, unfilled.
    expect(recorded?.id).toMatch(/^gap-/);
    const listed = await new GapLog(gapLog.path).list();
    expect(listed).toEqual([{ ...gap, id: recorded?.id, recordedAt: recorded?.recordedAt, filled: false }]);

    // The stream goes on, on one connection (the limit is one per key).
    const accepted = h.client.stats.accepted;
    await until(() => h.client.stats.accepted > accepted + 100, 'data after the reconnect');
    expect(sim.stats().connections).toBe(1);
    await h.client.stop();
    expect(await gapLog.list()).toHaveLength(1);
  });

  it('delivers the same rows over msgpack as over JSON for the same market', async () => {
    const sim = await simulator({ symbols: ['AAPL', 'NVDA', 'BTC/USD'], messagesPerSecond: 3000, seed: 7, correctionRate: 0.02, cancelRate: 0.02 });
    const subscription = { trades: ['*'], quotes: ['*'], bars: ['*'], dailyBars: ['*'] };
    const json = harness(sim.url, { subscription, encoding: 'json' });
    await json.client.start();
    const msgpack = harness(sim.url, { subscription, encoding: 'msgpack', keyId: KEY, secretKey: SECRET });
    await msgpack.client.start();
    await until(() => msgpack.events().length >= 3000, '3000 msgpack events');
    await json.client.stop();
    await msgpack.client.stop();
    expect(msgpack.logs.find((l) => l.msg === 'feed subscribed')?.fields?.['encoding']).toBe('msgpack');

    // Both clients see one market; the msgpack one joined a little later, so align on its first event.
    const a = json.events().map(bigintSafe);
    const b = msgpack.events().map(bigintSafe);
    const start = a.indexOf(b[0] ?? '');
    expect(start).toBeGreaterThanOrEqual(0);
    const n = Math.min(a.length - start, b.length);
    expect(n).toBeGreaterThan(1000);
    expect(b.slice(0, n)).toEqual(a.slice(start, start + n));
    expect(json.client.stats.rejected + msgpack.client.stats.rejected).toBe(0);
  });

  it('turns trade corrections and cancels into trade_event rows field by field', async () => {
    const sim = await simulator({ symbols: ['AAPL', 'MSFT', 'BTC/USD'], messagesPerSecond: 4000, seed: 9, correctionRate: 0.06, cancelRate: 0.06 });
    const raw = new Map<string, AlpacaDataMessage>();
    cleanups.push(async () => stopTap());
    const stopTap = sim.tap((messages) => {
      for (const m of messages) if (m.T === 'c' || m.T === 'x') raw.set(`${m.S}|${m.t}`, m);
    });
    const h = harness(sim.url, { subscription: { trades: ['*'] } });
    await h.client.start();
    const rows = (): TradeEventRow[] => h.events().flatMap((e) => (e.kind === 'trade_event' ? [e.row] : []));
    await until(() => rows().filter((r) => r.action === 'correction').length >= 8 && rows().filter((r) => r.action !== 'correction').length >= 8, 'corrections and cancels');
    await h.client.stop();

    expect(h.client.stats.acceptedByKind.trade_event).toBe(rows().length);
    for (const row of rows()) {
      const m = [...raw.values()].find((x) => x.S === row.symbol && parseRfc3339Nanos(x.t) === row.ts_ns);
      if (m === undefined) throw new Error(`no raw message for ${bigintSafe(row)}`);
      expect(row.ts).toBe(row.ts_ns);
      if (m.T === 'c') {
        expect(row).toEqual({
          ts: row.ts_ns, ts_ns: parseRfc3339Nanos(m.t), symbol: m.S, action: 'correction',
          trade_id: BigInt(m.oi), price: m.op, size: m.os, exchange: m.x, conditions: m.oc.join(','),
          corrected_trade_id: BigInt(m.ci), corrected_price: m.cp, corrected_size: m.cs, corrected_conditions: m.cc.join(','), tape: m.z,
        });
      } else if (m.T === 'x') {
        expect(row).toEqual({
          ts: row.ts_ns, ts_ns: parseRfc3339Nanos(m.t), symbol: m.S, action: m.a === 'C' ? 'cancel' : 'error',
          trade_id: BigInt(m.i), price: m.p, size: m.s, exchange: m.x, conditions: '',
          corrected_trade_id: null, corrected_price: null, corrected_size: null, corrected_conditions: '', tape: m.z,
        });
      } else {
        throw new Error(`unexpected ${m.T}`);
      }
    }
  });

  it('fails start() with a clear error and does not retry when authentication fails (402)', async () => {
    const sim = await simulator({ messagesPerSecond: 100 });
    const wrongSecret = 'wrong-secret-value-42';
    const fatal: FeedError[] = [];
    const h = harness(sim.url, { secretKey: wrongSecret, onFatal: (e) => fatal.push(e) });
    const error = await h.client.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FeedError);
    expect((error as FeedError).code).toBe(402);
    expect((error as FeedError).message).toMatch(/server error 402 "auth failed": authentication failed: .*APCA_API_KEY_ID/);
    expect(h.client.state).toBe('failed');
    expect(fatal).toEqual([error]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.client.stats.connects).toBe(1);
    const logged = bigintSafe([h.logs, h.states, (error as Error).message]);
    expect(logged).not.toContain(wrongSecret);
    expect(logged).not.toContain(KEY);
  });

  it('backs off longer after 406 while another connection holds the slot, then gets in', async () => {
    const sim = await simulator({ messagesPerSecond: 500, connectionsPerKey: 1 });
    const holder = harness(sim.url);
    await holder.client.start();
    const waiting = harness(sim.url, { connectionLimitDelayMs: 400, initialBackoffMs: 20 });
    const started = waiting.client.start();
    await until(() => (waiting.client.stats.serverErrors['406'] ?? 0) >= 2, 'two 406 replies');
    const backoffs = waiting.states.filter((s) => s.state === 'backoff');
    expect(backoffs.length).toBeGreaterThanOrEqual(2);
    for (const b of backoffs) expect(b.delayMs).toBeGreaterThanOrEqual(400);
    expect(waiting.logs.some((l) => /connection limit exceeded: another connection with this key/.test(l.msg))).toBe(true);
    expect(waiting.client.connected).toBe(false);

    await holder.client.stop();
    await started;
    expect(waiting.client.connected).toBe(true);
    expect(sim.stats().connections).toBe(1);
  });
});
