/**
 * Failure paths of the stream client against small purpose-made Alpaca-speaking `ws` servers on loopback: every
 * server error code, a connection that stops answering pings, a feed that goes silent, malformed and oversized
 * frames, msgpack negotiation, the backoff policy, and credentials echoed back by a hostile server.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { decode, encode } from '@msgpack/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { type AlpacaClientOptions, AlpacaStreamClient, FeedError, type StateChange } from '../edge-agent/feed/alpaca-client.ts';
import type { ParsedFrame } from '../edge-agent/feed/alpaca-messages.ts';
import type { FeedEvent, RejectReason } from '../edge-agent/feed/feed-event.ts';
import type { Gap, GapInput } from '../edge-agent/feed/gap-log.ts';
import { formatRfc3339Nanos } from '../core/rfc3339.ts';

const KEY = 'AKFAULTTESTKEY000042';
const SECRET = 'fault-test-secret-9f8e7d6c5b4a';
const BASE_NS = 1_719_844_200_000_000_000n; // 2024-07-01T14:30:00Z

type Message = Record<string, unknown>;

interface FakeConnection {
  readonly ws: WebSocket;
  /** 0 for the first connection, 1 for the next... */
  readonly index: number;
  readonly headers: IncomingHttpHeaders;
  readonly requests: Message[];
  /** Whether each request arrived as a binary (msgpack) frame. */
  readonly binaryRequests: boolean[];
  send(frame: unknown[] | string | Uint8Array): void;
}

interface FakeOptions {
  /** @default true */
  readonly autoPong?: boolean;
  /** Handle an auth request instead of accepting it; return true when handled. */
  readonly onAuth?: (conn: FakeConnection, request: Message) => boolean;
  /** Handle a subscribe request instead of confirming it; return true when handled. */
  readonly onSubscribe?: (conn: FakeConnection, request: Message) => boolean;
  /** Called after the subscription was confirmed. */
  readonly afterSubscribe?: (conn: FakeConnection) => void;
  /** Send frames as msgpack. @default false */
  readonly msgpack?: boolean;
}

interface FakeServer {
  readonly url: string;
  readonly connections: FakeConnection[];
  /** The most connections open at the same time. */
  readonly maxConcurrent: () => number;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An Alpaca-speaking server whose every step can be scripted; the happy path by default. */
async function fakeAlpaca(options: FakeOptions = {}): Promise<FakeServer> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: options.autoPong ?? true });
  await once(wss, 'listening');
  const connections: FakeConnection[] = [];
  let open = 0;
  let maxOpen = 0;
  wss.on('connection', (ws, request) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    ws.on('close', () => open--);
    ws.on('error', () => {});
    const conn: FakeConnection = {
      ws,
      index: connections.length,
      headers: request.headers,
      requests: [],
      binaryRequests: [],
      send(frame) {
        if (ws.readyState !== ws.OPEN) return;
        if (typeof frame === 'string' || frame instanceof Uint8Array) ws.send(frame, { binary: frame instanceof Uint8Array });
        else if (options.msgpack === true) ws.send(encode(frame), { binary: true });
        else ws.send(JSON.stringify(frame));
      },
    };
    connections.push(conn);
    ws.on('message', (data, isBinary) => {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      const request = (isBinary ? decode(bytes) : JSON.parse(bytes.toString('utf8'))) as Message;
      conn.requests.push(request);
      conn.binaryRequests.push(isBinary);
      if (request['action'] === 'auth') {
        if (options.onAuth?.(conn, request) === true) return;
        conn.send([{ T: 'success', msg: 'authenticated' }]);
      } else if (request['action'] === 'subscribe') {
        if (options.onSubscribe?.(conn, request) === true) return;
        const { action: _action, ...channels } = request;
        conn.send([{ T: 'subscription', ...channels }]);
        options.afterSubscribe?.(conn);
      }
    });
    conn.send([{ T: 'success', msg: 'connected' }]);
  });
  cleanups.push(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });
  const { port } = wss.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/v2/test`, connections, maxConcurrent: () => maxOpen };
}

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown> | undefined;
}

function harness(url: string, options: Partial<AlpacaClientOptions> = {}) {
  const frames: ParsedFrame[] = [];
  const logs: LogLine[] = [];
  const states: StateChange[] = [];
  const fatal: FeedError[] = [];
  const client = new AlpacaStreamClient({
    url,
    keyId: KEY,
    secretKey: SECRET,
    subscription: { trades: ['AAPL'], quotes: ['AAPL'] },
    onFrame: (frame) => frames.push(frame),
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    onStateChange: (change) => states.push(change),
    onFatal: (error) => fatal.push(error),
    initialBackoffMs: 20,
    maxBackoffMs: 100,
    rejectLogIntervalMs: 60_000,
    ...options,
  });
  cleanups.push(() => client.stop());
  const events = (): FeedEvent[] => frames.flatMap((f) => f.events);
  const tradeIds = (): bigint[] => events().flatMap((e) => (e.kind === 'trade' ? [e.row.trade_id] : []));
  return { client, frames, logs, states, fatal, events, tradeIds };
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const bigintSafe = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

function trade(id: number, offsetNs: bigint, over: Message = {}): Message {
  return { T: 't', S: 'AAPL', i: id, x: 'V', p: 187.12, s: 100, t: formatRfc3339Nanos(BASE_NS + offsetNs), c: ['@'], z: 'C', ...over };
}

describe('server error codes', () => {
  it.each([
    { code: 402, at: 'auth', pattern: /authentication failed: .*APCA_API_KEY_ID.*not retrying/ },
    { code: 405, at: 'subscribe', pattern: /symbol limit exceeded: the subscription names 1 symbols \(trades: 1, quotes: 1\).*30 symbols/ },
    { code: 409, at: 'auth', pattern: /insufficient subscription: .*\/v2\/test.*sip without a paid plan.*iex/ },
    { code: 410, at: 'subscribe', pattern: /invalid subscribe action for this feed: .*\(trades: 1, quotes: 1\)/ },
  ])('$code at $at is fatal: start() rejects with a clear error and nothing retries', async ({ code, at, pattern }) => {
    const fail = (conn: FakeConnection): boolean => {
      conn.send([{ T: 'error', code, msg: `error ${code}` }]);
      return true;
    };
    const server = await fakeAlpaca(at === 'auth' ? { onAuth: fail } : { onSubscribe: fail });
    const h = harness(server.url);
    const error = await h.client.start().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(FeedError);
    expect((error as FeedError).code).toBe(code);
    expect((error as FeedError).message).toMatch(pattern);
    expect(h.fatal).toEqual([error]);
    expect(h.client.state).toBe('failed');
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toContain((error as Error).message);
    await sleep(200);
    expect(server.connections).toHaveLength(1);
  });

  it.each([
    { code: 404, at: 'auth', pattern: /authentication timeout/ },
    { code: 407, at: 'data', pattern: /slow client: .*the agent is too slow/ },
    { code: 500, at: 'data', pattern: /internal error on the server; reconnecting/ },
    { code: 599, at: 'data', pattern: /unknown server error code; reconnecting/ },
  ])('$code reconnects with backoff and resubscribes', async ({ code, at, pattern }) => {
    const server = await fakeAlpaca({
      onAuth: (conn) => {
        if (at !== 'auth' || conn.index > 0) return false;
        conn.send([{ T: 'error', code, msg: 'auth timeout' }]);
        conn.ws.close(1008, 'auth timeout');
        return true;
      },
      afterSubscribe: (conn) => {
        conn.send([trade(100 + conn.index, BigInt(conn.index) * 1_000_000_000n)]);
        if (at === 'data' && conn.index === 0) conn.send([{ T: 'error', code, msg: `error ${code}` }]);
      },
    });
    const h = harness(server.url);
    const gaps: GapInput[] = [];
    h.client.on('gap', (gap) => gaps.push(gap));
    await h.client.start();
    await until(() => h.client.stats.connects === 2 && h.client.connected && h.tradeIds().length === (at === 'data' ? 2 : 1), 'the second connection');
    expect(h.client.stats.serverErrors[String(code)]).toBe(1);
    const line = h.logs.find((l) => pattern.test(l.msg));
    expect(line?.level).toBe('warn');
    expect(h.states.some((s) => s.state === 'backoff' && s.reason?.includes(`server error ${code}`))).toBe(true);
    expect(server.connections.every((c) => c.requests.filter((r) => r['action'] === 'subscribe').length <= 1)).toBe(true);
    expect(server.connections[1]?.requests.map((r) => r['action'])).toEqual(['auth', 'subscribe']);
    expect(server.maxConcurrent()).toBe(1);
    if (at === 'data') {
      // It was subscribed when the error came, so the outage is a gap from the last trade to the first after it.
      await until(() => gaps.length === 1, 'the gap');
      expect(gaps[0]).toMatchObject({ fromNs: BASE_NS, toNs: BASE_NS + 1_000_000_000n, symbols: ['AAPL'], channels: ['trades', 'quotes'] });
    }
  });

  it('400 is logged and 403 ignored; the connection stays', async () => {
    const server = await fakeAlpaca({
      afterSubscribe: (conn) => {
        conn.send([{ T: 'error', code: 400, msg: 'invalid syntax' }]);
        conn.send([{ T: 'error', code: 403, msg: 'already authenticated' }]);
        conn.send([trade(1, 0n)]);
      },
    });
    const h = harness(server.url);
    await h.client.start();
    await until(() => h.tradeIds().length === 1, 'the trade');
    expect(h.client.stats.serverErrors).toEqual({ 400: 1, 403: 1 });
    expect(h.logs.find((l) => /server error 400/.test(l.msg))).toMatchObject({ level: 'warn', msg: expect.stringMatching(/invalid syntax: .*continuing/) });
    expect(h.logs.find((l) => /server error 403/.test(l.msg))).toMatchObject({ level: 'info' });
    expect(h.client.stats.connects).toBe(1);
    expect(h.client.connected).toBe(true);
  });

  it('401 makes it authenticate again on the same connection, then subscribe', async () => {
    let refused = false;
    const server = await fakeAlpaca({
      onSubscribe: (conn) => {
        if (refused) return false;
        refused = true;
        conn.send([{ T: 'error', code: 401, msg: 'not authenticated' }]);
        return true;
      },
    });
    const h = harness(server.url);
    await h.client.start();
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0]?.requests.map((r) => r['action'])).toEqual(['auth', 'subscribe', 'auth', 'subscribe']);
    expect(h.client.stats.serverErrors).toEqual({ 401: 1 });
  });
});

describe('silent connections', () => {
  it('detects a server that stops answering pings, reconnects, and records the gap', async () => {
    const server = await fakeAlpaca({
      autoPong: false,
      afterSubscribe: (conn) => {
        if (conn.index > 0) conn.ws.on('ping', () => conn.ws.pong());
        conn.send([trade(10 + conn.index, BigInt(conn.index) * 5_000_000_000n)]);
      },
    });
    const h = harness(server.url, { pingIntervalMs: 100, pingTimeoutMs: 150 });
    const gapSeen = once(h.client, 'gap') as Promise<[GapInput, Gap | undefined]>;
    await h.client.start();
    const [gap] = await gapSeen;
    expect(h.client.stats.pingTimeouts).toBeGreaterThanOrEqual(1);
    expect(gap.reason).toMatch(/no pong within 150 ms/);
    expect(gap.fromNs).toBe(BASE_NS);
    expect(gap.toNs).toBe(BASE_NS + 5_000_000_000n);
    expect(h.tradeIds().slice(0, 2)).toEqual([10n, 11n]);
    expect(server.maxConcurrent()).toBe(1);
  });

  it('reconnects when no message arrives for dataSilenceMs while subscribed', async () => {
    const server = await fakeAlpaca({ afterSubscribe: (conn) => conn.send([trade(1 + conn.index, BigInt(conn.index))]) });
    const h = harness(server.url, { dataSilenceMs: 250 });
    await h.client.start();
    await until(() => h.client.stats.connects >= 2 && h.tradeIds().length >= 2, 'a reconnect after silence');
    expect(h.client.stats.silenceTimeouts).toBeGreaterThanOrEqual(1);
    expect(h.states.find((s) => s.state === 'backoff')?.reason).toMatch(/no message for 250 ms while subscribed/);
    expect(h.client.stats.pingTimeouts).toBe(0);
  });
});

describe('bad input', () => {
  it('keeps the valid messages of mixed frames, counts the bad ones by reason, and rate-limits the log', async () => {
    const server = await fakeAlpaca({
      afterSubscribe: (conn) => {
        conn.send([trade(1, 1n), trade(2, 2n)]);
        conn.send('[{"T":"t","S":"AAPL",');
        conn.send(Uint8Array.from([0xc1, 0x00, 0xff]));
        conn.send('{"T":"t"}');
        conn.send('not json at all');
        conn.send([
          trade(3, 3n),
          17,
          { T: 'zz' },
          trade(0, 4n, { p: -1 }),
          trade(0, 5n, { p: 0 }),
          trade(0, 6n, { s: 0 }),
          trade(0, 7n, { p: '187' }),
          trade(0, 8n, { S: 'AA/BB/CC' }),
          trade(0, 9n, { S: '' }),
          trade(0, 10n, { t: '2024-02-30T00:00:00Z' }),
          trade(1.5, 11n),
          { T: 'q', S: 'AAPL', bp: 2, ap: 1, bs: 1, as: 1, t: formatRfc3339Nanos(BASE_NS) },
          { T: 's', S: 'AAPL', sc: 'H', sm: 'Trading Halt', rc: 'LUDP', rm: 'Volatility Trading Pause', t: formatRfc3339Nanos(BASE_NS), z: 'C' },
          { T: 'l', S: 'AAPL', u: 190.5, d: 180.1, i: 'B', t: formatRfc3339Nanos(BASE_NS), z: 'C' },
          trade(4, 12n),
        ]);
        // msgpack-only hazards: NaN and Infinity, and an id above 2^53 that must stay exact.
        conn.send(encode([trade(0, 13n, { p: Number.NaN }), trade(0, 14n, { s: Number.POSITIVE_INFINITY }), trade(5, 15n), { ...trade(0, 16n), i: 2n ** 60n + 1n }], { useBigInt64: true }));
        // A storm of one reason: one log line for it, the rest counted as suppressed.
        conn.send(Array.from({ length: 50 }, (_, k) => trade(0, BigInt(100 + k), { p: -k - 1 })));
        conn.send([trade(999, 999n)]);
      },
    });
    const h = harness(server.url);
    await h.client.start();
    await until(() => h.tradeIds().includes(999n), 'the last trade');
    expect(h.tradeIds()).toEqual([1n, 2n, 3n, 4n, 5n, 2n ** 60n + 1n, 999n]);
    expect(h.events().filter((e) => e.kind === 'status')).toHaveLength(2);

    const stats = h.client.stats;
    const nonZero = Object.fromEntries(Object.entries(stats.rejectedByReason).filter(([, n]) => n > 0));
    expect(nonZero).toEqual({
      malformed_frame: 4,
      not_an_object: 1,
      unknown_type: 1,
      bad_price: 2 + 1 + 50,
      bad_size: 1 + 1,
      wrong_type: 1,
      bad_symbol: 2,
      bad_timestamp: 1,
      bad_trade_id: 1,
      crossed_quote: 1,
    } satisfies Partial<Record<RejectReason, number>>);
    expect(stats.messages).toBe(stats.controls + stats.accepted + stats.rejected);
    // What onFrame saw adds up to the same counts.
    expect(h.frames.reduce((n, f) => n + f.rejects.length, 0)).toBe(stats.rejected);
    expect(h.frames.reduce((n, f) => n + f.events.length, 0)).toBe(stats.accepted);
    expect(h.client.connected).toBe(true);

    const rejectLines = h.logs.filter((l) => l.msg === 'feed message rejected');
    expect(rejectLines.filter((l) => l.fields?.['reason'] === 'bad_price')).toHaveLength(1);
    expect(rejectLines.length).toBe(Object.keys(nonZero).length);
    await h.client.stop();
    expect(h.logs.find((l) => l.msg === 'feed messages rejected' && l.fields?.['reason'] === 'bad_price')?.fields?.['suppressed']).toBe(52);
  });

  it('drops a frame over maxFrameBytes as one counted reject and keeps the connection', async () => {
    const big = Array.from({ length: 400 }, (_, k) => trade(1000 + k, BigInt(k)));
    const server = await fakeAlpaca({ afterSubscribe: (conn) => { conn.send(big); conn.send([trade(1, 1n)]); } });
    const h = harness(server.url, { maxFrameBytes: 20_000 });
    await h.client.start();
    await until(() => h.tradeIds().length === 1, 'the small frame');
    expect(h.tradeIds()).toEqual([1n]);
    expect(h.client.stats.rejectedByReason.oversized_frame).toBe(1);
    expect(h.frames[0]?.rejects[0]?.detail).toMatch(/over maxFrameBytes 20000/);
    expect(h.client.stats.connects).toBe(1);
    expect(h.client.stats.messages).toBe(h.client.stats.controls + h.client.stats.accepted + h.client.stats.rejected);
  });

  it('counts a frame over maxPayloadBytes (ws closes with 1009) and reconnects', async () => {
    const big = Array.from({ length: 2000 }, (_, k) => trade(1000 + k, BigInt(k)));
    const server = await fakeAlpaca({ afterSubscribe: (conn) => conn.send(conn.index === 0 ? big : [trade(7, 7n)]) });
    const h = harness(server.url, { maxPayloadBytes: 50_000, maxFrameBytes: 40_000 });
    await h.client.start();
    await until(() => h.tradeIds().length === 1 && h.client.connected, 'the reconnect');
    expect(h.client.stats.oversizedCloses).toBe(1);
    expect(h.client.stats.rejectedByReason.oversized_frame).toBe(1);
    expect(h.client.stats.connects).toBe(2);
    expect(h.states.find((s) => s.state === 'backoff')?.reason).toMatch(/exceeded maxPayloadBytes 50000.*1009/);
    expect(server.maxConcurrent()).toBe(1);
  });
});

describe('encoding', () => {
  it('asks for msgpack with the Content-Type header, sends its requests as msgpack, and decodes binary frames', async () => {
    const server = await fakeAlpaca({ msgpack: true, afterSubscribe: (conn) => { conn.send([trade(5_000_000_000, 1n)]); conn.send(JSON.stringify([trade(6, 2n)])); } });
    const h = harness(server.url, { encoding: 'msgpack' });
    await h.client.start();
    await until(() => h.tradeIds().length === 2, 'two trades');
    expect(server.connections[0]?.headers['content-type']).toBe('application/msgpack');
    expect(server.connections[0]?.binaryRequests).toEqual([true, true]);
    expect(server.connections[0]?.requests[0]).toEqual({ action: 'auth', key: KEY, secret: SECRET });
    expect(server.connections[0]?.requests[1]).toEqual({ action: 'subscribe', trades: ['AAPL'], quotes: ['AAPL'] });
    expect(h.tradeIds()).toEqual([5_000_000_000n, 6n]);
  });

  it('uses JSON by default, without the msgpack header', async () => {
    const server = await fakeAlpaca();
    const h = harness(server.url);
    await h.client.start();
    expect(server.connections[0]?.headers['content-type']).toBeUndefined();
    expect(server.connections[0]?.binaryRequests).toEqual([false, false]);
  });
});

describe('backoff and lifecycle', () => {
  async function deadPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  it('backs off exponentially with full jitter up to the cap', async () => {
    const port = await deadPort();
    const high = harness(`ws://127.0.0.1:${port}/v2/iex`, { initialBackoffMs: 10, maxBackoffMs: 80, random: () => 0.999 });
    void high.client.start().catch(() => {});
    await until(() => high.states.filter((s) => s.state === 'backoff').length >= 6, 'six attempts');
    await high.client.stop();
    expect(high.states.filter((s) => s.state === 'backoff').slice(0, 6).map((s) => s.delayMs)).toEqual([10, 20, 40, 80, 80, 80]);
    expect(high.states.filter((s) => s.state === 'backoff').slice(0, 6).map((s) => s.attempt)).toEqual([1, 2, 3, 4, 5, 6]);

    const low = harness(`ws://127.0.0.1:${port}/v2/iex`, { initialBackoffMs: 1000, random: () => 0 });
    void low.client.start().catch(() => {});
    await until(() => low.states.filter((s) => s.state === 'backoff').length >= 3, 'three attempts');
    await low.client.stop();
    expect(low.states.filter((s) => s.state === 'backoff').slice(0, 3).map((s) => s.delayMs)).toEqual([0, 0, 0]);
  });

  it('stop() during backoff ends promptly and rejects a pending start()', async () => {
    const port = await deadPort();
    const h = harness(`ws://127.0.0.1:${port}/v2/iex`, { initialBackoffMs: 60_000, random: () => 0.5 });
    const started = h.client.start().then(() => undefined, (e: unknown) => e);
    await until(() => h.client.state === 'backoff', 'backoff');
    const t0 = Date.now();
    await h.client.stop();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await started).toBeInstanceOf(FeedError);
    expect(h.client.state).toBe('stopped');
  });

  it('refuses bad options with a message naming them', () => {
    const base = { url: 'ws://127.0.0.1:1/v2/iex', keyId: KEY, secretKey: SECRET, subscription: { trades: ['AAPL'] }, onFrame: () => {}, log: () => {} };
    expect(() => new AlpacaStreamClient({ ...base, url: 'http://x' })).toThrow(/must use ws:\/\/ or wss:\/\//);
    expect(() => new AlpacaStreamClient({ ...base, secretKey: '' })).toThrow(/credentials/);
    expect(() => new AlpacaStreamClient({ ...base, subscription: {} })).toThrow(/subscription is empty/);
    expect(() => new AlpacaStreamClient({ ...base, subscription: { trades: ['../x'] } })).toThrow(/subscription trades: invalid symbol/);
    expect(() => new AlpacaStreamClient({ ...base, subscription: { orderbooks: ['X'] } as never })).toThrow(/unknown channel "orderbooks"/);
    expect(() => new AlpacaStreamClient({ ...base, pingTimeoutMs: 0 })).toThrow(/pingTimeoutMs must be a positive number/);
  });
});

describe('credentials', () => {
  it('never lets the key or secret into a log line, an error or a reject, even when the server echoes them', async () => {
    const echo = await fakeAlpaca({
      afterSubscribe: (conn) => {
        const key = String(conn.requests[0]?.['key']);
        const secret = String(conn.requests[0]?.['secret']);
        conn.send([{ T: 'error', code: 400, msg: `invalid syntax near ${key}:${secret}` }]);
        conn.send([trade(1, 1n, { S: `${secret}/A/B` }), { T: secret }]);
        conn.send([{ T: 'error', code: 402, msg: `auth failed for ${key} / ${secret}` }]);
      },
    });
    const h = harness(echo.url);
    await h.client.start();
    await until(() => h.client.state === 'failed', 'the fatal 402');
    const everything = bigintSafe({ logs: h.logs, states: h.states, fatal: h.fatal.map((e) => e.message), rejects: h.frames.flatMap((f) => f.rejects) });
    expect(h.fatal[0]?.message).toMatch(/auth failed for \[redacted\] \/ \[redacted\]/);
    expect(h.frames.flatMap((f) => f.rejects).map((r) => r.reason)).toEqual(['bad_symbol', 'unknown_type']);
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(SECRET);
    expect(everything).toContain('[redacted]');
  });
});
