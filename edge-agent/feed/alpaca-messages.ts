/**
 * Parsing and validation of Alpaca market data v2 stream frames. A frame is a JSON array of messages; each data
 * message is checked on its own, so one bad message never takes the valid ones of the same frame down with it.
 * Hand-written rather than schema-library validation: this runs for every message on the hot path.
 */
import { symbolProblem } from '../../core/symbols.ts';
import { parseIsoInstantNs } from '../../core/time.ts';
import type { FeedEvent, Reject, RejectReason } from './feed-event.ts';

/** Control messages the session logic acts on. */
export type ControlMessage =
  | { readonly T: 'success'; readonly msg: string }
  | { readonly T: 'error'; readonly code: number; readonly msg: string }
  | { readonly T: 'subscription'; readonly channels: Readonly<Record<string, unknown>> };

export interface ParsedFrame {
  readonly events: FeedEvent[];
  readonly controls: ControlMessage[];
  readonly rejects: Reject[];
  /** Messages in the frame (data and control), for received = accepted + rejected + control accounting. */
  readonly messageCount: number;
}

class Invalid {
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
  ) {}
}

type Msg = Record<string, unknown>;

function str(m: Msg, key: string, required = true): string {
  const v = m[key];
  if (typeof v === 'string') return v;
  if (v === undefined && !required) return '';
  throw new Invalid(v === undefined ? 'missing_field' : 'wrong_type', `field ${key} ${v === undefined ? 'missing' : 'is not a string'}`);
}

function num(m: Msg, key: string, reason: RejectReason, allowZero = false): number {
  const v = m[key];
  if (v === undefined) throw new Invalid('missing_field', `field ${key} missing`);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Invalid(reason, `field ${key} is not a finite number`);
  if (v < 0 || (v === 0 && !allowZero)) throw new Invalid(reason, `field ${key} is ${v}`);
  return v;
}

function symbolOf(m: Msg): string {
  const s = str(m, 'S');
  const problem = symbolProblem(s);
  if (problem !== undefined) throw new Invalid('bad_symbol', `symbol ${JSON.stringify(s.slice(0, 40))}: ${problem}`);
  return s;
}

function timeOf(m: Msg, key = 't'): bigint {
  const t = str(m, key);
  try {
    return parseIsoInstantNs(t);
  } catch {
    throw new Invalid('bad_timestamp', `field ${key} ${JSON.stringify(t.slice(0, 40))} is not an RFC 3339 time`);
  }
}

function conditionsOf(m: Msg): string {
  const c = m['c'];
  if (c === undefined || c === null) return '';
  if (!Array.isArray(c) || !c.every((x) => typeof x === 'string')) throw new Invalid('wrong_type', 'field c is not an array of strings');
  return c.join(',');
}

function parseTrade(m: Msg): FeedEvent {
  const symbol = symbolOf(m);
  const ts = timeOf(m);
  const id = m['i'];
  if (id === undefined) throw new Invalid('missing_field', 'field i missing');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new Invalid('bad_trade_id', `trade id ${String(id).slice(0, 30)} is not a non-negative integer below 2^53`);
  }
  return {
    kind: 'trade',
    row: {
      ts, ts_ns: ts, symbol,
      trade_id: BigInt(id),
      price: num(m, 'p', 'bad_price'),
      size: num(m, 's', 'bad_size'),
      exchange: str(m, 'x', false),
      conditions: conditionsOf(m),
      tape: str(m, 'z', false),
    },
  };
}

function parseQuote(m: Msg): FeedEvent {
  const symbol = symbolOf(m);
  const ts = timeOf(m);
  const bid = num(m, 'bp', 'bad_price', true);
  const ask = num(m, 'ap', 'bad_price', true);
  // A zero side means "no quote on that side" on some venues; both zero carries nothing.
  if (bid === 0 && ask === 0) throw new Invalid('bad_price', 'bid and ask are both 0');
  if (bid > 0 && ask > 0 && bid > ask) throw new Invalid('crossed_quote', `bid ${bid} above ask ${ask}`);
  return {
    kind: 'quote',
    row: {
      ts, ts_ns: ts, symbol,
      bid_price: bid, bid_size: num(m, 'bs', 'bad_size', true),
      ask_price: ask, ask_size: num(m, 'as', 'bad_size', true),
      bid_exchange: str(m, 'bx', false), ask_exchange: str(m, 'ax', false),
      conditions: conditionsOf(m), tape: str(m, 'z', false),
    },
  };
}

function parseBar(m: Msg, dataset: 'bars_1m' | 'bars_1d'): FeedEvent {
  const symbol = symbolOf(m);
  const ts = timeOf(m);
  const n = m['n'];
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Invalid('wrong_type', 'field n is not a count');
  const open = num(m, 'o', 'bad_price');
  const high = num(m, 'h', 'bad_price');
  const low = num(m, 'l', 'bad_price');
  const close = num(m, 'c', 'bad_price');
  if (low > high || open > high || close > high || open < low || close < low) {
    throw new Invalid('bad_price', `bar o/h/l/c ${open}/${high}/${low}/${close} inconsistent`);
  }
  return {
    kind: 'bar',
    dataset,
    row: {
      ts, ts_ns: ts, symbol, open, high, low, close,
      volume: num(m, 'v', 'bad_size', true),
      trade_count: BigInt(n),
      vwap: num(m, 'vw', 'bad_price', true),
    },
  };
}

/** Parses one decoded message. Data messages become events; control messages are returned for the session. */
export function parseMessage(m: unknown): FeedEvent | ControlMessage | Reject {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return { reason: 'not_an_object', detail: 'message is not an object' };
  const msg = m as Msg;
  try {
    switch (msg['T']) {
      case 't': return parseTrade(msg);
      case 'q': return parseQuote(msg);
      case 'b': return parseBar(msg, 'bars_1m');
      case 'u': return parseBar(msg, 'bars_1m');
      case 'd': return parseBar(msg, 'bars_1d');
      case 'success': return { T: 'success', msg: String(msg['msg'] ?? '') };
      case 'error': return { T: 'error', code: Number(msg['code']), msg: String(msg['msg'] ?? '') };
      case 'subscription': return { T: 'subscription', channels: msg };
      default: return { reason: 'unknown_type', detail: `message type ${JSON.stringify(String(msg['T']).slice(0, 20))}` };
    }
  } catch (e) {
    if (e instanceof Invalid) return { reason: e.reason, detail: e.detail };
    throw e;
  }
}

/** Parses a decoded frame (already JSON- or msgpack-decoded). */
export function parseDecodedFrame(decoded: unknown): ParsedFrame {
  const events: FeedEvent[] = [];
  const controls: ControlMessage[] = [];
  const rejects: Reject[] = [];
  if (!Array.isArray(decoded)) {
    return { events, controls, rejects: [{ reason: 'malformed_frame', detail: 'frame is not an array' }], messageCount: 1 };
  }
  for (const m of decoded) {
    const parsed = parseMessage(m);
    if ('reason' in parsed) rejects.push(parsed);
    else if ('kind' in parsed) events.push(parsed);
    else controls.push(parsed);
  }
  return { events, controls, rejects, messageCount: decoded.length };
}

/** Parses a JSON text frame. An unparsable frame counts as one rejected message. */
export function parseJsonFrame(text: string): ParsedFrame {
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch {
    return { events: [], controls: [], rejects: [{ reason: 'malformed_frame', detail: `unparsable JSON (${text.length} bytes)` }], messageCount: 1 };
  }
  return parseDecodedFrame(decoded);
}
