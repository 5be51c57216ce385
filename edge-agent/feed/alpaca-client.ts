/**
 * Alpaca market data v2 stream client: connect, authenticate, subscribe, hand every frame to the agent, and
 * reconnect with exponential backoff and jitter when the connection drops or goes silent.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { type ControlMessage, type ParsedFrame, parseJsonFrame } from './alpaca-messages.ts';

export interface Subscription {
  readonly trades: readonly string[];
  readonly quotes: readonly string[];
  readonly bars: readonly string[];
}

export interface AlpacaClientOptions {
  readonly url: string;
  readonly keyId: string;
  readonly secretKey: string;
  readonly subscription: Subscription;
  /** Called for every frame after authentication, in arrival order. */
  readonly onFrame: (frame: ParsedFrame) => void;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A connection with no pong for this long is considered dead and replaced. */
  readonly pingTimeoutMs?: number;
}

export class FeedError extends Error {
  override readonly name = 'FeedError';
}

/** Server error codes after which retrying cannot help. */
const FATAL_CODES = new Set([402, 405, 409, 410]);

type State = 'idle' | 'connecting' | 'authenticating' | 'subscribed' | 'stopped';

export class AlpacaStreamClient extends EventEmitter {
  private socket: WebSocket | undefined;
  private state: State = 'idle';
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  readonly stats = { connects: 0, disconnects: 0, frames: 0 };

  constructor(private readonly options: AlpacaClientOptions) {
    super();
  }

  get connected(): boolean {
    return this.state === 'subscribed';
  }

  /** Connects; resolves once subscribed for the first time, rejects on a fatal error (bad credentials). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onSubscribed = (): void => { this.off('fatal', onFatal); resolve(); };
      const onFatal = (e: Error): void => { this.off('subscribed', onSubscribed); reject(e); };
      this.once('subscribed', onSubscribed);
      this.once('fatal', onFatal);
      this.connect();
    });
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    if (socket === undefined || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.close(1000, 'agent stopping');
      setTimeout(() => { socket.terminate(); resolve(); }, 2000).unref();
    });
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    // One connection per account and feed: the old socket is gone before a new one opens.
    const socket = new WebSocket(this.options.url, { handshakeTimeout: 10_000, maxPayload: 16 * 1024 * 1024 });
    this.socket = socket;
    socket.on('open', () => {
      this.stats.connects++;
      this.state = 'authenticating';
      this.startPing(socket);
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return; // JSON encoding requested; binary frames are not expected here.
      const frame = parseJsonFrame(data.toString());
      for (const control of frame.controls) this.onControl(socket, control);
      if (this.state === 'subscribed' || frame.events.length > 0 || frame.rejects.length > 0) {
        this.stats.frames++;
        this.options.onFrame(frame);
      }
    });
    socket.on('pong', () => { this.awaitingPong = false; });
    socket.on('error', (e) => this.options.log('warn', 'feed socket error', { url: this.options.url, error: e.message }));
    socket.on('close', (code) => {
      clearInterval(this.pingTimer);
      if (this.socket !== socket) return;
      const wasUp = this.state === 'subscribed';
      if (this.state === 'stopped') return;
      this.stats.disconnects++;
      this.emit('disconnected', { code, wasUp });
      this.scheduleReconnect(`connection closed (code ${code})`);
    });
  }

  private onControl(socket: WebSocket, control: ControlMessage): void {
    if (control.T === 'success' && control.msg === 'connected') {
      socket.send(JSON.stringify({ action: 'auth', key: this.options.keyId, secret: this.options.secretKey }));
    } else if (control.T === 'success' && control.msg === 'authenticated') {
      const s = this.options.subscription;
      socket.send(JSON.stringify({ action: 'subscribe', trades: s.trades, quotes: s.quotes, bars: s.bars }));
    } else if (control.T === 'subscription') {
      const first = this.attempt === 0 && this.stats.connects === 1;
      this.state = 'subscribed';
      this.attempt = 0;
      this.options.log('info', 'feed subscribed', { url: this.options.url, channels: control.channels });
      this.emit('subscribed', { first });
    } else if (control.T === 'error') {
      const message = `feed error ${control.code}: ${control.msg}`;
      if (FATAL_CODES.has(control.code)) {
        this.options.log('error', `${message}; not retrying`, { url: this.options.url });
        this.state = 'stopped';
        socket.close();
        this.emit('fatal', new FeedError(`${this.options.url}: ${message}`));
      } else {
        this.options.log('warn', message, { url: this.options.url });
      }
    }
  }

  private startPing(socket: WebSocket): void {
    const timeoutMs = this.options.pingTimeoutMs ?? 15_000;
    this.awaitingPong = false;
    this.pingTimer = setInterval(() => {
      if (this.awaitingPong) {
        this.options.log('warn', 'feed silent: no pong, reconnecting', { url: this.options.url, timeoutMs });
        socket.terminate();
        return;
      }
      this.awaitingPong = true;
      socket.ping();
    }, timeoutMs);
    this.pingTimer.unref();
  }

  private scheduleReconnect(why: string): void {
    const base = this.options.initialBackoffMs ?? 250;
    const max = this.options.maxBackoffMs ?? 30_000;
    const ceiling = Math.min(max, base * 2 ** this.attempt);
    const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2)); // jitter: spread reconnect storms
    this.attempt++;
    this.options.log('warn', `feed ${why}; reconnecting`, { url: this.options.url, attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }
}
