/**
 * Faults the simulator can inject into what it sends, to exercise the agent's failure paths. Each is off by default,
 * decided per client with a PRNG seeded from the simulator's seed (the same message sequence gets the same faults),
 * and counted by kind, so a test can assert that the agent rejected exactly what was injected and kept every valid
 * message.
 *
 * Malformed messages are sent in addition to the valid stream, never instead of a valid message, and cycle through
 * MALFORMED_KINDS. Each kind is built so the agent's parser (edge-agent/feed/alpaca-messages.ts) rejects it with one
 * known reason, REJECT_REASON_OF_FAULT.
 */
import type { AlpacaDataMessage } from './alpaca-messages.ts';
import { Prng } from './prng.ts';

export interface FaultOptions {
  /** Drop every client connection this often, without a closing handshake (the client sees 1006). @default off */
  readonly disconnectEveryMs?: number;
  /** Drop a connection once it has been sent this many data messages (every new connection counts afresh). @default off */
  readonly disconnectAfterMessages?: number;
  /** Share of data messages followed by a malformed one (kinds in turn: MALFORMED_KINDS). @default 0 */
  readonly malformedFrameRate?: number;
  /** Share of data messages followed by a resend of one of the client's last 32 messages. @default 0 */
  readonly duplicateRate?: number;
  /**
   * Share of data messages held back and sent right after the next message with a later timestamp, so it arrives with
   * a timestamp earlier than the one before it. @default 0
   */
  readonly outOfOrderRate?: number;
  /** Answer every login with 402 auth failed. @default false */
  readonly authFailure?: boolean;
  /** Send 407 slow client and close once a connection has been sent this many data messages. @default off */
  readonly slowClientAfterMessages?: number;
}

/** Malformed message kinds, in the order they are injected. */
export const MALFORMED_KINDS = ['malformed_json', 'wrong_type', 'bad_price', 'bad_size', 'unknown_type', 'bad_symbol'] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

/** Every fault the simulator counts, as named in stats().faults. */
export const FAULT_KINDS = [...MALFORMED_KINDS, 'duplicate', 'out_of_order', 'disconnect', 'auth_failure', 'slow_client'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultCounts = Record<FaultKind, number>;

/**
 * The reject reason the agent's parser gives each malformed kind:
 *   malformed_json  a frame of its own cut in half ('[{"T":"t","S":"AA'), or for msgpack a byte that is never valid
 *   wrong_type      `t` sent as a number
 *   bad_price       the price (quote: bid) negative; NaN for msgpack clients (JSON cannot carry NaN)
 *   bad_size        the size (quote: bid size) negative (-1 for a quote without sizes)
 *   unknown_type    T:"zz"
 *   bad_symbol      S:"../x"
 */
export const REJECT_REASON_OF_FAULT = {
  malformed_json: 'malformed_frame',
  wrong_type: 'wrong_type',
  bad_price: 'bad_price',
  bad_size: 'bad_size',
  unknown_type: 'unknown_type',
  bad_symbol: 'bad_symbol',
} as const satisfies Record<MalformedKind, string>;

export class FaultOptionsError extends Error {
  override readonly name = 'FaultOptionsError';
}

export function emptyFaultCounts(): FaultCounts {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as FaultCounts;
}

/** Checks every fault option, naming the bad one. */
export function checkFaultOptions(options: FaultOptions): FaultOptions {
  for (const key of ['malformedFrameRate', 'duplicateRate', 'outOfOrderRate'] as const) {
    const rate = options[key];
    if (rate !== undefined && !(rate >= 0 && rate <= 1)) {
      throw new FaultOptionsError(`simulator option faults.${key} must be within [0, 1], got ${rate}`);
    }
  }
  for (const key of ['disconnectEveryMs', 'disconnectAfterMessages', 'slowClientAfterMessages'] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new FaultOptionsError(`simulator option faults.${key} must be a positive integer, got ${value}`);
    }
  }
  return options;
}

/** One thing to send to a client, in order. */
export type FaultEntry =
  /** A data message: a valid one (fault undefined), a late one (out_of_order) or a resend (duplicate). */
  | { readonly type: 'message'; readonly message: AlpacaDataMessage; readonly fault: 'duplicate' | 'out_of_order' | undefined }
  /** A malformed message, sent in a frame with the others. */
  | { readonly type: 'malformed'; readonly kind: Exclude<MalformedKind, 'malformed_json'>; readonly message: Readonly<Record<string, unknown>> }
  /** A frame of its own that does not decode, made from `message`. */
  | { readonly type: 'broken'; readonly message: AlpacaDataMessage };

const RECENT = 32;

/** Fault decisions for one client connection. */
export class ClientFaults {
  private readonly prng: Prng;
  private readonly recent: AlpacaDataMessage[] = [];
  private recentNext = 0;
  private held: AlpacaDataMessage | undefined;
  private nextMalformed = 0;
  private readonly malformedRate: number;
  private readonly duplicateRate: number;
  private readonly outOfOrderRate: number;

  constructor(
    options: FaultOptions,
    seed: number,
    private readonly msgpack: boolean,
  ) {
    this.prng = new Prng(seed);
    this.malformedRate = options.malformedFrameRate ?? 0;
    this.duplicateRate = options.duplicateRate ?? 0;
    this.outOfOrderRate = options.outOfOrderRate ?? 0;
  }

  /** Whether any per-message fault is on; when not, the server skips this class entirely. */
  static active(options: FaultOptions): boolean {
    return (options.malformedFrameRate ?? 0) > 0 || (options.duplicateRate ?? 0) > 0 || (options.outOfOrderRate ?? 0) > 0;
  }

  /** Puts one valid message through the faults, calling `emit` for everything to send in its place, in order. */
  process(message: AlpacaDataMessage, emit: (entry: FaultEntry) => void): void {
    const held = this.held;
    if (held !== undefined && message.t > held.t) {
      // Same-format RFC 3339 stamps compare as strings; the held message now goes out after a later one.
      emit({ type: 'message', message, fault: undefined });
      emit({ type: 'message', message: held, fault: 'out_of_order' });
      this.held = undefined;
    } else if (held === undefined && this.outOfOrderRate > 0 && this.prng.chance(this.outOfOrderRate)) {
      this.held = message;
      return;
    } else {
      emit({ type: 'message', message, fault: undefined });
    }
    if (this.duplicateRate > 0 && this.recent.length > 0 && this.prng.chance(this.duplicateRate)) {
      emit({ type: 'message', message: this.recent[this.prng.int(this.recent.length)] ?? message, fault: 'duplicate' });
    }
    this.remember(message);
    if (this.malformedRate > 0 && this.prng.chance(this.malformedRate)) {
      const entry = this.malformed(message);
      if (entry !== undefined) emit(entry);
    }
  }

  /** Sends a message still held back (at the end of a replay), in order: it is no fault then. */
  release(emit: (entry: FaultEntry) => void): void {
    if (this.held === undefined) return;
    emit({ type: 'message', message: this.held, fault: undefined });
    this.held = undefined;
  }

  private remember(message: AlpacaDataMessage): void {
    if (this.recent.length < RECENT) this.recent.push(message);
    else this.recent[this.recentNext] = message;
    this.recentNext = (this.recentNext + 1) % RECENT;
  }

  /** The next malformed kind made from `message`; only trades and quotes are bent, other messages are skipped. */
  private malformed(message: AlpacaDataMessage): FaultEntry | undefined {
    if (message.T !== 't' && message.T !== 'q') return undefined;
    const kind = MALFORMED_KINDS[this.nextMalformed % MALFORMED_KINDS.length] ?? 'malformed_json';
    this.nextMalformed++;
    const badNumber = (value: number): number => (this.msgpack ? Number.NaN : -value);
    switch (kind) {
      case 'malformed_json':
        return { type: 'broken', message };
      case 'wrong_type':
        return { type: 'malformed', kind, message: { ...message, t: Date.parse(message.t) } };
      case 'bad_price':
        return {
          type: 'malformed',
          kind,
          message: message.T === 't' ? { ...message, p: badNumber(message.p) } : { ...message, bp: badNumber(message.bp) },
        };
      case 'bad_size':
        // A quote replayed without sizes has bs 0, and -0 is no fault.
        return { type: 'malformed', kind, message: message.T === 't' ? { ...message, s: -message.s } : { ...message, bs: message.bs > 0 ? -message.bs : -1 } };
      case 'unknown_type':
        return { type: 'malformed', kind, message: { ...message, T: 'zz' } };
      case 'bad_symbol':
        return { type: 'malformed', kind, message: { ...message, S: '../x' } };
    }
  }
}
