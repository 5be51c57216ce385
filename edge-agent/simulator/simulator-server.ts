/**
 * The built-in market simulator: a WebSocket server on loopback that speaks Alpaca's market data v2 stream protocol
 * (JSON, or msgpack when the client sends `Content-Type: application/msgpack`) and streams one shared market to every
 * client, each filtered by its own subscriptions. It is the edge agent's default feed and the tests'.
 *
 * Where the market comes from, one of:
 *   - live (default): a timer draws how many events arrived since its last run (ArrivalProcess, averaging
 *     messagesPerSecond of real time, bursts included) and the synthetic model stamps them with the injected clock;
 *   - 'max' (messagesPerSecond: 'max', for benchmarks): the model produces as fast as the slowest subscribed client
 *     takes it, pausing whenever a client has more than maxModeBufferedBytes waiting unsent;
 *   - replay: recorded files (replay-stream.ts), paced by their own timestamps or at 'max'; the replay starts when
 *     the first client has subscribed (or a tap is attached) and plays once.
 * Each client gets its share in frames of at most batchMax messages; the JSON of each message is computed once and
 * shared by all clients. A client that cannot keep up is treated as Alpaca does: once more than maxBufferedBytes wait
 * unsent on its socket it receives 407 slow client and is disconnected, so memory stays bounded. At 'max' a client
 * that takes nothing for 5 s gets the same.
 *
 * Faults (faults.ts) are injected per client when configured and counted by kind in stats().faults; every valid data
 * message sent is counted in stats().validMessagesSent, so a test can check a client kept all of them.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type * as MsgpackModule from '@msgpack/msgpack';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { validateSymbol } from '../../core/symbols.ts';
import { replayFormatOf } from '../feed/replay-files.ts';
import { checkReplaySpeed, realReplayClock } from '../feed/replay-pacing.ts';
import type { AlpacaDataMessage, AlpacaError, AlpacaServerMessage } from './alpaca-messages.ts';
import { STREAM_ERRORS } from './alpaca-messages.ts';
import { ArrivalProcess } from './arrivals.ts';
import { type Clock, realTimeClock } from './clock.ts';
import { ClientFaults, type FaultCounts, type FaultEntry, type FaultOptions, checkFaultOptions, emptyFaultCounts } from './faults.ts';
import { FrameWriter } from './frame-writer.ts';
import { DEFAULT_SYMBOLS } from './instruments.ts';
import { MarketModel } from './market-model.ts';
import { messageJson } from './message-json.ts';
import { type ReplayServeOptions, type ReplayStreamStats, type StreamItem, isRecordedFrame, playRecording } from './replay-stream.ts';
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
  /**
   * Average trades and quotes per second of real time over all symbols, bursts included; or 'max': as fast as the
   * slowest subscribed client takes them (benchmarks). @default 2000
   */
  readonly messagesPerSecond?: number | 'max';
  /** Seed of the market model, the arrival process and the fault decisions. @default 1 */
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
  /** At 'max' (model or replay), unsent bytes on a client socket above which production pauses. @default 4 MiB, at most maxBufferedBytes / 2 */
  readonly maxModeBufferedBytes?: number;
  /** Share of trades that correct an earlier trade (`T:"c"`). @default 0 */
  readonly correctionRate?: number;
  /** Share of trades that cancel an earlier trade (`T:"x"`). @default 0 */
  readonly cancelRate?: number;
  /** Long-run share of time the market spends in a 10x burst (bursts last 0.5 s on average). @default 0.02 */
  readonly burstShare?: number;
  /**
   * Serve recorded files instead of the synthetic market (see replay-stream.ts for the conversions); the model
   * options (symbols, messagesPerSecond, clock, correction and cancel rates) are then unused. @default none
   */
  readonly replay?: ReplayServeOptions;
  /**
   * Faults to inject (faults.ts); each is off unless set. Per-message faults bend the simulator's own messages
   * (model or CSV replay); recorded JSONL frames pass through untouched. @default none
   */
  readonly faults?: FaultOptions;
  /** Called with an error thrown while producing or sending a tick. @default writes it to stderr */
  readonly onError?: (error: unknown) => void;
}

export interface SimulatorStats {
  /** Open client connections. */
  readonly connections: number;
  readonly framesSent: number;
  /** Every message sent to any client, control messages, faults and recorded frames' messages included. */
  readonly messagesSent: number;
  /** Valid trades, quotes and bars sent (injected faults and duplicates not included). */
  readonly tradesSent: number;
  readonly quotesSent: number;
  /** Minute and daily bars sent. */
  readonly barsSent: number;
  /**
   * Valid data messages sent, summed over clients: the model's or the replay's messages as produced, each counted
   * once per client it reached (a message held back by outOfOrderRate counts when it is finally sent). Injected
   * malformed messages and duplicates are not included; recorded JSONL frames are counted apart.
   */
  readonly validMessagesSent: number;
  /** Recorded (JSONL) frames sent, summed over clients. */
  readonly recordedFramesSent: number;
  /** Data messages the market produced, whether or not anyone subscribed. */
  readonly messagesGenerated: number;
  readonly slowClientsDisconnected: number;
  /** Injected faults by kind (faults.ts FAULT_KINDS), summed over clients. */
  readonly faults: Readonly<FaultCounts>;
  /** Progress of the replay, when serving one. */
  readonly replay: Readonly<ReplayStreamStats> | undefined;
}

/** Receives each tick's data messages, all symbols and channels, in stream order (recorded JSONL frames excluded). */
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
  /** When serving a replay: resolves with its stats once every file has been sent (or the simulator closed). */
  readonly replayFinished: Promise<ReplayStreamStats> | undefined;
}

interface Client {
  readonly ws: WebSocket;
  readonly session: StreamSession;
  readonly msgpack: boolean;
  readonly writer: FrameWriter;
  readonly faults: ClientFaults | undefined;
  /** Data messages sent on this connection (valid, duplicates and malformed alike). */
  dataMessages: number;
  authTimer: NodeJS.Timeout | undefined;
  closing: boolean;
  /** At 'max': since when the socket has held more than maxModeBufferedBytes. */
  stalledSinceMs: number | undefined;
}

type MsgpackCodec = typeof MsgpackModule;

const PATH = '/v2/sim';
/** The longest stretch of real time one tick makes up for after the event loop stalled. */
const MAX_CATCH_UP_SECONDS = 0.25;
/** Events the model makes per turn at 'max', in frames of batchMax. */
const MAX_MODE_FRAMES_PER_TURN = 4;
/** At 'max', a client that takes nothing for this long is disconnected as a slow client. */
const MAX_MODE_STALL_MS = 5_000;
/** A disconnect fault waits at most this long for the socket to hand over what was already sent. */
const DRAIN_BEFORE_DROP_MS = 5_000;
/** A msgpack frame that never decodes: an array of one element whose first byte is 0xc1, which msgpack never uses. */
const BROKEN_MSGPACK = Uint8Array.of(0x91, 0xc1);

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

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the simulator and resolves once it listens. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const host = options.host ?? '127.0.0.1';
  const port = positiveInteger('port', options.port ?? 0, true);
  const symbols = [...(options.symbols ?? DEFAULT_SYMBOLS)].map(validateSymbol);
  const messagesPerSecond = options.messagesPerSecond ?? 2000;
  if (messagesPerSecond !== 'max' && (!(messagesPerSecond > 0) || !Number.isFinite(messagesPerSecond))) {
    throw new SimulatorError(`simulator option messagesPerSecond must be a positive number or 'max', got ${messagesPerSecond}`);
  }
  const seed = options.seed ?? 1;
  const batchMax = positiveInteger('batchMax', options.batchMax ?? 500);
  const authTimeoutMs = positiveInteger('authTimeoutMs', options.authTimeoutMs ?? 10_000);
  const tickMs = positiveInteger('tickMs', options.tickMs ?? 10);
  const connectionsPerKey = options.connectionsPerKey ?? Infinity;
  const maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const maxModeBufferedBytes = options.maxModeBufferedBytes ?? Math.min(4 * 1024 * 1024, Math.floor(maxBufferedBytes / 2));
  const clock = options.clock ?? realTimeClock();
  const onError = options.onError ?? ((error: unknown) => console.error('market simulator:', error));
  const faultOptions = checkFaultOptions(options.faults ?? {});
  const perMessageFaults = ClientFaults.active(faultOptions);
  const replayOptions = options.replay;
  let replayFiles: Parameters<typeof playRecording>[0]['files'] = [];
  if (replayOptions !== undefined) {
    checkReplaySpeed(replayOptions.speed, 'simulator option replay');
    if (replayOptions.files.length === 0) throw new SimulatorError('simulator option replay.files must name at least one file');
    try {
      replayFiles = await Promise.all(replayOptions.files.map(async (path) => ({ path, format: await replayFormatOf(path) })));
    } catch (error) {
      throw new SimulatorError(`simulator option replay.files: ${(error as Error).message}`, { cause: error });
    }
  }

  const model = new MarketModel({
    seed,
    symbols,
    startNs: clock(),
    ...(options.correctionRate !== undefined && { correctionRate: options.correctionRate }),
    ...(options.cancelRate !== undefined && { cancelRate: options.cancelRate }),
  });
  const arrivals = new ArrivalProcess({
    ratePerSecond: messagesPerSecond === 'max' ? 0 : messagesPerSecond,
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
    validMessagesSent: 0,
    recordedFramesSent: 0,
    messagesGenerated: 0,
    slowClientsDisconnected: 0,
  };
  const faultCounts = emptyFaultCounts();
  const replayStats: ReplayStreamStats | undefined =
    replayOptions === undefined
      ? undefined
      : { files: replayFiles.length, filesDone: 0, linesRead: 0, badLines: 0, messages: 0, recordedFrames: 0, done: false };
  let connectionCount = 0;
  let msgpack: MsgpackCodec | undefined;

  // Resolved once someone is there to receive the market: a replay waits for it so nobody misses the start.
  let audienceArrived = (): void => {};
  const audience = new Promise<void>((resolve) => {
    audienceArrived = resolve;
  });

  const authenticate = (key: string, secret: string): AlpacaError | undefined => {
    if (faultOptions.authFailure === true) {
      faultCounts.auth_failure++;
      return STREAM_ERRORS.authFailed;
    }
    if (key.length === 0 || secret.length === 0) return STREAM_ERRORS.authFailed;
    if (options.keyId !== undefined && key !== options.keyId) return STREAM_ERRORS.authFailed;
    if (options.secretKey !== undefined && secret !== options.secretKey) return STREAM_ERRORS.authFailed;
    let sameKey = 0;
    for (const client of clients) if (client.session.key === key) sameKey++;
    return sameKey >= connectionsPerKey ? STREAM_ERRORS.connectionLimitExceeded : undefined;
  };

  const sendFrame = (client: Client, payload: string | Uint8Array, messages: number): void => {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    client.ws.send(payload, { binary: typeof payload !== 'string' });
    counters.framesSent++;
    counters.messagesSent += messages;
  };

  const send = (client: Client, messages: readonly AlpacaServerMessage[]): void => {
    if (client.msgpack && msgpack !== undefined) sendFrame(client, msgpack.encode(messages), messages.length);
    else sendFrame(client, JSON.stringify(messages), messages.length);
  };

  const closeClient = (client: Client, code: number, reason: string): void => {
    client.closing = true;
    clearTimeout(client.authTimer);
    client.ws.close(code, reason);
  };

  const disconnectSlow = (client: Client): void => {
    counters.slowClientsDisconnected++;
    client.writer.flush();
    send(client, [STREAM_ERRORS.slowClient]);
    closeClient(client, 1008, 'slow client');
  };

  /**
   * A disconnect fault: nothing more is sent, and once the socket has handed everything already sent to the kernel
   * the connection is cut without a closing handshake. Waiting for that keeps validMessagesSent equal to what the
   * client can receive.
   */
  const drop = (client: Client): void => {
    if (client.closing) return;
    client.writer.flush();
    client.closing = true;
    clearTimeout(client.authTimer);
    faultCounts.disconnect++;
    const deadline = Date.now() + DRAIN_BEFORE_DROP_MS;
    const cut = (): void => {
      if (client.ws.readyState === WebSocket.OPEN && client.ws.bufferedAmount > 0 && Date.now() < deadline) setTimeout(cut, 2);
      else client.ws.terminate();
    };
    cut();
  };

  const apply = (client: Client, reply: SessionReply): void => {
    // Control messages always travel alone, one per frame, as Alpaca sends them.
    for (const message of reply.messages) send(client, [message]);
    if (client.session.authenticated) {
      clearTimeout(client.authTimer);
      client.authTimer = undefined;
      if (client.session.subscribedToAny()) audienceArrived();
    }
    if (reply.close) closeClient(client, 1008, reply.messages[0]?.T === 'error' ? reply.messages[0].msg : 'closing');
  };

  const countValid = (message: AlpacaDataMessage): void => {
    counters.validMessagesSent++;
    if (message.T === 't') counters.tradesSent++;
    else if (message.T === 'q') counters.quotesSent++;
    else if (message.T === 'b' || message.T === 'd') counters.barsSent++;
  };

  /** After each data message to a client: the per-connection message limits of the fault options. */
  const afterDataMessage = (client: Client): void => {
    client.dataMessages++;
    const { disconnectAfterMessages, slowClientAfterMessages } = faultOptions;
    if (disconnectAfterMessages !== undefined && client.dataMessages >= disconnectAfterMessages) {
      drop(client);
    } else if (slowClientAfterMessages !== undefined && client.dataMessages >= slowClientAfterMessages) {
      faultCounts.slow_client++;
      client.writer.flush();
      send(client, [STREAM_ERRORS.slowClient]);
      closeClient(client, 1008, 'slow client');
    }
  };

  const emitFaultEntry = (client: Client, entry: FaultEntry): void => {
    if (client.closing) return;
    switch (entry.type) {
      case 'message':
        client.writer.add(entry.message, client.msgpack ? undefined : messageJson(entry.message));
        if (entry.fault === 'duplicate') {
          faultCounts.duplicate++;
        } else {
          countValid(entry.message);
          if (entry.fault === 'out_of_order') faultCounts.out_of_order++;
        }
        break;
      case 'malformed':
        client.writer.add(entry.message, client.msgpack ? undefined : JSON.stringify(entry.message));
        faultCounts[entry.kind]++;
        break;
      case 'broken': {
        const json = messageJson(entry.message);
        client.writer.raw(client.msgpack ? BROKEN_MSGPACK : `[${json.slice(0, json.length >> 1)}`, 1);
        faultCounts.malformed_json++;
        break;
      }
    }
    afterDataMessage(client);
  };

  /** Sends `items` to one client: what it subscribed to, through the faults, in frames of at most batchMax. */
  const deliver = (client: Client, items: readonly StreamItem[], jsonCache: (string | undefined)[] | undefined): void => {
    if (client.closing || !client.session.authenticated || client.ws.readyState !== WebSocket.OPEN) return;
    if (client.ws.bufferedAmount > maxBufferedBytes) {
      disconnectSlow(client);
      return;
    }
    const { writer, faults } = client;
    const emit = (entry: FaultEntry): void => emitFaultEntry(client, entry);
    const limited = faultOptions.disconnectAfterMessages !== undefined || faultOptions.slowClientAfterMessages !== undefined;
    for (let index = 0; index < items.length && !client.closing; index++) {
      const item = items[index];
      if (item === undefined) continue;
      if (isRecordedFrame(item)) {
        if (!client.session.subscribedToAny()) continue;
        writer.raw(client.msgpack && msgpack !== undefined ? msgpack.encode(item.decoded) : item.recorded, item.decoded.length);
        counters.recordedFramesSent++;
        continue;
      }
      if (!client.session.wants(item)) continue;
      if (faults !== undefined) {
        faults.process(item, emit);
        continue;
      }
      writer.add(item, writer.binary ? undefined : jsonCache === undefined ? messageJson(item) : (jsonCache[index] ??= messageJson(item)));
      countValid(item);
      if (limited) afterDataMessage(client);
    }
    writer.flush();
  };

  /** Hands freshly produced items to the taps and every client. */
  const publish = (items: readonly StreamItem[]): void => {
    const data =
      replayStats === undefined
        ? (items as readonly AlpacaDataMessage[])
        : items.filter((item): item is AlpacaDataMessage => !isRecordedFrame(item));
    counters.messagesGenerated += data.length;
    if (data.length > 0) for (const listener of listeners) listener(data);
    // Each message's JSON is shared by the clients; with one client, keeping it would only feed the garbage collector.
    const jsonCache = clients.size > 1 ? new Array<string | undefined>(items.length) : undefined;
    for (const client of clients) deliver(client, items, jsonCache);
  };

  /** Whether anyone would receive the market: a tap, or an authenticated client subscribed to something. */
  const hasAudience = (): boolean => {
    if (listeners.size > 0) return true;
    for (const client of clients) if (!client.closing && client.session.authenticated && client.session.subscribedToAny()) return true;
    return false;
  };

  /**
   * At 'max': lets the event loop run, then waits while a client has more than maxModeBufferedBytes unsent. A client
   * stuck there for MAX_MODE_STALL_MS is disconnected as slow, so one dead reader cannot stall everyone for ever.
   */
  const room = async (): Promise<void> => {
    await nextTurn();
    for (;;) {
      if (stopped) return;
      const nowMs = performance.now();
      let full = false;
      for (const client of clients) {
        if (client.closing || !client.session.authenticated || client.ws.bufferedAmount <= maxModeBufferedBytes) {
          client.stalledSinceMs = undefined;
          continue;
        }
        client.stalledSinceMs ??= nowMs;
        if (nowMs - client.stalledSinceMs > MAX_MODE_STALL_MS) disconnectSlow(client);
        else full = true;
      }
      if (!full) return;
      await sleep(1);
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stopReplay = new AbortController();
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
      if (messages.length > 0) publish(messages);
    } catch (error) {
      onError(error);
    }
    if (!stopped) timer = setTimeout(tick, tickMs);
  };

  /** The model at 'max': a turn of MAX_MODE_FRAMES_PER_TURN frames whenever every client has room. */
  const runFlatOut = async (): Promise<void> => {
    while (!stopped) {
      if (!hasAudience()) {
        await sleep(tickMs);
        continue;
      }
      try {
        publish(model.advance(batchMax * MAX_MODE_FRAMES_PER_TURN, clock()));
      } catch (error) {
        onError(error);
        await sleep(tickMs);
      }
      await room();
    }
  };

  const runReplay = async (stats: ReplayStreamStats): Promise<ReplayStreamStats> => {
    await Promise.race([audience, new Promise((resolve) => stopReplay.signal.addEventListener('abort', resolve, { once: true }))]);
    if (stopped || replayOptions === undefined) return stats;
    await playRecording(
      {
        files: replayFiles,
        speed: replayOptions.speed,
        clock: realReplayClock,
        signal: stopReplay.signal,
        batchMax,
        emit: publish,
        room,
        onBadLine: () => {},
      },
      stats,
    );
    // Messages still held back by outOfOrderRate go out now, in order.
    for (const client of clients) {
      client.faults?.release((entry) => emitFaultEntry(client, entry));
      client.writer.flush();
    }
    return stats;
  };

  let disconnectTimer: NodeJS.Timeout | undefined;
  if (faultOptions.disconnectEveryMs !== undefined) {
    disconnectTimer = setInterval(() => {
      for (const client of clients) if (client.session.authenticated) drop(client);
    }, faultOptions.disconnectEveryMs);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const onConnection = (ws: WebSocket, request: IncomingMessage): void => {
    const wantsMsgpack = headerValue(request, 'content-type')?.toLowerCase().startsWith('application/msgpack') ?? false;
    const codec = wantsMsgpack ? msgpack : undefined;
    connectionCount++;
    const client: Client = {
      ws,
      session: new StreamSession(authenticate),
      msgpack: codec !== undefined,
      writer: new FrameWriter(codec === undefined ? undefined : (value) => codec.encode(value), batchMax, (payload, messages) =>
        sendFrame(client, payload, messages),
      ),
      faults: perMessageFaults ? new ClientFaults(faultOptions, (seed ^ 0x2545f491) + connectionCount, codec !== undefined) : undefined,
      dataMessages: 0,
      authTimer: undefined,
      closing: false,
      stalledSinceMs: undefined,
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

  let producing: Promise<unknown> = Promise.resolve();
  let replayFinished: Promise<ReplayStreamStats> | undefined;
  if (replayStats !== undefined) {
    replayFinished = runReplay(replayStats);
    replayFinished.catch((error: unknown) => onError(error));
    producing = replayFinished;
  } else if (messagesPerSecond === 'max') {
    producing = runFlatOut();
  } else {
    lastTickMs = performance.now();
    timer = setTimeout(tick, tickMs);
  }

  let closed: Promise<void> | undefined;
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${boundPort}${PATH}`,
    port: boundPort,
    replayFinished,
    stats: () => ({
      connections: clients.size,
      ...counters,
      faults: { ...faultCounts },
      replay: replayStats === undefined ? undefined : { ...replayStats },
    }),
    tap(listener) {
      listeners.add(listener);
      audienceArrived();
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
        clearInterval(disconnectTimer);
        stopReplay.abort();
        await producing.catch(() => {});
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
