import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { EndpointError, isCryptoSymbol, streamUrl } from '../edge-agent/feed/alpaca-endpoints.ts';
import {
  type ParsedFrame,
  parseDecodedFrame,
  parseEventTimeNs,
  parseJsonFrame,
  parseMessage,
  parseMsgpackFrame,
} from '../edge-agent/feed/alpaca-messages.ts';
import type { FeedEvent, RejectReason } from '../edge-agent/feed/feed-event.ts';
import { Prng } from '../edge-agent/simulator/prng.ts';
import { formatRfc3339Nanos, parseRfc3339Nanos } from '../core/rfc3339.ts';

const T = '2024-07-01T14:30:00.123456789Z';
const TS = 1_719_844_200_123_456_789n;

const trade = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  T: 't', S: 'AAPL', i: 52983525029461, x: 'V', p: 187.12, s: 100, t: T, c: ['@', 'I'], z: 'C', ...over,
});
const quote = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  T: 'q', S: 'AAPL', bx: 'V', bp: 187.1, bs: 2, ax: 'Q', ap: 187.13, as: 3, t: T, c: ['R'], z: 'C', ...over,
});
const bar = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  T: 'b', S: 'SPY', o: 545.1, h: 545.9, l: 544.8, c: 545.5, v: 12_000, t: '2024-07-01T14:30:00Z', n: 87, vw: 545.4, ...over,
});

function reasons(frame: ParsedFrame): Partial<Record<RejectReason, number>> {
  const out: Partial<Record<RejectReason, number>> = {};
  for (const r of frame.rejects) out[r.reason] = (out[r.reason] ?? 0) + 1;
  return out;
}

function only(m: unknown): FeedEvent {
  const parsed = parseMessage(m);
  if (!('kind' in parsed)) throw new Error(`expected an event, got ${JSON.stringify(parsed)}`);
  return parsed;
}

describe('stream endpoints', () => {
  it('builds stock and crypto stream URLs', () => {
    expect(streamUrl({ kind: 'stocks', feed: 'iex' })).toBe('wss://stream.data.alpaca.markets/v2/iex');
    expect(streamUrl({ kind: 'stocks', feed: 'sip' })).toBe('wss://stream.data.alpaca.markets/v2/sip');
    expect(streamUrl({ kind: 'stocks', feed: 'test' })).toBe('wss://stream.data.alpaca.markets/v2/test');
    expect(streamUrl({ kind: 'crypto' })).toBe('wss://stream.data.alpaca.markets/v1beta3/crypto/us');
    expect(streamUrl({ kind: 'crypto' }, 'ws://127.0.0.1:9000/')).toBe('ws://127.0.0.1:9000/v1beta3/crypto/us');
    expect(() => streamUrl({ kind: 'stocks', feed: 'nope' as 'iex' })).toThrow(EndpointError);
    expect(() => streamUrl({ kind: 'crypto' }, 'https://x')).toThrow(/wss:\/\//);
    expect(isCryptoSymbol('BTC/USD')).toBe(true);
    expect(isCryptoSymbol('BRK.B')).toBe(false);
  });
});

describe('event time parsing', () => {
  it('equals parseRfc3339Nanos on random instants with every fraction length', () => {
    const prng = new Prng(11);
    for (let k = 0; k < 5000; k++) {
      const ns = BigInt(Math.floor(prng.next() * 4e9)) * 1_000_000_000n + BigInt(prng.int(1_000_000_000));
      const full = formatRfc3339Nanos(ns);
      const digits = prng.int(10); // 0 to 9 fractional digits
      const text = digits === 0 ? `${full.slice(0, 19)}Z` : `${full.slice(0, 20 + digits)}Z`;
      expect(parseEventTimeNs(text)).toBe(parseRfc3339Nanos(text));
    }
  });

  it('equals parseRfc3339Nanos across years 0000 to 9999, past both ends of int64 and across the low 32 bits', () => {
    const texts = [
      '0000-01-01T00:00:00Z', '0001-01-01T00:00:00.5Z', '1600-02-29T12:00:00.000000001Z', '1677-09-21T00:12:43.145224191Z',
      '1677-09-21T00:12:43.145224192Z', '1969-12-31T23:59:59.999999999Z', '1970-01-01T00:00:00.000000001Z', '1970-01-01T00:00:04.294967295Z',
      '1970-01-01T00:00:04.294967296Z', '2024-07-01T23:59:59.999999999Z', '2262-04-11T23:47:16.854775807Z', '2262-04-11T23:47:16.854775808Z',
      '2262-04-12T00:00:00Z', '9999-12-31T23:59:59.999999999Z',
    ];
    const prng = new Prng(3);
    for (let k = 0; k < 2000; k++) {
      const day = prng.int(2_932_897) - 719_528; // 0000-01-01 .. 9999-12-31, in days from 1970
      const ns = BigInt(day) * 86_400_000_000_000n + BigInt(prng.int(86_400)) * 1_000_000_000n + BigInt(prng.int(1_000_000_000));
      texts.push(formatRfc3339Nanos(ns));
    }
    for (const text of texts) {
      expect(parseEventTimeNs(text), text).toBe(parseRfc3339Nanos(text));
      // The same in place, as the JSON fast path reads it inside a frame.
      const frame = `[{"T":"t","S":"AAPL","i":1,"x":"V","p":1,"s":1,"t":"${text}","c":[],"z":"C"}]`;
      const event = parseJsonFrame(frame).events[0];
      expect(event?.kind === 'trade' ? event.row.ts : undefined, text).toBe(parseRfc3339Nanos(text));
    }
  });

  it('agrees with parseRfc3339Nanos on offsets, lower case and invalid input', () => {
    const ok = ['2024-07-01T16:30:00.5+02:00', '2024-07-01t14:30:00z', '2024-02-29T23:59:59.999999999Z', '1970-01-01T00:00:00Z'];
    for (const text of ok) expect(parseEventTimeNs(text)).toBe(parseRfc3339Nanos(text));
    const bad = [
      '2024-02-30T00:00:00Z', '2023-02-29T12:00:00Z', '2024-07-01T24:00:00Z', '2024-07-01T14:60:00Z', '2024-07-01T14:30:60Z',
      '2024-07-01T14:30:00.Z', '2024-07-01T14:30:00.1234567890Z', '2024-07-01T14:30:0xZ', '2024-07-01 14:30:00Z',
      '2024-13-01T00:00:00Z', 'yesterday', '', '2024-07-01T14:30:00', '2024-07-01T14:30:00.12a4Z',
    ];
    // Warm the date cache first so a cached date cannot smuggle a bad time through.
    parseEventTimeNs('2024-07-01T00:00:00Z');
    for (const text of bad) {
      expect(() => parseRfc3339Nanos(text), text).toThrow();
      expect(() => parseEventTimeNs(text), text).toThrow();
    }
  });
});

describe('message validation', () => {
  it('parses a trade with exact nanoseconds and a bigint id', () => {
    expect(only(trade())).toEqual({
      kind: 'trade',
      row: { ts: TS, ts_ns: TS, symbol: 'AAPL', trade_id: 52983525029461n, price: 187.12, size: 100, exchange: 'V', conditions: '@,I', tape: 'C' },
    });
  });

  it('parses quotes and minute, updated and daily bars', () => {
    expect(only(quote())).toMatchObject({ kind: 'quote', row: { bid_price: 187.1, ask_price: 187.13, bid_size: 2, ask_size: 3, conditions: 'R' } });
    expect(only(bar())).toMatchObject({ kind: 'bar', dataset: 'bars_1m', row: { symbol: 'SPY', trade_count: 87n, vwap: 545.4 } });
    expect(only(bar({ T: 'u' }))).toMatchObject({ kind: 'bar', dataset: 'bars_1m' });
    expect(only(bar({ T: 'd' }))).toMatchObject({ kind: 'bar', dataset: 'bars_1d' });
  });

  it('parses a crypto trade and quote without exchange, conditions or tape', () => {
    const t = only({ T: 't', S: 'BTC/USD', i: 123, p: 62_000.5, s: 0.0123, t: T, tks: 'B' });
    expect(t).toMatchObject({ kind: 'trade', row: { symbol: 'BTC/USD', size: 0.0123, exchange: '', conditions: '', tape: '' } });
    const q = only({ T: 'q', S: 'BTC/USD', bp: 61_999, bs: 0.5, ap: 62_001, as: 0.25, t: T });
    expect(q).toMatchObject({ kind: 'quote', row: { bid_exchange: '', ask_exchange: '' } });
  });

  it('parses a correction into a trade_event row with the corrected trade', () => {
    const event = only({
      T: 'c', S: 'AAPL', x: 'D', oi: 1001, op: 187.12, os: 100, oc: ['@'], ci: 1005, cp: 187.13, cs: 100, cc: ['@', 'F'], t: T, z: 'C',
    });
    expect(event).toEqual({
      kind: 'trade_event',
      row: {
        ts: TS, ts_ns: TS, symbol: 'AAPL', action: 'correction', trade_id: 1001n, price: 187.12, size: 100, exchange: 'D', conditions: '@',
        corrected_trade_id: 1005n, corrected_price: 187.13, corrected_size: 100, corrected_conditions: '@,F', tape: 'C',
      },
    });
  });

  it('parses cancels and errors with null corrected fields', () => {
    const base = { T: 'x', S: 'AAPL', i: 1001, x: 'D', p: 187.12, s: 100, t: T, z: 'C' };
    const cancel = only({ ...base, a: 'C' });
    expect(cancel).toEqual({
      kind: 'trade_event',
      row: {
        ts: TS, ts_ns: TS, symbol: 'AAPL', action: 'cancel', trade_id: 1001n, price: 187.12, size: 100, exchange: 'D', conditions: '',
        corrected_trade_id: null, corrected_price: null, corrected_size: null, corrected_conditions: '', tape: 'C',
      },
    });
    expect(only({ ...base, a: 'E' })).toMatchObject({ row: { action: 'error' } });
    expect(parseMessage({ ...base, a: 'Q' })).toMatchObject({ reason: 'bad_action' });
  });

  it('accepts trading statuses and LULD bands as status events, not rejects', () => {
    const status = only({ T: 's', S: 'AAPL', sc: 'H', sm: 'Trading Halt', rc: 'T12', rm: 'Additional Information Requested', t: T, z: 'C' });
    expect(status).toEqual({
      kind: 'status',
      status: { type: 'trading_status', symbol: 'AAPL', tsNs: TS, statusCode: 'H', statusMessage: 'Trading Halt', reasonCode: 'T12', reasonMessage: 'Additional Information Requested', tape: 'C' },
    });
    const luld = only({ T: 'l', S: 'AAPL', u: 190.5, d: 180.25, i: 'B', t: T, z: 'C' });
    expect(luld).toMatchObject({ kind: 'status', status: { type: 'luld', limitUpPrice: 190.5, limitDownPrice: 180.25, indicator: 'B' } });
  });

  it('rejects each kind of bad message with its reason and keeps the valid ones of the frame', () => {
    const frame = parseDecodedFrame([
      trade({ i: 1 }),
      42,
      null,
      [1, 2],
      { T: 'zz', S: 'AAPL' },
      { S: 'AAPL' },
      trade({ S: undefined }),
      trade({ p: '187.12' }),
      trade({ p: -1 }),
      trade({ p: 0 }),
      trade({ p: Number.NaN }),
      trade({ p: Number.POSITIVE_INFINITY }),
      trade({ s: 0 }),
      trade({ s: -5 }),
      trade({ t: 'yesterday' }),
      trade({ t: 1_719_844_200 }),
      trade({ i: 1.5 }),
      trade({ i: -1 }),
      trade({ i: 2 ** 60 }),
      trade({ i: 'abc' }),
      trade({ S: '../../etc/passwd' }),
      trade({ S: 'A=B' }),
      trade({ S: 'X'.repeat(40) }),
      trade({ c: 'not-an-array' }),
      quote({ bp: 10, ap: 9 }),
      quote({ bp: 0, ap: 0 }),
      bar({ h: 1, l: 2 }),
      bar({ n: -3 }),
      quote(),
      trade({ i: 2 }),
    ]);
    expect(frame.events.map((e) => e.kind)).toEqual(['trade', 'quote', 'trade']);
    expect(frame.messageCount).toBe(30);
    expect(frame.events.length + frame.rejects.length + frame.controls.length).toBe(frame.messageCount);
    expect(reasons(frame)).toEqual({
      not_an_object: 3,
      unknown_type: 2,
      missing_field: 1,
      wrong_type: 4,
      bad_price: 6,
      bad_size: 3,
      bad_timestamp: 1,
      bad_trade_id: 3,
      bad_symbol: 3,
      crossed_quote: 1,
    });
  });

  it('counts an unparsable or non-array frame as one malformed message', () => {
    expect(reasons(parseJsonFrame('[{"T":"t",'))).toEqual({ malformed_frame: 1 });
    expect(parseJsonFrame('{"T":"t"}')).toMatchObject({ messageCount: 1, rejects: [{ reason: 'malformed_frame' }] });
    expect(reasons(parseJsonFrame(`[${JSON.stringify(trade()).replace('187.12', '1e400')}]`))).toEqual({ bad_price: 1 }); // Infinity
    expect(reasons(parseJsonFrame(JSON.stringify([trade({ p: 1e308 * 10 })])))).toEqual({ wrong_type: 1 }); // Infinity becomes null in JSON
    expect(reasons(parseMsgpackFrame(Uint8Array.from([0xc1])))).toEqual({ malformed_frame: 1 });
    expect(reasons(parseMsgpackFrame(encode([trade()]).subarray(0, 20)))).toEqual({ malformed_frame: 1 });
    expect(parseJsonFrame('[]')).toEqual({ events: [], controls: [], rejects: [], messageCount: 0, text: '[]' });
  });

  it('keeps control messages apart', () => {
    const frame = parseJsonFrame('[{"T":"success","msg":"connected"},{"T":"error","code":406,"msg":"connection limit exceeded"}]');
    expect(frame.controls).toEqual([{ T: 'success', msg: 'connected' }, { T: 'error', code: 406, msg: 'connection limit exceeded' }]);
    expect(frame.events).toEqual([]);
    expect(frame.rejects).toEqual([]);
  });
});

describe('JSON and msgpack give the same rows', () => {
  const messages = [
    trade(),
    trade({ i: 5_000_000_000, s: 2 ** 40 }), // above 2^32: msgpack sends uint64, decoded as bigint
    quote(),
    bar({ n: 4_294_967_296 }),
    { T: 'c', S: 'AAPL', x: 'D', oi: 7_000_000_000, op: 1.5, os: 3, oc: [], ci: 7_000_000_001, cp: 1.25, cs: 3, cc: [], t: T, z: 'C' },
    { T: 'x', S: 'BTC/USD', i: 9, p: 62_000, s: 0.5, a: 'C', t: T },
    { T: 's', S: 'AAPL', sc: 'T', sm: 'Trading Resumption', rc: '', rm: '', t: T, z: 'C' },
  ];

  it('for the same messages, integers above 2^32 included', () => {
    const fromJson = parseJsonFrame(JSON.stringify(messages));
    const fromMsgpack = parseMsgpackFrame(encode(messages));
    expect(fromJson.rejects).toEqual([]);
    const { text: _text, ...jsonFrame } = fromJson; // only the JSON frame carries its source text
    expect(fromMsgpack).toEqual(jsonFrame);
    expect(fromMsgpack.events[1]).toMatchObject({ row: { trade_id: 5_000_000_000n, size: 2 ** 40 } });
  });

  it('accepts int64 fields that msgpack decodes as bigint, exactly, even above 2^53', () => {
    const frame = parseMsgpackFrame(encode([trade({ i: 2n ** 60n + 7n, s: 300n }), bar({ n: 12n })], { useBigInt64: true }));
    expect(frame.rejects).toEqual([]);
    expect(frame.events[0]).toMatchObject({ row: { trade_id: 2n ** 60n + 7n, size: 300 } });
    expect(frame.events[1]).toMatchObject({ row: { trade_count: 12n } });
    // JSON cannot carry that id exactly, so it refuses it rather than rounding.
    expect(reasons(parseJsonFrame(`[${JSON.stringify(trade()).replace('52983525029461', String(2n ** 60n + 7n))}]`))).toEqual({ bad_trade_id: 1 });
  });

  it('rejects NaN, negative and out-of-range values that only msgpack can carry', () => {
    const frame = parseMsgpackFrame(encode([trade({ p: Number.NaN }), trade({ s: Number.NEGATIVE_INFINITY }), trade({ i: -(2n ** 62n) }), trade({ i: 2n ** 64n - 1n })], { useBigInt64: true }));
    expect(reasons(frame)).toEqual({ bad_price: 1, bad_size: 1, bad_trade_id: 2 });
  });
});
