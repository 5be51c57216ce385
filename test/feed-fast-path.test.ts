/**
 * The JSON fast path (edge-agent/feed/json-frame-scanner.ts) against the full path (JSON.parse + per-message
 * validation): for every frame, parseJsonFrame must give exactly what parseJsonFrameFully gives (same events, rows,
 * rejects, controls and count). Checked on real and simulated frames, on hand-picked edge cases, and on tens of
 * thousands of seeded random mutations of valid frames.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseJsonFrame, parseJsonFrameFully } from '../edge-agent/feed/alpaca-messages.ts';
import { scanJsonFrame } from '../edge-agent/feed/json-frame-scanner.ts';
import { MarketModel } from '../edge-agent/simulator/market-model.ts';
import { messageJson } from '../edge-agent/simulator/message-json.ts';
import { Prng } from '../edge-agent/simulator/prng.ts';
import { parseRfc3339Nanos } from '../core/rfc3339.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'alpaca-stream-sample.jsonl');

const TRADE = '{"T":"t","S":"AAPL","i":52983525029461,"x":"V","p":187.12,"s":100,"t":"2024-07-01T14:30:00.123456789Z","c":["@","I"],"z":"C"}';
const QUOTE = '{"T":"q","S":"AAPL","bx":"V","bp":187.1,"bs":2,"ax":"Q","ap":187.13,"as":3,"t":"2024-07-01T14:30:00.5Z","c":["R"],"z":"C"}';
const CRYPTO_QUOTE = '{"T":"q","S":"BTC/USD","bx":"CBSE","bp":62000,"bs":0.2307,"ax":"KRKN","ap":62000.02,"as":0.1589,"t":"2024-07-01T14:29:55.919027585Z","c":[],"z":"O"}';
const BAR = '{"T":"b","S":"SPY","o":545.1,"h":545.9,"l":544.8,"c":545.5,"v":12000,"t":"2024-07-01T14:30:00Z","n":87,"vw":545.4}';
const UPDATED_BAR = BAR.replace('"T":"b"', '"T":"u"');
const DAILY_BAR = BAR.replace('"T":"b"', '"T":"d"');
const STATUS = '{"T":"s","S":"AAPL","sc":"H","sm":"Trading Halt","rc":"T12","rm":"Trading Halted","t":"2024-07-01T14:30:00Z","z":"C"}';
const CORRECTION = '{"T":"c","S":"AAPL","x":"V","oi":1,"op":187.12,"os":100,"oc":["@"],"ci":2,"cp":187.13,"cs":100,"cc":["@"],"t":"2024-07-01T14:30:00Z","z":"C"}';

/** Checks parseJsonFrame against the full path on one frame; true when the fast path took it. */
function expectSame(text: string): boolean {
  const full = parseJsonFrameFully(text);
  const got = parseJsonFrame(text);
  // isDeepStrictEqual tells -0 from 0 and 1n from 1; expect() only on a difference, to show it.
  if (!isDeepStrictEqual(got, full)) expect(got, text).toStrictEqual(full);
  return scanJsonFrame(text) !== undefined;
}

/** Frames the way the simulator serves them, and the way JSON.stringify writes them, trades, quotes, bars, corrections and cancels. */
function simulatedFrames(): string[] {
  const model = new MarketModel({
    seed: 5, symbols: ['AAPL', 'SPY', 'BTC/USD', 'ETH/USD', 'BRK.B'], startNs: parseRfc3339Nanos('2024-07-01T14:29:00Z'),
    correctionRate: 0.02, cancelRate: 0.02,
  });
  const frames: string[] = [];
  let untilNs = parseRfc3339Nanos('2024-07-01T14:29:00Z');
  for (let k = 0; k < 150; k++) {
    untilNs += 1_000_000_000n;
    const batch = model.advance(1 + (k % 40), untilNs);
    frames.push(k % 2 === 0 ? `[${batch.map(messageJson).join(',')}]` : JSON.stringify(batch));
  }
  return frames;
}

describe('JSON fast path', () => {
  it('takes every usual frame and gives the full path rows, for the simulator and a recorded stream', () => {
    const frames = [...simulatedFrames(), ...readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l !== '')];
    let fast = 0;
    for (const text of frames) {
      const full = parseJsonFrameFully(text);
      const usual = full.rejects.length === 0 && full.controls.length === 0 && full.events.every((e) => e.kind === 'trade' || e.kind === 'quote' || e.kind === 'bar');
      const taken = expectSame(text);
      // Not a timing assertion: only that the fast path really carries the usual frames.
      if (usual) expect(taken, text).toBe(true);
      if (taken) fast++;
    }
    expect(fast).toBeGreaterThan(100);
  });

  it('reads every message type it knows, and leaves the others to the full path', () => {
    for (const m of [TRADE, QUOTE, CRYPTO_QUOTE, BAR, UPDATED_BAR, DAILY_BAR]) expect(expectSame(`[${m}]`), m).toBe(true);
    expect(expectSame(`[${TRADE},${QUOTE},${BAR},${DAILY_BAR},${CRYPTO_QUOTE}]`)).toBe(true);
    for (const m of [STATUS, CORRECTION, '{"T":"success","msg":"connected"}']) expect(expectSame(`[${TRADE},${m}]`), m).toBe(false);
  });

  it('leaves a frame with a bad message to the full path, which rejects it and keeps the valid ones', () => {
    const crossed = QUOTE.replace('"bp":187.1', '"bp":188');
    expect(expectSame(`[${TRADE},${crossed},${QUOTE}]`)).toBe(false);
    const frame = parseJsonFrame(`[${TRADE},${crossed},${QUOTE}]`);
    expect(frame.events.map((e) => e.kind)).toEqual(['trade', 'quote']);
    expect(frame.rejects.map((r) => r.reason)).toEqual(['crossed_quote']);
  });

  it('agrees on hand-picked edge cases', () => {
    const cases = [
      '[]', '', '[', '[{}]', '[null]', '[1]', ' [' + TRADE + ']', '[' + TRADE + '] ', '[' + TRADE + ',]', '[' + TRADE + '][]',
      `[${TRADE.replace('"p":187.12', '"p":-0')}]`, `[${QUOTE.replace('"bp":187.1', '"bp":-0')}]`,
      `[${QUOTE.replace('"bs":2', '"bs":-0')}]`, `[${QUOTE.replace('"bp":187.1', '"bp":0').replace('"ap":187.13', '"ap":0')}]`,
      `[${QUOTE.replace('"bp":187.1', '"bp":0')}]`, `[${TRADE.replace('"i":52983525029461', '"i":9007199254740993')}]`,
      `[${TRADE.replace('"i":52983525029461', '"i":9007199254740991')}]`, `[${TRADE.replace('"i":52983525029461', '"i":1.0')}]`,
      `[${TRADE.replace('"i":52983525029461', '"i":1e3')}]`, `[${TRADE.replace('"i":52983525029461', '"i":1.5')}]`,
      `[${TRADE.replace('"i":52983525029461', '"i":-0')}]`, `[${TRADE.replace('"p":187.12', '"p":1e400')}]`,
      `[${TRADE.replace('"p":187.12', '"p":187.120000000000000000001')}]`, `[${TRADE.replace('"p":187.12', '"p":0.1e1')}]`,
      `[${TRADE.replace('"p":187.12', '"p":01')}]`, `[${TRADE.replace('"p":187.12', '"p":.5')}]`, `[${TRADE.replace('"p":187.12', '"p":5.')}]`,
      `[${TRADE.replace('"p":187.12', '"p":"187.12"')}]`, `[${TRADE.replace('"x":"V"', '"x":null')}]`, `[${TRADE.replace('"c":["@","I"]', '"c":null')}]`,
      `[${TRADE.replace('"c":["@","I"]', '"c":[]')}]`, `[${TRADE.replace('"c":["@","I"]', '"c":["@",1]')}]`, `[${TRADE.replace('"c":["@","I"]', '"c":"@"')}]`,
      `[${TRADE.replace(',"x":"V"', '')}]`, `[${TRADE.replace(',"z":"C"', '')}]`, `[${TRADE.replace(',"c":["@","I"]', '')}]`,
      `[${TRADE.replace(',"i":52983525029461', '')}]`, `[${TRADE.replace('"S":"AAPL"', '"S":"AA\\u0050L"')}]`,
      // A string seen first as an exchange code, then as a symbol, must still meet the symbol rules.
      `[${TRADE.replace('"x":"V"', '"x":"../x"')}]`, `[${TRADE.replace('"S":"AAPL"', '"S":"../x"')}]`, `[${TRADE.replace('"S":"AAPL"', '"S":""')}]`, `[${TRADE.replace('"x":"V"', '"x":"\\"V"')}]`,
      `[${TRADE.replace('"x":"V"', '"x":"é"')}]`, `[${TRADE.replace('"x":"V"', '"x":"\u0001"')}]`, `[${TRADE.replace('"x":"V"', '"x":"\u2028"')}]`,
      `[${TRADE.replace('"z":"C"', '"z":"C","z":"B"')}]`, `[${TRADE.replace('"z":"C"', '"z":"C","r":1')}]`, `[${TRADE.replace('"T":"t","S":"AAPL"', '"S":"AAPL","T":"t"')}]`,
      `[${TRADE.replace('"S":', '"\\u0053":')}]`,
      `[${TRADE.replace('2024-07-01T14:30:00.123456789Z', '2024-02-30T14:30:00Z')}]`, `[${TRADE.replace('2024-07-01T14:30:00.123456789Z', '2024-07-01T16:30:00+02:00')}]`,
      `[${TRADE.replace('2024-07-01T14:30:00.123456789Z', '2024-07-01t14:30:00z')}]`, `[${TRADE.replace('2024-07-01T14:30:00.123456789Z', '2024-07-01T14:30:00.1234567890Z')}]`,
      `[${BAR.replace('"l":544.8', '"l":546')}]`, `[${BAR.replace('"n":87', '"n":87.5')}]`, `[${BAR.replace('"v":12000', '"v":0')}]`, `[${BAR.replace('"vw":545.4', '"vw":-1')}]`,
      `[${TRADE.replace('{', '{ ')}]`, `[${TRADE.replace(':', ' :')}]`, `[${TRADE}\n]`, `[${TRADE.replace('"T":"t"', '"T":"tt"')}]`, `[${TRADE.replace('"T":"t"', '"T":1')}]`,
    ];
    for (const text of cases) expectSame(text);
  });

  it('reads prices and sizes exactly as JSON.parse does', () => {
    const prng = new Prng(7);
    for (let k = 0; k < 20_000; k++) {
      const v = prng.next() * 10 ** (prng.int(16) - 6);
      const forms = [String(v), v.toFixed(prng.int(12)), v.toPrecision(1 + prng.int(21)), v.toExponential(prng.int(18))];
      const text = forms[k % forms.length] as string;
      const frame = `[${TRADE.replace('"p":187.12', `"p":${text}`)}]`;
      const events = scanJsonFrame(frame);
      const expected = JSON.parse(text) as number;
      if (expected > 0 && expected < Infinity) {
        expect(events?.[0]?.kind === 'trade' && Object.is(events[0].row.price, expected), text).toBe(true);
      }
      expectSame(frame);
    }
  });

  it('agrees with the full path on 40,000 random mutations of valid frames', () => {
    const prng = new Prng(2024);
    const bases = simulatedFrames().filter((f) => f.length < 2000);
    bases.push(`[${TRADE},${QUOTE},${CRYPTO_QUOTE},${BAR},${UPDATED_BAR},${DAILY_BAR}]`);
    const chars = ['"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\n', '\t', '0', '1', '9', '.', 'e', 'E', '+', '-', 'a', 'T', 'S', 'Z', '\u0001', 'é', '\u2028', 'n'];
    const values = ['0', '-0', '-1', '1e2', '1E-2', '1.0', '01', '1.', '.5', '1e400', '9007199254740993', '0.1234567890123456789', '"5"', 'null', 'true', '[]', '{}', '1e', '--1', '""', '"a\\"b"', '"\\u0041"', '["R"]', '"2024-02-30T00:00:00Z"', '"2024-07-01T14:30:00+02:00"', '"../x"', '"A B"', '"t"', '"q"', '"b"', '"d"', '"x"'];
    const pick = <T,>(list: readonly T[]): T => list[prng.int(list.length)] as T;
    let fast = 0;
    let slow = 0;
    for (let k = 0; k < 40_000; k++) {
      let text = pick(bases);
      for (let m = 1 + prng.int(2); m > 0; m--) {
        const at = prng.int(text.length);
        const pairs = [...text.matchAll(/"([A-Za-z]{1,2})":("[^"]*"|\[[^\]]*\]|[^,}\]]+)/g)];
        const pair = pick(pairs);
        switch (prng.int(7)) {
          case 0: text = text.slice(0, at) + text.slice(at + 1); break;
          case 1: text = text.slice(0, at) + pick(chars) + text.slice(at); break;
          case 2: text = text.slice(0, at) + pick(chars) + text.slice(at + 1); break;
          case 3: text = text.slice(0, pair.index + pair[1]!.length + 3) + pick(values) + text.slice(pair.index + pair[0].length); break;
          case 4: text = text.slice(0, pair.index) + `${pair[0]},` + text.slice(pair.index); break;
          case 5: text = text.slice(0, pair.index) + text.slice(pair.index + pair[0].length + 1); break;
          default: {
            // A digit of a number changed: stays valid JSON, and often a valid message.
            const digits = [...text.matchAll(/\d/g)];
            const d = pick(digits);
            text = text.slice(0, d.index) + String(prng.int(10)) + text.slice(d.index + 1);
          }
        }
      }
      if (expectSame(text)) fast++;
      else slow++;
    }
    // Both outcomes are exercised: the comparison means something on each side.
    expect(fast).toBeGreaterThan(2_000);
    expect(slow).toBeGreaterThan(2_000);
  });
});
