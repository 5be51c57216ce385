/** Write-ahead-log records: an encoded frame and a verbatim JSON frame both decode to exactly the accepted events. */
import { describe, expect, it } from 'vitest';
import { parseJsonFrame } from '../edge-agent/feed/alpaca-messages.ts';
import { type StoredEvent, decodeEventRecord, encodeEventRecord, encodeRawFrameRecord } from '../edge-agent/ingest/event-codec.ts';
import { MarketModel } from '../edge-agent/simulator/market-model.ts';

const model = new MarketModel({ seed: 3, symbols: ['AAPL', 'BTC/USD'], startNs: 1_719_878_400_000_000_000n, correctionRate: 0.05, cancelRate: 0.05 });
const messages = model.advance(2000, 1_719_878_400_000_000_000n + 180_000_000_000n);
// Mixed in: a status (counted, never stored), a bad message (rejected), a quote without sizes.
const text = JSON.stringify([
  ...messages,
  { T: 's', S: 'AAPL', sc: 'H', sm: 'Trading Halt', rc: 'T12', rm: 'News pending', t: '2024-07-02T00:00:00Z', z: 'C' },
  { T: 't', S: 'AAPL', i: 1, x: 'V', p: -5, s: 1, t: '2024-07-02T00:00:00Z' },
]);
const frame = parseJsonFrame(text);
const accepted = frame.events.filter((e): e is StoredEvent => e.kind !== 'status');

describe('event records', () => {
  it('has trades, quotes, bars, corrections and cancels to check', () => {
    expect(new Set(accepted.map((e) => e.kind))).toEqual(new Set(['trade', 'quote', 'bar', 'trade_event']));
    expect(frame.rejects.length).toBe(1);
  });

  it('round-trips a verbatim JSON frame to the same accepted events', () => {
    expect(decodeEventRecord(encodeRawFrameRecord(text))).toEqual({ events: accepted });
  });

  it('round-trips encoded events with a replay position', () => {
    const position = { file: '/data/day.csv', byteOffset: 12_345, line: 99 };
    expect(decodeEventRecord(encodeEventRecord({ events: accepted, position }))).toEqual({ events: accepted, position });
    expect(decodeEventRecord(encodeEventRecord({ events: [] }))).toEqual({ events: [] });
  });

  it('rejects records that are not one of the two forms', () => {
    expect(() => decodeEventRecord(new TextEncoder().encode('{"x":1}'))).toThrow(/no event list/);
    expect(() => decodeEventRecord(new TextEncoder().encode('[["zz","1"]'))).toThrow(/not JSON/);
  });
});
