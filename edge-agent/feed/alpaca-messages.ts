/**
 * Parsing and validation of Alpaca market data v2 stream frames. A frame is an array of messages (JSON text, or
 * msgpack bytes when the client asked for `Content-Type: application/msgpack`); each data message is checked on its
 * own, so one bad message never takes the valid ones of the same frame down with it.
 * Hand-written rather than schema-library validation: this runs for every message on the hot path (and the usual
 * JSON frame skips even JSON.parse: json-frame-scanner.ts).
 *
 * Integers: msgpack is decoded with `useBigInt64`, so an int64/uint64 on the wire arrives as a bigint (exact) and a
 * smaller one as a number; JSON gives numbers only. Every validator takes both, and a row always carries bigint ids
 * and counts and number prices and sizes, whatever the encoding. JSON cannot carry an integer above 2^53 exactly, so
 * such a trade id is rejected (bad_trade_id) rather than silently rounded; msgpack carries the full int64 range.
 */
import { Decoder } from '@msgpack/msgpack';
import { parseEventTimeNs } from './event-time.ts';
import type { FeedEvent, MarketStatus, Reject, RejectReason } from './feed-event.ts';
import { scanJsonFrame } from './json-frame-scanner.ts';
import { feedSymbolProblem } from './symbol-memo.ts';

export { parseEventTimeNs } from './event-time.ts';

/** The channels a client can subscribe to, in the order Alpaca lists them. */
export const STREAM_CHANNELS = ['trades', 'quotes', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds'] as const;
export type StreamChannel = (typeof STREAM_CHANNELS)[number];

export function isStreamChannel(value: string): value is StreamChannel {
  return (STREAM_CHANNELS as readonly string[]).includes(value);
}

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
  /**
   * The JSON text the frame was parsed from, when it came as text. Parsing is deterministic, so the agent logs this
   * text as is rather than re-encoding the events: recovery parses it again into the same events.
   */
  readonly text?: string;
}

class Invalid {
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
  ) {}
}

type Msg = Record<string, unknown>;

const MAX_INT64 = 9_223_372_036_854_775_807n;

/** A value shown inside a reject detail: short, and never a whole hostile payload. */
function shown(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function str(m: Msg, key: string, required = true): string {
  const v = m[key];
  if (typeof v === 'string') return v;
  if ((v === undefined || v === null) && !required) return '';
  if (v === undefined) throw new Invalid('missing_field', `field ${key} missing`);
  throw new Invalid('wrong_type', `field ${key} is not a string`);
}

/** A price or size: finite, positive (or zero when allowed). bigint comes from msgpack int64 fields. */
function num(m: Msg, key: string, reason: RejectReason, allowZero = false): number {
  const raw = m[key];
  if (raw === undefined) throw new Invalid('missing_field', `field ${key} missing`);
  let v: number;
  if (typeof raw === 'number') v = raw;
  else if (typeof raw === 'bigint') v = Number(raw);
  else throw new Invalid('wrong_type', `field ${key} is not a number`);
  if (!Number.isFinite(v)) throw new Invalid(reason, `field ${key} is ${v}`);
  if (v < 0 || (v === 0 && !allowZero)) throw new Invalid(reason, `field ${key} is ${v}`);
  return v;
}

/** A non-negative int64: trade ids and counts. */
function int(m: Msg, key: string, reason: RejectReason): bigint {
  const v = m[key];
  if (v === undefined) throw new Invalid('missing_field', `field ${key} missing`);
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    throw new Invalid(reason, `field ${key} ${shown(v)} is not a non-negative integer below 2^53 (JSON cannot carry more exactly)`);
  }
  if (typeof v === 'bigint') {
    if (v >= 0n && v <= MAX_INT64) return v;
    throw new Invalid(reason, `field ${key} ${shown(v)} is outside 0..2^63-1`);
  }
  throw new Invalid('wrong_type', `field ${key} is not an integer`);
}

function symbolOf(m: Msg): string {
  const s = str(m, 'S');
  const problem = feedSymbolProblem(s);
  if (problem !== undefined) throw new Invalid('bad_symbol', `symbol ${shown(s)}: ${problem}`);
  return s;
}

function timeOf(m: Msg, key = 't'): bigint {
  const t = str(m, key);
  try {
    return parseEventTimeNs(t);
  } catch {
    throw new Invalid('bad_timestamp', `field ${key} ${shown(t)} is not an RFC 3339 time`);
  }
}

function conditionsOf(m: Msg, key = 'c'): string {
  const c = m[key];
  if (c === undefined || c === null) return '';
  if (!Array.isArray(c)) throw new Invalid('wrong_type', `field ${key} is not an array of strings`);
  for (const x of c) if (typeof x !== 'string') throw new Invalid('wrong_type', `field ${key} is not an array of strings`);
  return c.join(',');
}

// ---- data messages -------------------------------------------------------------------------------------------

function parseTrade(m: Msg): FeedEvent {
  const symbol = symbolOf(m);
  const ts = timeOf(m);
  return {
    kind: 'trade',
    row: {
      ts, ts_ns: ts, symbol,
      trade_id: int(m, 'i', 'bad_trade_id'),
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
  const tradeCount = int(m, 'n', 'bad_size');
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
      trade_count: tradeCount,
      vwap: num(m, 'vw', 'bad_price', true),
    },
  };
}

/** T:"c": the original trade `oi` (op, os, oc) is replaced by `ci` (cp, cs, cc). */
function parseCorrection(m: Msg): FeedEvent {
  const symbol = symbolOf(m);
  const ts = timeOf(m);
  return {
    kind: 'trade_event',
    row: {
      ts, ts_ns: ts, symbol,
      action: 'correction',
      trade_id: int(m, 'oi', 'bad_trade_id'),
      price: num(m, 'op', 'bad_price'),
      size: num(m, 'os', 'bad_size'),
      exchange: str(m, 'x', false),
      conditions: conditionsOf(m, 'oc'),
      corrected_trade_id: int(m, 'ci', 'bad_trade_id'),
      corrected_price: num(m, 'cp', 'bad_price'),
      corrected_size: num(m, 'cs', 'bad_size'),
      corrected_conditions: conditionsOf(m, 'cc'),
      tape: str(m, 'z', false),
    },
  };
}

/** T:"x": trade `i` is cancelled (a:"C") or declared an error (a:"E"). */
function parseCancel(m: Msg): FeedEvent {
  const symbol = symbolOf(m);
  const ts = timeOf(m);
  const a = str(m, 'a');
  if (a !== 'C' && a !== 'E') throw new Invalid('bad_action', `cancel/error action ${shown(a)} is neither C nor E`);
  return {
    kind: 'trade_event',
    row: {
      ts, ts_ns: ts, symbol,
      action: a === 'C' ? 'cancel' : 'error',
      trade_id: int(m, 'i', 'bad_trade_id'),
      price: num(m, 'p', 'bad_price'),
      size: num(m, 's', 'bad_size'),
      exchange: str(m, 'x', false),
      conditions: '',
      corrected_trade_id: null,
      corrected_price: null,
      corrected_size: null,
      corrected_conditions: '',
      tape: str(m, 'z', false),
    },
  };
}

function parseStatus(m: Msg): FeedEvent {
  const status: MarketStatus = {
    type: 'trading_status',
    symbol: symbolOf(m),
    tsNs: timeOf(m),
    statusCode: str(m, 'sc'),
    statusMessage: str(m, 'sm', false),
    reasonCode: str(m, 'rc', false),
    reasonMessage: str(m, 'rm', false),
    tape: str(m, 'z', false),
  };
  return { kind: 'status', status };
}

function parseLuld(m: Msg): FeedEvent {
  const status: MarketStatus = {
    type: 'luld',
    symbol: symbolOf(m),
    tsNs: timeOf(m),
    limitUpPrice: num(m, 'u', 'bad_price'),
    limitDownPrice: num(m, 'd', 'bad_price'),
    indicator: str(m, 'i', false),
    tape: str(m, 'z', false),
  };
  return { kind: 'status', status };
}

// ---- messages and frames -------------------------------------------------------------------------------------

function controlCode(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return Number.NaN;
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
      case 'c': return parseCorrection(msg);
      case 'x': return parseCancel(msg);
      case 's': return parseStatus(msg);
      case 'l': return parseLuld(msg);
      case 'success': return { T: 'success', msg: String(msg['msg'] ?? '') };
      case 'error': return { T: 'error', code: controlCode(msg['code']), msg: String(msg['msg'] ?? '') };
      case 'subscription': return { T: 'subscription', channels: msg };
      default: return { reason: 'unknown_type', detail: `message type ${shown(msg['T'])}` };
    }
  } catch (e) {
    if (e instanceof Invalid) return { reason: e.reason, detail: `${shown(msg['T'])} ${e.detail}` };
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

/** A frame that could not be decoded at all: counted as one rejected message. */
export function rejectedFrame(reason: RejectReason, detail: string): ParsedFrame {
  return { events: [], controls: [], rejects: [{ reason, detail }], messageCount: 1 };
}

/**
 * Parses a JSON text frame. An unparsable frame counts as one rejected message. The usual frame (valid trades,
 * quotes and bars) is read by the fast path (json-frame-scanner.ts) into the same rows; every other one goes through
 * parseJsonFrameFully.
 */
export function parseJsonFrame(text: string): ParsedFrame {
  const scanned = scanJsonFrame(text);
  if (scanned !== undefined) return { events: scanned, controls: [], rejects: [], messageCount: scanned.length, text };
  return parseJsonFrameFully(text);
}

/** The full path for a JSON text frame: JSON.parse, then every message validated on its own. The fast path's authority. */
export function parseJsonFrameFully(text: string): ParsedFrame {
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch {
    return rejectedFrame('malformed_frame', `unparsable JSON (${text.length} characters)`);
  }
  return { ...parseDecodedFrame(decoded), text };
}

/** The msgpack decoder: int64/uint64 become bigint (exact), map keys must be strings or numbers. Reused: stateless between calls. */
const msgpackDecoder = new Decoder({ useBigInt64: true });

/** Decodes a msgpack frame without validating it (for the benchmark's baseline and for tests). */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  return msgpackDecoder.decode(bytes);
}

/** Parses a msgpack binary frame. An undecodable frame counts as one rejected message. */
export function parseMsgpackFrame(bytes: Uint8Array): ParsedFrame {
  let decoded: unknown;
  try {
    decoded = msgpackDecoder.decode(bytes);
  } catch {
    return rejectedFrame('malformed_frame', `undecodable msgpack (${bytes.length} bytes)`);
  }
  return parseDecodedFrame(decoded);
}
