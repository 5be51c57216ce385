/**
 * The write-ahead log's record payload: the accepted events of one frame, plus where the frame came from when the
 * source is a replayed file. Compact JSON arrays (bigints as decimal strings): measured fast enough to stay off
 * the ingest path's critical cost, and readable with any JSON tool when an operator needs to look.
 */
import type { BarRow, DatasetName, QuoteRow, TradeEventRow, TradeRow } from '../../core/datasets.ts';
import { parseJsonFrame } from '../feed/alpaca-messages.ts';
import type { FeedEvent } from '../feed/feed-event.ts';

/** A durable point in a replayed file: the next unread byte. */
export interface SourcePosition {
  readonly file: string;
  readonly byteOffset: number;
  readonly line: number;
}

export type StoredEvent = Exclude<FeedEvent, { kind: 'status' }>;

/** The dataset an event is stored in: its warm partition and its table. */
export function datasetOfEvent(event: StoredEvent): DatasetName {
  switch (event.kind) {
    case 'trade': return 'trades';
    case 'quote': return 'quotes';
    case 'bar': return event.dataset;
    case 'trade_event': return 'trade_events';
  }
}

export interface EventRecord {
  readonly events: StoredEvent[];
  readonly position?: SourcePosition;
}

export class EventCodecError extends Error {
  override readonly name = 'EventCodecError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeEvent(e: StoredEvent): unknown[] {
  switch (e.kind) {
    case 'trade': {
      const r = e.row;
      return ['t', r.ts.toString(), r.symbol, r.trade_id.toString(), r.price, r.size, r.exchange, r.conditions, r.tape];
    }
    case 'quote': {
      const r = e.row;
      return ['q', r.ts.toString(), r.symbol, r.bid_price, r.bid_size, r.ask_price, r.ask_size, r.bid_exchange, r.ask_exchange, r.conditions, r.tape];
    }
    case 'bar': {
      const r = e.row;
      return [e.dataset === 'bars_1d' ? 'd' : 'b', r.ts.toString(), r.symbol, r.open, r.high, r.low, r.close, r.volume, r.trade_count.toString(), r.vwap];
    }
    case 'trade_event': {
      const r = e.row;
      return ['x', r.ts.toString(), r.symbol, r.action, r.trade_id.toString(), r.price, r.size, r.exchange, r.conditions,
        r.corrected_trade_id === null ? null : r.corrected_trade_id.toString(), r.corrected_price, r.corrected_size, r.corrected_conditions, r.tape];
    }
  }
}

/** First byte of a record holding an Alpaca JSON frame verbatim (encoded records start with '{'). */
const RAW_FRAME_TAG = 0x01;

/** A record of a live frame: its JSON text as received, behind a one-byte tag. No re-encoding on the hot path. */
export function encodeRawFrameRecord(text: string): Uint8Array {
  const bytes = Buffer.allocUnsafe(1 + Buffer.byteLength(text));
  bytes[0] = RAW_FRAME_TAG;
  bytes.write(text, 1, 'utf8');
  return bytes;
}

export function encodeEventRecord(record: EventRecord): Uint8Array {
  const body = record.position === undefined
    ? { e: record.events.map(encodeEvent) }
    : { e: record.events.map(encodeEvent), p: [record.position.file, record.position.byteOffset, record.position.line] };
  return encoder.encode(JSON.stringify(body));
}

function decodeEvent(a: unknown[]): StoredEvent {
  const ts = BigInt(a[1] as string);
  switch (a[0]) {
    case 't': {
      const row: TradeRow = { ts, ts_ns: ts, symbol: a[2] as string, trade_id: BigInt(a[3] as string), price: a[4] as number, size: a[5] as number, exchange: a[6] as string, conditions: a[7] as string, tape: a[8] as string };
      return { kind: 'trade', row };
    }
    case 'q': {
      const row: QuoteRow = { ts, ts_ns: ts, symbol: a[2] as string, bid_price: a[3] as number, bid_size: a[4] as number | null, ask_price: a[5] as number, ask_size: a[6] as number | null, bid_exchange: a[7] as string, ask_exchange: a[8] as string, conditions: a[9] as string, tape: a[10] as string };
      return { kind: 'quote', row };
    }
    case 'b':
    case 'd': {
      const row: BarRow = { ts, ts_ns: ts, symbol: a[2] as string, open: a[3] as number, high: a[4] as number, low: a[5] as number, close: a[6] as number, volume: a[7] as number, trade_count: BigInt(a[8] as string), vwap: a[9] as number };
      return { kind: 'bar', dataset: a[0] === 'd' ? 'bars_1d' : 'bars_1m', row };
    }
    case 'x': {
      const row: TradeEventRow = {
        ts, ts_ns: ts, symbol: a[2] as string, action: a[3] as string, trade_id: BigInt(a[4] as string), price: a[5] as number, size: a[6] as number,
        exchange: a[7] as string, conditions: a[8] as string, corrected_trade_id: a[9] === null ? null : BigInt(a[9] as string),
        corrected_price: a[10] as number | null, corrected_size: a[11] as number | null, corrected_conditions: a[12] as string, tape: a[13] as string,
      };
      return { kind: 'trade_event', row };
    }
    default:
      throw new EventCodecError(`unknown event tag ${JSON.stringify(a[0])}`);
  }
}

/** Decodes a record written by encodeEventRecord or encodeRawFrameRecord. The log's CRC vouches for the bytes. */
export function decodeEventRecord(bytes: Uint8Array): EventRecord {
  if (bytes[0] === RAW_FRAME_TAG) {
    // The same parser as at ingest, so exactly the events accepted then (statuses are counted, never stored).
    const frame = parseJsonFrame(decoder.decode(bytes.subarray(1)));
    return { events: frame.events.filter((e): e is StoredEvent => e.kind !== 'status') };
  }
  let body: { e?: unknown; p?: unknown };
  try {
    body = JSON.parse(decoder.decode(bytes)) as { e?: unknown; p?: unknown };
  } catch (cause) {
    throw new EventCodecError(`event record is not JSON (${bytes.byteLength} bytes)`, { cause });
  }
  if (!Array.isArray(body.e)) throw new EventCodecError('event record has no event list');
  const events = body.e.map((a) => {
    if (!Array.isArray(a)) throw new EventCodecError('event is not an array');
    return decodeEvent(a);
  });
  if (body.p === undefined) return { events };
  const [file, byteOffset, line] = body.p as [string, number, number];
  return { events, position: { file, byteOffset, line } };
}
