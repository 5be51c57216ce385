/**
 * One client's side of the Alpaca stream protocol, without any socket: authentication state, subscriptions, and the
 * control replies to each request. The server feeds it decoded client frames and asks it which data to forward.
 */
import {
  type AlpacaControlMessage,
  type AlpacaDataMessage,
  type AlpacaError,
  type AlpacaSubscription,
  CHANNELS,
  CHANNEL_OF_TYPE,
  type Channel,
  STREAM_ERRORS,
} from './alpaca-messages.ts';

/** Decides a login: undefined to accept, or the error to send (402 auth failed, 406 connection limit exceeded). */
export type Authenticator = (key: string, secret: string) => AlpacaError | undefined;

export interface SessionReply {
  readonly messages: readonly AlpacaControlMessage[];
  /** Whether the server should close the connection after sending the messages. */
  readonly close: boolean;
}

const reply = (message: AlpacaControlMessage, close = false): SessionReply => ({ messages: [message], close });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSymbolList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((s) => typeof s === 'string' && s.length > 0);
}

export class StreamSession {
  private authenticatedKey: string | undefined;
  private readonly subscriptions = new Map<Channel, Set<string>>(CHANNELS.map((c) => [c, new Set<string>()]));

  constructor(private readonly authenticator: Authenticator) {}

  get authenticated(): boolean {
    return this.authenticatedKey !== undefined;
  }

  /** The key this session logged in with. */
  get key(): string | undefined {
    return this.authenticatedKey;
  }

  /** Handles one decoded client request (`undefined` stands for a frame that did not decode). */
  handle(request: unknown): SessionReply {
    if (!isRecord(request) || typeof request['action'] !== 'string') return reply(STREAM_ERRORS.invalidSyntax);
    switch (request['action']) {
      case 'auth':
        return this.login(request['key'], request['secret']);
      case 'subscribe':
      case 'unsubscribe':
        return this.changeSubscriptions(request, request['action']);
      default:
        return reply(STREAM_ERRORS.invalidSyntax);
    }
  }

  /** Logs in with credentials that came another way (the APCA-API-KEY-ID and APCA-API-SECRET-KEY headers). */
  login(key: unknown, secret: unknown): SessionReply {
    if (this.authenticated) return reply(STREAM_ERRORS.alreadyAuthenticated);
    if (typeof key !== 'string' || typeof secret !== 'string') return reply(STREAM_ERRORS.invalidSyntax);
    const error = this.authenticator(key, secret);
    if (error !== undefined) return reply(error, error.code === STREAM_ERRORS.connectionLimitExceeded.code);
    this.authenticatedKey = key;
    return reply({ T: 'success', msg: 'authenticated' });
  }

  private changeSubscriptions(request: Record<string, unknown>, action: 'subscribe' | 'unsubscribe'): SessionReply {
    if (!this.authenticated) return reply(STREAM_ERRORS.notAuthenticated);
    const changes: [Channel, string[]][] = [];
    for (const channel of CHANNELS) {
      const symbols = request[channel];
      if (symbols === undefined) continue;
      if (!isSymbolList(symbols)) return reply(STREAM_ERRORS.invalidSyntax);
      changes.push([channel, symbols]);
    }
    for (const [channel, symbols] of changes) {
      const current = this.subscriptions.get(channel);
      for (const symbol of symbols) {
        if (action === 'subscribe') current?.add(symbol);
        else current?.delete(symbol);
      }
    }
    return reply(this.subscription());
  }

  /** The current subscriptions in the shape of Alpaca's `T:"subscription"` reply. */
  subscription(): AlpacaSubscription {
    const list = (channel: Channel): string[] => [...(this.subscriptions.get(channel) ?? [])];
    const trades = list('trades');
    return {
      T: 'subscription',
      trades,
      quotes: list('quotes'),
      bars: list('bars'),
      updatedBars: list('updatedBars'),
      dailyBars: list('dailyBars'),
      statuses: list('statuses'),
      lulds: list('lulds'),
      corrections: trades,
      cancelErrors: trades,
    };
  }

  /** Whether this client is subscribed to anything at all. */
  subscribedToAny(): boolean {
    for (const symbols of this.subscriptions.values()) if (symbols.size > 0) return true;
    return false;
  }

  /** Whether this client subscribed to `message` (its channel, for its symbol or '*'). */
  wants(message: AlpacaDataMessage): boolean {
    const symbols = this.subscriptions.get(CHANNEL_OF_TYPE[message.T]);
    return symbols !== undefined && symbols.size > 0 && (symbols.has(message.S) || symbols.has('*'));
  }
}
