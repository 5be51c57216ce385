/**
 * Alpaca market data v2 stream client: connect, authenticate, subscribe, hand every frame to the agent, and keep the
 * stream alive: reconnect with capped exponential backoff and full jitter, resubscribe to the same channels, detect a
 * silent connection (ping/pong) and a silent feed (no message for dataSilenceMs), act on each server error code as
 * SERVER_ERROR_RULES says, and record every outage after a subscription as a gap for backfill.
 *
 * One connection per account and feed: a new socket is opened only after the old one has closed (Alpaca allows one,
 * and a second gets 406). Credentials are never logged: every log line and error message passes through a redactor
 * that replaces the key id and secret, even when a server echoes them back.
 */
import { EventEmitter } from 'node:events';
import { encode as encodeMsgpack } from '@msgpack/msgpack';
import WebSocket, { type RawData } from 'ws';
import type { EpochNs } from '../../core/column-types.ts';
import { symbolProblem } from '../../core/symbols.ts';
import type { LogFn, LogLevel } from '../log.ts';
import {
  type ControlMessage,
  type ParsedFrame,
  STREAM_CHANNELS,
  type StreamChannel,
  parseJsonFrame,
  parseMsgpackFrame,
  rejectedFrame,
} from './alpaca-messages.ts';
import { type FeedEventKind, REJECT_REASONS, type Reject, type RejectReason } from './feed-event.ts';
import type { FeedSource } from './feed-source.ts';
import type { Gap, GapInput, GapRecorder } from './gap-log.ts';

/** Symbols per channel; '*' means every symbol (Alpaca allows it for bars, and for trades/quotes on some plans). */
export type Subscription = { readonly [C in StreamChannel]?: readonly string[] };

export const FEED_ENCODINGS = ['json', 'msgpack'] as const;
export type FeedEncoding = (typeof FEED_ENCODINGS)[number];
/**
 * JSON, by measurement: bench/feed.bench.ts decodes and validates the same 100-message frames both ways, and JSON
 * (V8's native parser) came out ahead of msgpack (a JavaScript decoder) in every interleaved run on the shared
 * 2-core dev VM, by 1.07x to 1.86x. msgpack saves about 28% of the bytes on the wire, which matters less than CPU for the agent.
 */
export const DEFAULT_ENCODING: FeedEncoding = 'json';

/** The agent's log function (edge-agent/log.ts). */
export type ClientLogFn = LogFn;

export interface AlpacaClientOptions {
  /** The stream URL, e.g. streamUrl({ kind: 'stocks', feed: 'iex' }) or the simulator's url. */
  readonly url: string;
  readonly keyId: string;
  readonly secretKey: string;
  readonly subscription: Subscription;
  /** Called for every frame that carries data or rejects, in arrival order. */
  readonly onFrame: (frame: ParsedFrame) => void;
  readonly log: ClientLogFn;
  /** Called on every connection state change (the same as the 'state' event). */
  readonly onStateChange?: (change: StateChange) => void;
  /** Called when a server error makes retrying pointless (402, 405, 409, 410); also the 'fatal' event. */
  readonly onFatal?: (error: FeedError) => void;
  /** Where outages are recorded; normally GapLog.inDataDir(dataDir). Without one, gaps are only logged and emitted. */
  readonly gapRecorder?: GapRecorder;
  /** Wire encoding requested with the `Content-Type` handshake header. @default DEFAULT_ENCODING ('json') */
  readonly encoding?: FeedEncoding;
  /** Backoff ceiling of the first retry; it doubles per failed attempt. @default 250 */
  readonly initialBackoffMs?: number;
  /** Backoff ceiling cap. @default 30_000 */
  readonly maxBackoffMs?: number;
  /** Added to the backoff after 406 connection limit exceeded, to let the other connection's slot go. @default 15_000 */
  readonly connectionLimitDelayMs?: number;
  /** A connection subscribed this long counts as healthy: the next drop starts the backoff over. @default 30_000 */
  readonly stableConnectionMs?: number;
  /** How often to ping the server. @default 10_000 */
  readonly pingIntervalMs?: number;
  /** A ping unanswered this long means the connection is dead; it is cut and replaced. @default 5_000 */
  readonly pingTimeoutMs?: number;
  /**
   * While subscribed, no message at all for this long means the feed is stuck; reconnect. 0 turns it off.
   * @default 0 (off: stock feeds are legitimately silent outside market hours; set e.g. 60_000 for crypto or the simulator)
   */
  readonly dataSilenceMs?: number;
  /** From socket open to subscription confirmed, at most this long, or reconnect. @default 20_000 */
  readonly sessionSetupTimeoutMs?: number;
  /** WebSocket opening handshake timeout. @default 10_000 */
  readonly handshakeTimeoutMs?: number;
  /** Frames larger than this are dropped unread and counted as one 'oversized_frame' reject. @default 4 MiB */
  readonly maxFrameBytes?: number;
  /** ws maxPayload: a larger frame makes ws close the connection (1009); counted and reconnected. @default 16 MiB */
  readonly maxPayloadBytes?: number;
  /** At most one reject log line per reason per this interval, with the count suppressed since. @default 10_000 */
  readonly rejectLogIntervalMs?: number;
  /** How long a closing handshake may take before the socket is cut. @default 2_000 */
  readonly closeTimeoutMs?: number;
  /** Randomness for the backoff jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
}

export const CONNECTION_STATES = ['idle', 'connecting', 'authenticating', 'subscribing', 'subscribed', 'backoff', 'stopped', 'failed'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

export interface StateChange {
  readonly state: ConnectionState;
  readonly previous: ConnectionState;
  /** Why: the drop reason for 'backoff', the error for 'failed'. */
  readonly reason?: string;
  /** For 'backoff': the wait before the next attempt. */
  readonly delayMs?: number;
  /** For 'backoff': the number of this reconnect attempt since the last healthy connection. */
  readonly attempt?: number;
}

export interface AlpacaClientEvents {
  state: [StateChange];
  subscribed: [{ readonly first: boolean }];
  /** An outage, once data resumed (or at stop); `recorded` is the durable record when a gapRecorder is set. */
  gap: [GapInput, Gap | undefined];
  fatal: [FeedError];
}

export class FeedError extends Error {
  override readonly name = 'FeedError';
  /** The server error code that caused it, when there was one. */
  readonly code: number | undefined;

  constructor(message: string, options: { cause?: unknown; code?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

// ---- server error codes ---------------------------------------------------------------------------------------

/**
 * continue: log and keep the connection; reauthenticate: send the credentials again on the same connection;
 * ignore: nothing to do; reconnect: drop the connection and reconnect with backoff; reconnect_later: the same with
 * connectionLimitDelayMs added; fatal: stop for good, reject start(), emit 'fatal'.
 */
export type ServerErrorAction = 'continue' | 'reauthenticate' | 'ignore' | 'reconnect' | 'reconnect_later' | 'fatal';

export interface ServerErrorContext {
  readonly url: string;
  readonly subscription: Subscription;
  readonly connectionLimitDelayMs: number;
}

export interface ServerErrorRule {
  readonly action: ServerErrorAction;
  readonly level: LogLevel;
  /** What happened and what to do about it. */
  readonly explain: (context: ServerErrorContext) => string;
}

function describeSubscription(subscription: Subscription): string {
  const parts = STREAM_CHANNELS.flatMap((c) => {
    const n = subscription[c]?.length ?? 0;
    return n > 0 ? [`${c}: ${n}`] : [];
  });
  return parts.join(', ');
}

function uniqueSymbolCount(subscription: Subscription): number {
  return new Set(STREAM_CHANNELS.flatMap((c) => subscription[c] ?? [])).size;
}

/** What the client does for each Alpaca stream error code. */
export const SERVER_ERROR_RULES: Readonly<Record<number, ServerErrorRule>> = {
  400: { action: 'continue', level: 'warn', explain: () => 'invalid syntax: the server could not parse a request from this client; continuing (a client bug if it repeats)' },
  401: { action: 'reauthenticate', level: 'warn', explain: () => 'not authenticated: the server has no authentication for this connection; sending the credentials again' },
  402: {
    action: 'fatal', level: 'error',
    explain: () => 'authentication failed: the server rejected the key id and secret; check APCA_API_KEY_ID and APCA_API_SECRET_KEY (their values are never logged) and that they belong to this environment (live or paper); not retrying',
  },
  403: { action: 'ignore', level: 'info', explain: () => 'already authenticated: ignored' },
  404: { action: 'reconnect', level: 'warn', explain: () => 'authentication timeout: the server did not receive the credentials in time; reconnecting' },
  405: {
    action: 'fatal', level: 'error',
    explain: (c) => `symbol limit exceeded: the subscription names ${uniqueSymbolCount(c.subscription)} symbols (${describeSubscription(c.subscription)}), more than the account's plan allows on this feed (Alpaca's free plan: 30 symbols for trades and quotes); subscribe to fewer symbols or upgrade the plan; not retrying`,
  },
  406: {
    action: 'reconnect_later', level: 'warn',
    explain: (c) => `connection limit exceeded: another connection with this key already holds the account's connection slot for this feed (a second agent, another tool, or the previous connection not yet released); retrying after at least ${c.connectionLimitDelayMs} ms`,
  },
  407: {
    action: 'reconnect', level: 'warn',
    explain: () => 'slow client: the agent read too slowly and the server dropped it; the agent is too slow for this subscription (subscribe to fewer symbols or channels, or give it more CPU); reconnecting with backoff',
  },
  409: {
    action: 'fatal', level: 'error',
    explain: (c) => `insufficient subscription: the account's market data plan does not include the feed ${c.url} (e.g. sip without a paid plan); use the iex feed or upgrade the plan; not retrying`,
  },
  410: {
    action: 'fatal', level: 'error',
    explain: (c) => `invalid subscribe action for this feed: a channel in the subscription (${describeSubscription(c.subscription)}) does not exist on ${c.url} (e.g. statuses or lulds on the crypto feed); remove it; not retrying`,
  },
  500: { action: 'reconnect', level: 'warn', explain: () => 'internal error on the server; reconnecting with backoff' },
};

/** A code missing from the table: drop and reconnect, the safest generic response. */
export const UNKNOWN_SERVER_ERROR_RULE: ServerErrorRule = {
  action: 'reconnect', level: 'warn', explain: () => 'unknown server error code; reconnecting with backoff',
};

// ---- statistics and reject logging ----------------------------------------------------------------------------

export interface FeedClientStats {
  connects: number;
  disconnects: number;
  frames: number;
  /** Every message received: messages = controls + accepted + rejected. */
  messages: number;
  controls: number;
  accepted: number;
  rejected: number;
  readonly acceptedByKind: Record<FeedEventKind, number>;
  readonly rejectedByReason: Record<RejectReason, number>;
  /** Server error messages by code. */
  readonly serverErrors: Record<string, number>;
  pingTimeouts: number;
  silenceTimeouts: number;
  /** Connections ws closed with 1009 because a frame exceeded maxPayloadBytes. */
  oversizedCloses: number;
  gaps: number;
  /** Exceptions thrown by onFrame (logged; the stream goes on). */
  onFrameErrors: number;
}

function emptyStats(): FeedClientStats {
  return {
    connects: 0, disconnects: 0, frames: 0, messages: 0, controls: 0, accepted: 0, rejected: 0,
    acceptedByKind: { trade: 0, quote: 0, bar: 0, trade_event: 0, status: 0 },
    rejectedByReason: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
    serverErrors: {},
    pingTimeouts: 0, silenceTimeouts: 0, oversizedCloses: 0, gaps: 0, onFrameErrors: 0,
  };
}

/** Logs rejects at most once per reason per interval, with the number suppressed since the last line. */
export class RejectLogLimiter {
  private readonly perReason = new Map<RejectReason, { atMs: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly log: ClientLogFn,
    private readonly now: () => number = Date.now,
  ) {}

  note(reject: Reject): void {
    const t = this.now();
    const seen = this.perReason.get(reject.reason);
    if (seen !== undefined && t - seen.atMs < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.log('warn', 'feed message rejected', { reason: reject.reason, detail: reject.detail, suppressed: seen?.suppressed ?? 0 });
    this.perReason.set(reject.reason, { atMs: t, suppressed: 0 });
  }

  /** Logs the counts still suppressed (at stop). */
  flush(): void {
    for (const [reason, seen] of this.perReason) {
      if (seen.suppressed > 0) this.log('warn', 'feed messages rejected', { reason, suppressed: seen.suppressed });
      seen.suppressed = 0;
    }
  }
}

// ---- redaction ------------------------------------------------------------------------------------------------

/** Replaces every occurrence of the secrets in a string; values shorter than 4 characters are left alone. */
function makeRedactor(secrets: readonly string[]): (text: string) => string {
  const needles = secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  if (needles.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join('[redacted]');
    return out;
  };
}

function redactValue(value: unknown, redact: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 6 || typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) return redact(value.message);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redact, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v, redact, depth + 1)]));
}

// ---- the client -----------------------------------------------------------------------------------------------

interface CloseIntent {
  readonly reason: string;
  readonly backoff: 'normal' | 'connection_limit';
}

interface PendingGap {
  readonly fromNs: EpochNs;
  readonly symbols: readonly string[];
  readonly channels: readonly StreamChannel[];
  readonly reasons: string[];
}

function rawBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function positive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new FeedError(`feed client option ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`);
  }
  return value;
}

const MAX_SEEN_SYMBOLS = 20_000;
const MAX_REAUTHS_PER_CONNECTION = 3;
const NS_PER_MS = 1_000_000n;

export class AlpacaStreamClient extends EventEmitter<AlpacaClientEvents> implements FeedSource {
  readonly stats: FeedClientStats = emptyStats();
  private readonly redact: (text: string) => string;
  private readonly rejectLog: RejectLogLimiter;
  private readonly encoding: FeedEncoding;
  private readonly subscription: Subscription;
  private readonly channels: readonly StreamChannel[];
  private readonly explicitSymbols: readonly string[];
  private readonly wildcard: boolean;
  /** Which events bound a gap: ticks when subscribed to any; bars otherwise. */
  private readonly gapKinds: ReadonlySet<FeedEventKind>;
  private readonly o: Required<Omit<AlpacaClientOptions, 'onStateChange' | 'onFatal' | 'gapRecorder'>>;

  private socket: WebSocket | undefined;
  private current: ConnectionState = 'idle';
  private attempt = 0;
  private closeIntent: CloseIntent | undefined;
  private lastSocketError: string | undefined;
  private reauths = 0;
  private everSubscribed = false;
  private subscribedAtMs: number | undefined;
  private lastMessageAtMs = 0;
  private lastMessageWallNs: EpochNs | undefined;
  private lastEventNs: EpochNs | undefined;
  private pendingGap: PendingGap | undefined;
  private readonly seenSymbols = new Set<string>();
  private gapWrites: Promise<void> = Promise.resolve();
  private startWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;

  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pongTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private sessionTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: AlpacaClientOptions) {
    super();
    this.redact = makeRedactor([options.keyId, options.secretKey]);
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new FeedError(`feed client option url ${JSON.stringify(this.redact(options.url))} is not a URL`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new FeedError(`feed client option url ${JSON.stringify(this.redact(options.url))} must use ws:// or wss://`);
    }
    if (options.keyId.length === 0 || options.secretKey.length === 0) {
      throw new FeedError('feed client needs credentials: keyId and secretKey must be non-empty (APCA_API_KEY_ID / APCA_API_SECRET_KEY)');
    }
    const encoding = options.encoding ?? DEFAULT_ENCODING;
    if (!(FEED_ENCODINGS as readonly string[]).includes(encoding)) {
      throw new FeedError(`feed client option encoding must be one of ${FEED_ENCODINGS.join(', ')}, got ${JSON.stringify(encoding)}`);
    }
    this.encoding = encoding;
    this.o = {
      url: options.url,
      keyId: options.keyId,
      secretKey: options.secretKey,
      subscription: options.subscription,
      onFrame: options.onFrame,
      log: options.log,
      encoding,
      initialBackoffMs: positive('initialBackoffMs', options.initialBackoffMs ?? 250),
      maxBackoffMs: positive('maxBackoffMs', options.maxBackoffMs ?? 30_000),
      connectionLimitDelayMs: positive('connectionLimitDelayMs', options.connectionLimitDelayMs ?? 15_000, true),
      stableConnectionMs: positive('stableConnectionMs', options.stableConnectionMs ?? 30_000, true),
      pingIntervalMs: positive('pingIntervalMs', options.pingIntervalMs ?? 10_000),
      pingTimeoutMs: positive('pingTimeoutMs', options.pingTimeoutMs ?? 5_000),
      dataSilenceMs: positive('dataSilenceMs', options.dataSilenceMs ?? 0, true),
      sessionSetupTimeoutMs: positive('sessionSetupTimeoutMs', options.sessionSetupTimeoutMs ?? 20_000),
      handshakeTimeoutMs: positive('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 10_000),
      maxFrameBytes: positive('maxFrameBytes', options.maxFrameBytes ?? 4 * 1024 * 1024),
      maxPayloadBytes: positive('maxPayloadBytes', options.maxPayloadBytes ?? 16 * 1024 * 1024),
      rejectLogIntervalMs: positive('rejectLogIntervalMs', options.rejectLogIntervalMs ?? 10_000, true),
      closeTimeoutMs: positive('closeTimeoutMs', options.closeTimeoutMs ?? 2_000),
      random: options.random ?? Math.random,
    };

    const subscription: Record<string, readonly string[]> = {};
    for (const [channel, symbols] of Object.entries(options.subscription)) {
      if (!(STREAM_CHANNELS as readonly string[]).includes(channel)) {
        throw new FeedError(`feed subscription names unknown channel ${JSON.stringify(channel)}: expected ${STREAM_CHANNELS.join(', ')}`);
      }
      if (symbols === undefined || symbols.length === 0) continue;
      for (const symbol of symbols) {
        const problem = symbol === '*' ? undefined : symbolProblem(symbol);
        if (problem !== undefined) throw new FeedError(`feed subscription ${channel}: invalid symbol ${JSON.stringify(symbol.slice(0, 40))}: ${problem}`);
      }
      subscription[channel] = [...new Set(symbols)];
    }
    this.subscription = subscription;
    this.channels = STREAM_CHANNELS.filter((c) => (subscription[c]?.length ?? 0) > 0);
    if (this.channels.length === 0) throw new FeedError('feed subscription is empty: name at least one symbol in one channel');
    const all = this.channels.flatMap((c) => subscription[c] ?? []);
    this.wildcard = all.includes('*');
    this.explicitSymbols = [...new Set(all.filter((s) => s !== '*'))];
    const ticks = this.channels.some((c) => c === 'trades' || c === 'quotes');
    this.gapKinds = new Set<FeedEventKind>(ticks ? ['trade', 'quote', 'trade_event'] : ['bar']);
    this.rejectLog = new RejectLogLimiter(this.o.rejectLogIntervalMs, (level, msg, fields) => this.log(level, msg, fields));
  }

  /** Whether the client is subscribed and data can flow. */
  get connected(): boolean {
    return this.current === 'subscribed';
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Connects; resolves once subscribed for the first time, rejects on a fatal error (e.g. 402 bad credentials). */
  start(): Promise<void> {
    if (this.startPromise !== undefined) return this.startPromise;
    if (this.current === 'stopped') return Promise.reject(new FeedError(`feed ${this.redact(this.o.url)}: start() after stop()`));
    this.startPromise = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.connect();
    return this.startPromise;
  }

  /** Closes the connection and stops reconnecting; no frame is delivered after the returned promise resolves. */
  stop(): Promise<void> {
    this.stopPromise ??= this.stopNow();
    return this.stopPromise;
  }

  private async stopNow(): Promise<void> {
    const wasFailed = this.current === 'failed';
    if (!wasFailed) this.setState('stopped', { reason: 'stop requested' });
    this.clearConnectionTimers();
    clearTimeout(this.reconnectTimer);
    this.settleStart(new FeedError(`feed ${this.redact(this.o.url)}: stopped before the first subscription`));
    const socket = this.socket;
    if (socket !== undefined) await this.closeSocket(socket, 1000, 'agent stopping');
    this.flushPendingGap('the agent stopped before data resumed');
    await this.gapWrites;
    this.rejectLog.flush();
  }

  // ---- connection lifecycle ----

  private connect(): void {
    if (this.current === 'stopped' || this.current === 'failed') return;
    if (this.socket !== undefined) throw new FeedError('internal: connect() while a socket is open'); // one connection per account
    this.setState('connecting');
    this.closeIntent = undefined;
    this.lastSocketError = undefined;
    this.reauths = 0;
    const socket = new WebSocket(this.o.url, {
      handshakeTimeout: this.o.handshakeTimeoutMs,
      maxPayload: this.o.maxPayloadBytes,
      // ws offers permessage-deflate unless told not to; a server that took it would make the agent inflate every
      // frame, CPU the ingest path needs more than the bytes saved (the trade DEFAULT_ENCODING makes too). UTF-8
      // validation stays on: Node's native check costs little, and only valid text reaches the log.
      perMessageDeflate: false,
      headers: this.encoding === 'msgpack' ? { 'Content-Type': 'application/msgpack' } : {},
    });
    this.socket = socket;
    socket.on('open', () => this.onOpen(socket));
    socket.on('message', (data, isBinary) => this.onMessage(socket, data, isBinary));
    socket.on('pong', () => {
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
    });
    socket.on('error', (e: Error & { code?: string }) => {
      this.lastSocketError = e.message;
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.onOversizedPayload(socket);
    });
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString('utf8')));
  }

  private onOpen(socket: WebSocket): void {
    if (socket !== this.socket) return;
    this.stats.connects++;
    this.setState('authenticating');
    this.lastMessageAtMs = Date.now();
    this.pingTimer = setInterval(() => this.ping(socket), this.o.pingIntervalMs);
    this.sessionTimer = setTimeout(() => {
      if (this.current !== 'subscribed') this.drop(socket, `no subscription confirmed within ${this.o.sessionSetupTimeoutMs} ms of connecting`, 'normal', true);
    }, this.o.sessionSetupTimeoutMs);
    if (this.o.dataSilenceMs > 0) {
      const every = Math.max(20, Math.min(1000, this.o.dataSilenceMs / 4));
      this.silenceTimer = setInterval(() => {
        if (this.current !== 'subscribed' || Date.now() - this.lastMessageAtMs <= this.o.dataSilenceMs) return;
        this.stats.silenceTimeouts++;
        this.drop(socket, `no message for ${this.o.dataSilenceMs} ms while subscribed (feed silent)`, 'normal', true);
      }, every);
    }
  }

  private ping(socket: WebSocket): void {
    if (socket !== this.socket || this.pongTimer !== undefined || socket.readyState !== WebSocket.OPEN) return;
    socket.ping();
    this.pongTimer = setTimeout(() => {
      this.pongTimer = undefined;
      this.stats.pingTimeouts++;
      this.drop(socket, `no pong within ${this.o.pingTimeoutMs} ms of a ping (connection silent)`, 'normal', true);
    }, this.o.pingTimeoutMs);
  }

  /** Decides to close `socket` and reconnect; the reconnect is scheduled once it has closed. */
  private drop(socket: WebSocket, reason: string, backoff: CloseIntent['backoff'] = 'normal', cut = false): void {
    if (socket !== this.socket || this.closeIntent !== undefined) return;
    this.closeIntent = { reason, backoff };
    this.clearConnectionTimers();
    if (cut) socket.terminate();
    else void this.closeSocket(socket, 1000, 'reconnecting');
  }

  /** Closes with a handshake, cutting the socket if the handshake does not finish in closeTimeoutMs. */
  private closeSocket(socket: WebSocket, code: number, reason: string): Promise<void> {
    if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      clearTimeout(this.closeTimer);
      this.closeTimer = setTimeout(() => socket.terminate(), this.o.closeTimeoutMs);
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(code, reason);
    });
  }

  private onOversizedPayload(socket: WebSocket): void {
    this.stats.oversizedCloses++;
    const detail = `frame over maxPayloadBytes ${this.o.maxPayloadBytes}: the connection was closed (1009)`;
    this.deliver(rejectedFrame('oversized_frame', detail));
    if (socket !== this.socket || this.closeIntent !== undefined) return;
    // ws has started the closing handshake itself; make sure a peer that never answers cannot hold us.
    this.closeIntent = { reason: `a frame exceeded maxPayloadBytes ${this.o.maxPayloadBytes} (ws closed the connection with 1009)`, backoff: 'normal' };
    this.clearConnectionTimers();
    clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => socket.terminate(), this.o.closeTimeoutMs);
  }

  private onClose(socket: WebSocket, code: number, reasonText: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.clearConnectionTimers();
    clearTimeout(this.closeTimer);
    const opened = this.current !== 'connecting';
    if (opened) this.stats.disconnects++;
    const wasSubscribed = this.current === 'subscribed';
    const intent = this.closeIntent;
    this.closeIntent = undefined;
    if (this.current === 'stopped' || this.current === 'failed') return;

    const reason =
      intent?.reason ??
      `connection closed (code ${code}${reasonText === '' ? '' : ` ${reasonText}`}${this.lastSocketError === undefined ? '' : `: ${this.lastSocketError}`})`;
    if (wasSubscribed) {
      if (this.pendingGap === undefined) {
        const fromNs = this.lastEventNs ?? this.lastMessageWallNs ?? BigInt(Date.now()) * NS_PER_MS;
        this.pendingGap = { fromNs, symbols: this.gapSymbols(), channels: this.channels, reasons: [reason] };
      } else if (this.pendingGap.reasons.length < 5) {
        this.pendingGap.reasons.push(reason);
      }
      if (this.subscribedAtMs !== undefined && Date.now() - this.subscribedAtMs >= this.o.stableConnectionMs) this.attempt = 0;
    }
    this.subscribedAtMs = undefined;
    this.scheduleReconnect(reason, intent?.backoff ?? 'normal');
  }

  private scheduleReconnect(reason: string, backoff: CloseIntent['backoff']): void {
    const ceiling = Math.min(this.o.maxBackoffMs, this.o.initialBackoffMs * 2 ** Math.min(this.attempt, 30));
    // Full jitter: anywhere in [0, ceiling), so a fleet dropped at once does not come back at once.
    let delayMs = Math.round(this.o.random() * ceiling);
    if (backoff === 'connection_limit') delayMs += this.o.connectionLimitDelayMs;
    this.attempt++;
    this.log('warn', 'feed connection lost; reconnecting', { url: this.o.url, reason, attempt: this.attempt, delayMs });
    this.setState('backoff', { reason, delayMs, attempt: this.attempt });
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private clearConnectionTimers(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearInterval(this.silenceTimer);
    clearTimeout(this.sessionTimer);
    this.pingTimer = this.pongTimer = this.silenceTimer = this.sessionTimer = undefined;
  }

  // ---- messages ----

  private onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void {
    if (socket !== this.socket) return;
    const bytes = rawBytes(data);
    this.lastMessageAtMs = Date.now();
    let frame: ParsedFrame;
    if (bytes.length > this.o.maxFrameBytes) {
      frame = rejectedFrame('oversized_frame', `frame of ${bytes.length} bytes over maxFrameBytes ${this.o.maxFrameBytes}`);
    } else {
      // Be liberal: decode by the frame's own type, whatever encoding was asked for.
      frame = isBinary ? parseMsgpackFrame(bytes) : parseJsonFrame(bytes.toString('utf8'));
    }
    this.stats.frames++;
    this.stats.controls += frame.controls.length;
    for (const control of frame.controls) {
      this.onControl(socket, control);
    }
    this.deliver(frame);
  }

  /** Counts, tracks gap bounds, logs rejects, and hands a frame with data or rejects to onFrame. */
  private deliver(frame: ParsedFrame): void {
    this.stats.messages += frame.messageCount;
    if (frame.events.length === 0 && frame.rejects.length === 0) return;
    this.lastMessageWallNs = BigInt(Date.now()) * NS_PER_MS;
    let minNs: EpochNs | undefined;
    let maxNs: EpochNs | undefined;
    const byKind = this.stats.acceptedByKind;
    for (const event of frame.events) {
      byKind[event.kind]++;
      if (!this.gapKinds.has(event.kind) || event.kind === 'status') continue;
      const ts = event.row.ts;
      if (minNs === undefined || ts < minNs) minNs = ts;
      if (maxNs === undefined || ts > maxNs) maxNs = ts;
      if (this.wildcard && this.seenSymbols.size < MAX_SEEN_SYMBOLS) this.seenSymbols.add(event.row.symbol);
    }
    this.stats.accepted += frame.events.length;
    if (maxNs !== undefined && (this.lastEventNs === undefined || maxNs > this.lastEventNs)) this.lastEventNs = maxNs;
    if (minNs !== undefined && this.pendingGap !== undefined && this.current === 'subscribed') this.closeGap(minNs);

    let rejects = frame.rejects;
    if (rejects.length > 0) {
      // A hostile server could echo the credentials inside a message; the details must not carry them on.
      rejects = rejects.map((r) => {
        const detail = this.redact(r.detail);
        return detail === r.detail ? r : { reason: r.reason, detail };
      });
      for (const r of rejects) {
        this.stats.rejectedByReason[r.reason]++;
        this.rejectLog.note(r);
      }
      this.stats.rejected += rejects.length;
      frame = { ...frame, rejects };
    }
    try {
      this.o.onFrame(frame);
    } catch (e) {
      this.stats.onFrameErrors++;
      this.log('error', 'feed frame handler failed; continuing', { url: this.o.url, error: e instanceof Error ? e.message : String(e) });
    }
  }

  private onControl(socket: WebSocket, control: ControlMessage): void {
    if (control.T === 'success' && control.msg === 'connected') {
      this.sendAuth(socket);
    } else if (control.T === 'success' && control.msg === 'authenticated') {
      this.setState('subscribing');
      const request: Record<string, unknown> = { action: 'subscribe' };
      for (const c of this.channels) request[c] = this.subscription[c];
      this.send(socket, request);
    } else if (control.T === 'subscription') {
      // Only the reply to our own subscribe request; a repeat while subscribed changes nothing here.
      if (this.current !== 'subscribing') return;
      const first = !this.everSubscribed;
      this.everSubscribed = true;
      this.subscribedAtMs = Date.now();
      this.lastMessageAtMs = Date.now();
      this.reauths = 0;
      clearTimeout(this.sessionTimer);
      this.sessionTimer = undefined;
      const confirmed = Object.fromEntries(
        STREAM_CHANNELS.flatMap((c) => {
          const list = control.channels[c];
          return Array.isArray(list) && list.length > 0 ? [[c, list.length > 20 ? `${list.length} symbols` : list]] : [];
        }),
      );
      this.log('info', 'feed subscribed', { url: this.o.url, encoding: this.encoding, channels: confirmed, resubscribed: !first });
      this.setState('subscribed');
      this.emit('subscribed', { first });
      this.settleStart();
    } else if (control.T === 'error') {
      this.onServerError(socket, control.code, control.msg);
    }
  }

  private onServerError(socket: WebSocket, code: number, serverMsg: string): void {
    const key = Number.isFinite(code) ? String(code) : 'invalid';
    this.stats.serverErrors[key] = (this.stats.serverErrors[key] ?? 0) + 1;
    const rule = SERVER_ERROR_RULES[code] ?? UNKNOWN_SERVER_ERROR_RULE;
    const context: ServerErrorContext = { url: this.o.url, subscription: this.subscription, connectionLimitDelayMs: this.o.connectionLimitDelayMs };
    const shownMsg = JSON.stringify(serverMsg.length > 200 ? `${serverMsg.slice(0, 200)}…` : serverMsg);
    const message = `feed ${this.o.url}: server error ${key} ${shownMsg}: ${rule.explain(context)}`;
    switch (rule.action) {
      case 'continue':
      case 'ignore':
        this.log(rule.level, message, { code });
        return;
      case 'reauthenticate':
        if (this.reauths < MAX_REAUTHS_PER_CONNECTION) {
          this.reauths++;
          this.log(rule.level, message, { code, reauthentication: this.reauths });
          this.sendAuth(socket);
        } else {
          this.log('warn', message, { code });
          this.drop(socket, `server error ${key}: still not authenticated after ${MAX_REAUTHS_PER_CONNECTION} attempts`);
        }
        return;
      case 'reconnect':
        this.log(rule.level, message, { code });
        this.drop(socket, `server error ${key} ${shownMsg}`);
        return;
      case 'reconnect_later':
        this.log(rule.level, message, { code });
        this.drop(socket, `server error ${key} ${shownMsg}`, 'connection_limit');
        return;
      case 'fatal':
        this.fail(new FeedError(this.redact(message), { code }));
        return;
    }
  }

  private fail(error: FeedError): void {
    if (this.current === 'stopped' || this.current === 'failed') return;
    this.log('error', error.message, { code: error.code });
    this.setState('failed', { reason: error.message });
    this.clearConnectionTimers();
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    if (socket !== undefined) void this.closeSocket(socket, 1000, 'fatal error');
    this.flushPendingGap(`the feed failed before data resumed: ${error.message}`);
    this.settleStart(error);
    this.emit('fatal', error);
    this.options.onFatal?.(error);
  }

  private sendAuth(socket: WebSocket): void {
    this.send(socket, { action: 'auth', key: this.o.keyId, secret: this.o.secretKey });
  }

  private send(socket: WebSocket, request: Record<string, unknown>): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (this.encoding === 'msgpack') socket.send(encodeMsgpack(request), { binary: true });
    else socket.send(JSON.stringify(request));
  }

  // ---- gaps ----

  private gapSymbols(): string[] {
    if (!this.wildcard) return [...this.explicitSymbols];
    return [...new Set([...this.explicitSymbols, ...this.seenSymbols])].sort();
  }

  private closeGap(toNs: EpochNs): void {
    const pending = this.pendingGap;
    if (pending === undefined) return;
    this.pendingGap = undefined;
    this.recordGap({
      fromNs: pending.fromNs,
      toNs: toNs < pending.fromNs ? pending.fromNs : toNs,
      symbols: pending.symbols,
      channels: pending.channels,
      reason: pending.reasons.join('; '),
    });
  }

  /** At stop or failure with an outage still open: record it up to now (wall clock) so backfill can fill it. */
  private flushPendingGap(why: string): void {
    const pending = this.pendingGap;
    if (pending === undefined) return;
    pending.reasons.push(why);
    this.closeGap(BigInt(Date.now()) * NS_PER_MS);
  }

  private recordGap(gap: GapInput): void {
    this.stats.gaps++;
    const recorder = this.options.gapRecorder;
    this.gapWrites = this.gapWrites.then(async () => {
      let recorded: Gap | undefined;
      if (recorder !== undefined) {
        try {
          recorded = await recorder.record(gap);
        } catch (e) {
          this.log('error', 'feed gap could not be recorded; backfill will not know of it', { error: e instanceof Error ? e.message : String(e) });
        }
      }
      this.log('warn', 'feed gap', {
        id: recorded?.id,
        fromNs: gap.fromNs.toString(),
        toNs: gap.toNs.toString(),
        seconds: Number(gap.toNs - gap.fromNs) / 1e9,
        symbols: gap.symbols.length > 20 ? `${gap.symbols.length} symbols` : gap.symbols,
        channels: gap.channels,
        reason: gap.reason,
        durable: recorded !== undefined,
      });
      this.emit('gap', gap, recorded);
    });
  }

  // ---- plumbing ----

  private settleStart(error?: Error): void {
    const waiter = this.startWaiter;
    if (waiter === undefined) return;
    this.startWaiter = undefined;
    if (error === undefined) waiter.resolve();
    else waiter.reject(error);
  }

  private setState(state: ConnectionState, details: { reason?: string; delayMs?: number; attempt?: number } = {}): void {
    if (state === this.current) return;
    const change: StateChange = {
      state,
      previous: this.current,
      ...(details.reason !== undefined && { reason: this.redact(details.reason) }),
      ...(details.delayMs !== undefined && { delayMs: details.delayMs }),
      ...(details.attempt !== undefined && { attempt: details.attempt }),
    };
    this.current = state;
    this.emit('state', change);
    try {
      this.options.onStateChange?.(change);
    } catch (e) {
      this.log('error', 'feed state listener failed', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Every log line goes through here: the key id and secret never leave the process in a log. */
  private log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    this.o.log(level, this.redact(msg), fields === undefined ? undefined : (redactValue(fields, this.redact) as Record<string, unknown>));
  }
}
