/**
 * The built-in market simulator: a WebSocket server on loopback that speaks Alpaca's market data v2 stream protocol
 * (JSON, or msgpack when the client sends `Content-Type: application/msgpack`) and streams one shared synthetic
 * market to every client, each filtered by its own subscriptions. It is the edge agent's default feed and the tests'.
 *
 * Pacing: a timer draws how many events arrived since its last run (ArrivalProcess, averaging messagesPerSecond of
 * real time, bursts included), the model stamps them with the injected clock, and each client gets its share in
 * frames of at most batchMax messages. A client that cannot keep up is treated as Alpaca does: once more than
 * maxBufferedBytes wait unsent on its socket it receives 407 slow client and is disconnected, so memory stays bounded.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type * as MsgpackModule from '@msgpack/msgpack';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { validateSymbol } from '../../core/symbols.ts';
import type { AlpacaDataMessage, AlpacaError, AlpacaServerMessage } from './alpaca-messages.ts';
import { STREAM_ERRORS } from './alpaca-messages.ts';
import { ArrivalProcess } from './arrivals.ts';
import { type Clock, realTimeClock } from './clock.ts';
import { DEFAULT_SYMBOLS } from './instruments.ts';
import { MarketModel } from './market-model.ts';
import { type SessionReply, StreamSession } from './session.ts';

export class SimulatorError extends Error {
  override readonly name = 'SimulatorError';
}

export interface SimulatorOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default ['AAPL', 'MSFT', 'NVDA', 'SPY', 'BTC/USD'] */
  readonly symbols?: readonly string[];
  /** Average trades and quotes per second of real time over all symbols, bursts included. @default 2000 */
  readonly messagesPerSecond?: number;
  /** Seed of the market model and the arrival process. @default 1 */
  readonly seed?: number;
  /** Simulated time in nanoseconds for event timestamps. @default realTimeClock() */
  readonly clock?: Clock;
  /** When set, `auth` must carry this key; otherwise any non-empty key is accepted. */
  readonly keyId?: string;
  /** When set, `auth` must carry this secret; otherwise any non-empty secret is accepted. */
  readonly secretKey?: string;
  /** Most data messages in one frame. @default 500 */
  readonly batchMax?: number;
  /** A client that has not authenticated this long after connecting gets 404 auth timeout. @default 10_000 */
  readonly authTimeoutMs?: number;
  /** Pacing timer period. @default 10 */
  readonly tickMs?: number;
  /** Authenticated connections allowed per key; one more gets 406 connection limit exceeded. @default Infinity */
  readonly connectionsPerKey?: number;
  /** Unsent bytes on a client socket beyond which it gets 407 slow client. @default 16 MiB */
  readonly maxBufferedBytes?: number;
  /** Share of trades that correct an earlier trade (`T:"c"`). @default 0 */
  readonly correctionRate?: number;
  /** Share of trades that cancel an earlier trade (`T:"x"`). @default 0 */
  readonly cancelRate?: number;
  /** Long-run share of time the market spends in a 10x burst (bursts last 0.5 s on average). @default 0.02 */
  readonly burstShare?: number;
  /** Called with an error thrown while producing or sending a tick. @default writes it to stderr */
  readonly onError?: (error: unknown) => void;
}

export interface SimulatorStats {
  /** Open client connections. */
  readonly connections: number;
  readonly framesSent: number;
  /** Every message sent to any client, control messages included. */
  readonly messagesSent: number;
  readonly tradesSent: number;
  readonly quotesSent: number;
  /** Minute and daily bars sent. */
  readonly barsSent: number;
  /** Data messages the market produced, whether or not anyone subscribed. */
  readonly messagesGenerated: number;
  readonly slowClientsDisconnected: number;
}

/** Receives each tick's data messages, all symbols and channels, in stream order. */
export type MarketListener = (messages: readonly AlpacaDataMessage[]) => void;

export interface RunningSimulator {
  /** ws://HOST:PORT/v2/sim */
  readonly url: string;
  readonly port: number;
  /** Stops the market, closes every client (1001) and the listener. */
  close(): Promise<void>;
  stats(): SimulatorStats;
  /** Observes the market stream as produced, before per-client filtering; returns a function that stops it. */
  tap(listener: MarketListener): () => void;
  /** Drops every client connection at once without a closing handshake, to exercise reconnects. */
  disconnectAll(): void;
}

interface Client {
  readonly ws: WebSocket;
  readonly session: StreamSession;
  readonly msgpack: boolean;
  authTimer: NodeJS.Timeout | undefined;
  closing: boolean;
}

type MsgpackCodec = typeof MsgpackModule;

const PATH = '/v2/sim';
/** The longest stretch of real time one tick makes up for after the event loop stalled. */
const MAX_CATCH_UP_SECONDS = 0.25;

function positiveInteger(name: string, value: number, allowZero = false): number {
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new SimulatorError(`simulator option ${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${value}`);
  }
  return value;
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function rawBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** Starts the simulator and resolves once it listens. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const host = options.host ?? '127.0.0.1';
  const port = positiveInteger('port', options.port ?? 0, true);
  const symbols = [...(options.symbols ?? DEFAULT_SYMBOLS)].map(validateSymbol);
  const messagesPerSecond = options.messagesPerSecond ?? 2000;
  if (!(messagesPerSecond > 0) || !Number.isFinite(messagesPerSecond)) {
    throw new SimulatorError(`simulator option messagesPerSecond must be a positive number, got ${messagesPerSecond}`);
  }
  const seed = options.seed ?? 1;
  const batchMax = positiveInteger('batchMax', options.batchMax ?? 500);
  const authTimeoutMs = positiveInteger('authTimeoutMs', options.authTimeoutMs ?? 10_000);
  const tickMs = positiveInteger('tickMs', options.tickMs ?? 10);
  const connectionsPerKey = options.connectionsPerKey ?? Infinity;
  const maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const clock = options.clock ?? realTimeClock();
  const onError = options.onError ?? ((error: unknown) => console.error('market simulator:', error));

  const model = new MarketModel({
    seed,
    symbols,
    startNs: clock(),
    ...(options.correctionRate !== undefined && { correctionRate: options.correctionRate }),
    ...(options.cancelRate !== undefined && { cancelRate: options.cancelRate }),
  });
  const arrivals = new ArrivalProcess({
    ratePerSecond: messagesPerSecond,
    seed: seed ^ 0x5bd1e995,
    ...(options.burstShare !== undefined && { burstShare: options.burstShare }),
  });

  const clients = new Set<Client>();
  const listeners = new Set<MarketListener>();
  const counters = {
    framesSent: 0,
    messagesSent: 0,
    tradesSent: 0,
    quotesSent: 0,
    barsSent: 0,
    messagesGenerated: 0,
    slowClientsDisconnected: 0,
  };
  let msgpack: MsgpackCodec | undefined;

  const authenticate = (key: string, secret: string): AlpacaError | undefined => {
    if (key.length === 0 || secret.length === 0) return STREAM_ERRORS.authFailed;
    if (options.keyId !== undefined && key !== options.keyId) return STREAM_ERRORS.authFailed;
    if (options.secretKey !== undefined && secret !== options.secretKey) return STREAM_ERRORS.authFailed;
    let sameKey = 0;
    for (const client of clients) if (client.session.key === key) sameKey++;
    return sameKey >= connectionsPerKey ? STREAM_ERRORS.connectionLimitExceeded : undefined;
  };

  const send = (client: Client, messages: readonly AlpacaServerMessage[]): void => {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    if (client.msgpack && msgpack !== undefined) client.ws.send(msgpack.encode(messages), { binary: true });
    else client.ws.send(JSON.stringify(messages));
    counters.framesSent++;
    counters.messagesSent += messages.length;
  };

  const closeClient = (client: Client, code: number, reason: string): void => {
    client.closing = true;
    clearTimeout(client.authTimer);
    client.ws.close(code, reason);
  };

  const apply = (client: Client, reply: SessionReply): void => {
    // Control messages always travel alone, one per frame, as Alpaca sends them.
    for (const message of reply.messages) send(client, [message]);
    if (client.session.authenticated) {
      clearTimeout(client.authTimer);
      client.authTimer = undefined;
    }
    if (reply.close) closeClient(client, 1008, reply.messages[0]?.T === 'error' ? reply.messages[0].msg : 'closing');
  };

  const deliver = (client: Client, messages: readonly AlpacaDataMessage[]): void => {
    if (client.closing || !client.session.authenticated || client.ws.readyState !== WebSocket.OPEN) return;
    if (client.ws.bufferedAmount > maxBufferedBytes) {
      counters.slowClientsDisconnected++;
      send(client, [STREAM_ERRORS.slowClient]);
      closeClient(client, 1008, 'slow client');
      return;
    }
    let frame: AlpacaDataMessage[] = [];
    for (const message of messages) {
      if (!client.session.wants(message)) continue;
      frame.push(message);
      if (message.T === 't') counters.tradesSent++;
      else if (message.T === 'q') counters.quotesSent++;
      else if (message.T === 'b' || message.T === 'd') counters.barsSent++;
      if (frame.length >= batchMax) {
        send(client, frame);
        frame = [];
      }
    }
    if (frame.length > 0) send(client, frame);
  };

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastTickMs = performance.now();
  const tick = (): void => {
    if (stopped) return;
    try {
      const nowMs = performance.now();
      const elapsedSeconds = Math.min((nowMs - lastTickMs) / 1000, MAX_CATCH_UP_SECONDS);
      lastTickMs = nowMs;
      const arrived = arrivals.take(elapsedSeconds);
      // With nobody listening the market only keeps time, so an idle simulator costs next to nothing.
      const messages = model.advance(clients.size > 0 || listeners.size > 0 ? arrived : 0, clock());
      counters.messagesGenerated += messages.length;
      if (messages.length > 0) {
        for (const listener of listeners) listener(messages);
        for (const client of clients) deliver(client, messages);
      }
    } catch (error) {
      onError(error);
    }
    if (!stopped) timer = setTimeout(tick, tickMs);
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const onConnection = (ws: WebSocket, request: IncomingMessage): void => {
    const client: Client = {
      ws,
      session: new StreamSession(authenticate),
      msgpack: headerValue(request, 'content-type')?.toLowerCase().startsWith('application/msgpack') ?? false,
      authTimer: undefined,
      closing: false,
    };
    clients.add(client);
    ws.on('close', () => {
      clearTimeout(client.authTimer);
      clients.delete(client);
    });
    // A socket error is followed by 'close', which does the cleanup.
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      let request: unknown;
      try {
        const bytes = rawBytes(data);
        request = isBinary && msgpack !== undefined ? msgpack.decode(bytes) : JSON.parse(bytes.toString('utf8'));
      } catch {
        request = undefined;
      }
      apply(client, client.session.handle(request));
    });
    send(client, [{ T: 'success', msg: 'connected' }]);
    const headerKey = headerValue(request, 'apca-api-key-id');
    const headerSecret = headerValue(request, 'apca-api-secret-key');
    if (headerKey !== undefined || headerSecret !== undefined) apply(client, client.session.login(headerKey, headerSecret));
    if (!client.session.authenticated && !client.closing) {
      client.authTimer = setTimeout(() => {
        if (client.session.authenticated) return;
        send(client, [STREAM_ERRORS.authTimeout]);
        closeClient(client, 1008, 'auth timeout');
      }, authTimeoutMs);
    }
  };

  const rejectUpgrade = (socket: Duplex, status: string): void => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  const httpServer = createServer((_request, response) => {
    response.writeHead(426, { 'Content-Type': 'text/plain' }).end(`connect with a WebSocket to ${PATH}\n`);
  });
  httpServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(request.url ?? '/', 'http://simulator').pathname;
    if (!path.startsWith('/v2/') && !path.startsWith('/v1beta3/crypto/')) {
      rejectUpgrade(socket, '404 Not Found');
      return;
    }
    const wantsMsgpack = headerValue(request, 'content-type')?.toLowerCase().startsWith('application/msgpack') ?? false;
    // msgpack is loaded on first use so a JSON-only deployment does not need it installed.
    const ready: Promise<unknown> =
      wantsMsgpack && msgpack === undefined
        ? import('@msgpack/msgpack').then((codec) => {
            msgpack = codec;
          })
        : Promise.resolve();
    ready.then(
      () => wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, request)),
      (error: unknown) => {
        onError(new SimulatorError('msgpack requested but @msgpack/msgpack could not be loaded', { cause: error }));
        rejectUpgrade(socket, '415 Unsupported Media Type');
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const boundPort = (httpServer.address() as AddressInfo).port;
  lastTickMs = performance.now();
  timer = setTimeout(tick, tickMs);

  let closed: Promise<void> | undefined;
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${boundPort}${PATH}`,
    port: boundPort,
    stats: () => ({ connections: clients.size, ...counters }),
    tap(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    disconnectAll() {
      for (const client of clients) {
        client.closing = true;
        client.ws.terminate();
      }
    },
    close() {
      closed ??= (async () => {
        stopped = true;
        clearTimeout(timer);
        const gone = [...clients].map(
          (client) =>
            new Promise<void>((resolve) => {
              if (client.ws.readyState === WebSocket.CLOSED) return resolve();
              client.ws.once('close', () => resolve());
              closeClient(client, 1001, 'simulator shutting down');
              // A client that does not answer the closing handshake is cut off.
              setTimeout(() => client.ws.terminate(), 1000).unref();
            }),
        );
        await Promise.all(gone);
        wss.close();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      })();
      return closed;
    },
  };
}
