/**
 * Which wire encoding is cheaper for the agent: the same realistic frames (100 messages each, from the simulator's
 * market model: trades, quotes, bars, corrections, cancels) decoded and validated as JSON text and as msgpack bytes,
 * against bare JSON.parse as the baseline. Also compares the event-time parsers, to see whether time parsing matters.
 *
 * Run alone: npx tsx bench/feed.bench.ts   (or through `npm run bench`, whose runner calls runFeedBench()).
 */
import { encode } from '@msgpack/msgpack';
import { pathToFileURL } from 'node:url';
import { parseIsoInstantNs } from '../core/time.ts';
import {
  decodeMsgpack,
  parseDecodedFrame,
  parseEventTimeNs,
  parseJsonFrame,
  parseMsgpackFrame,
} from '../edge-agent/feed/alpaca-messages.ts';
import type { AlpacaDataMessage } from '../edge-agent/simulator/alpaca-messages.ts';
import { MarketModel } from '../edge-agent/simulator/market-model.ts';
import { parseRfc3339Nanos } from '../core/rfc3339.ts';

export interface FeedBenchOptions {
  /** Messages per frame. @default 100 */
  readonly messagesPerFrame?: number;
  /** Frames in the corpus (one pass over it takes a few tens of ms). @default 100 */
  readonly frames?: number;
  /** Timed rounds (60 ms slices) per case, the cases taking turns; the best round counts. @default 25 */
  readonly rounds?: number;
  readonly seed?: number;
}

export interface FeedBenchRow {
  readonly case: string;
  readonly msgsPerSecond: number;
  /** msgsPerSecond relative to the baseline row (bare JSON.parse). */
  readonly vsBaseline: number;
  /** Wire bytes per message, where it applies. */
  readonly bytesPerMessage?: number;
}

export interface FeedBenchResult {
  readonly title: string;
  readonly rows: readonly FeedBenchRow[];
  /** JSON decode+validate throughput divided by msgpack decode+validate throughput. */
  readonly jsonOverMsgpack: number;
  readonly faster: 'json' | 'msgpack';
  readonly timeParsers: readonly { readonly parser: string; readonly parsesPerSecond: number }[];
  /** The tables as text, ready to print. */
  readonly text: string;
}

const START_NS = parseRfc3339Nanos('2024-07-01T14:29:00Z');

/** The frames a busy subscription sees: every channel, a few corrections and cancels. */
function corpus(options: Required<FeedBenchOptions>): AlpacaDataMessage[][] {
  const model = new MarketModel({
    seed: options.seed,
    symbols: ['AAPL', 'MSFT', 'NVDA', 'SPY', 'TSLA', 'AMZN', 'QQQ', 'BTC/USD', 'ETH/USD'],
    startNs: START_NS,
    correctionRate: 0.01,
    cancelRate: 0.01,
  });
  const messages: AlpacaDataMessage[] = [];
  let untilNs = START_NS;
  const wanted = options.frames * options.messagesPerFrame;
  // 2000 events per simulated second, so minutes close and bars appear among the ticks as on a live stream.
  while (messages.length < wanted) {
    untilNs += 1_000_000_000n;
    messages.push(...model.advance(2000, untilNs));
  }
  const frames: AlpacaDataMessage[][] = [];
  for (let i = 0; i < options.frames; i++) frames.push(messages.slice(i * options.messagesPerFrame, (i + 1) * options.messagesPerFrame));
  return frames;
}

interface BenchCase {
  readonly unitsPerPass: number;
  readonly run: () => number;
}

/**
 * Best-of-rounds throughput of each case, in units (messages, timestamps) per second. The cases take turns, round
 * by round, so load from other processes on a shared machine falls on all of them alike instead of on whichever
 * happened to run during it.
 */
function measureInterleaved(cases: readonly BenchCase[], rounds: number, sliceMs = 60): number[] {
  let sink = 0;
  // Warm up so the JIT has compiled every hot path before timing.
  for (const c of cases) {
    const warmUntil = performance.now() + 150;
    while (performance.now() < warmUntil) sink += c.run();
  }
  const best = cases.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      let passes = 0;
      const t0 = performance.now();
      let elapsed: number;
      do {
        sink += c.run();
        passes++;
        elapsed = performance.now() - t0;
      } while (elapsed < sliceMs);
      best[i] = Math.max(best[i] ?? 0, (passes * c.unitsPerPass) / (elapsed / 1000));
    });
  }
  if (sink === -1) console.log(sink); // keeps the work observable
  return best;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Runs the benchmark and returns its table (also as text). */
export function runFeedBench(options: FeedBenchOptions = {}): FeedBenchResult {
  const o: Required<FeedBenchOptions> = {
    messagesPerFrame: options.messagesPerFrame ?? 100,
    frames: options.frames ?? 100,
    rounds: options.rounds ?? 25,
    seed: options.seed ?? 42,
  };
  const frames = corpus(o);
  const total = frames.reduce((n, f) => n + f.length, 0);
  // As ws delivers them: a Buffer of UTF-8 for a text frame, bytes for a binary one.
  const jsonFrames = frames.map((f) => Buffer.from(JSON.stringify(f), 'utf8'));
  const msgpackFrames = frames.map((f) => encode(f));
  const decoded = jsonFrames.map((b) => JSON.parse(b.toString('utf8')) as unknown);
  const jsonBytes = jsonFrames.reduce((n, b) => n + b.length, 0) / total;
  const msgpackBytes = msgpackFrames.reduce((n, b) => n + b.length, 0) / total;

  // Both paths must agree before their speed means anything.
  for (let i = 0; i < frames.length; i++) {
    const a = parseJsonFrame(jsonFrames[i]?.toString('utf8') ?? '');
    const b = parseMsgpackFrame(msgpackFrames[i] ?? new Uint8Array());
    if (a.rejects.length > 0 || b.rejects.length > 0 || a.events.length !== b.events.length) {
      throw new Error(`feed bench: frame ${i} does not parse cleanly in both encodings`);
    }
  }

  const [baseline = 0, json = 0, msgpackOnly = 0, msgpack = 0, validateOnly = 0] = measureInterleaved(
    [
      {
        unitsPerPass: total,
        run: () => {
          let n = 0;
          for (const b of jsonFrames) n += (JSON.parse(b.toString('utf8')) as unknown[]).length;
          return n;
        },
      },
      {
        unitsPerPass: total,
        run: () => {
          let n = 0;
          for (const b of jsonFrames) n += parseJsonFrame(b.toString('utf8')).events.length;
          return n;
        },
      },
      {
        unitsPerPass: total,
        run: () => {
          let n = 0;
          for (const b of msgpackFrames) n += (decodeMsgpack(b) as unknown[]).length;
          return n;
        },
      },
      {
        unitsPerPass: total,
        run: () => {
          let n = 0;
          for (const b of msgpackFrames) n += parseMsgpackFrame(b).events.length;
          return n;
        },
      },
      {
        unitsPerPass: total,
        run: () => {
          let n = 0;
          for (const d of decoded) n += parseDecodedFrame(d).events.length;
          return n;
        },
      },
    ],
    o.rounds,
  );

  const rows: FeedBenchRow[] = [
    { case: 'JSON.parse only (baseline)', msgsPerSecond: baseline, vsBaseline: 1, bytesPerMessage: jsonBytes },
    { case: 'JSON decode + validate', msgsPerSecond: json, vsBaseline: json / baseline, bytesPerMessage: jsonBytes },
    { case: 'msgpack decode only', msgsPerSecond: msgpackOnly, vsBaseline: msgpackOnly / baseline, bytesPerMessage: msgpackBytes },
    { case: 'msgpack decode + validate', msgsPerSecond: msgpack, vsBaseline: msgpack / baseline, bytesPerMessage: msgpackBytes },
    { case: 'validate only (pre-decoded)', msgsPerSecond: validateOnly, vsBaseline: validateOnly / baseline },
  ];

  const stamps = frames.flat().map((m) => m.t);
  const parsers = [
    { parser: 'core/time.ts parseIsoInstantNs (typed input, brought to RFC 3339, then the strict parser)', parse: parseIsoInstantNs },
    { parser: 'core/rfc3339.ts parseRfc3339Nanos (the strict parser)', parse: parseRfc3339Nanos },
    { parser: 'feed parseEventTimeNs (fast path + date cache, else the strict parser)', parse: parseEventTimeNs },
  ];
  const parseRates = measureInterleaved(
    parsers.map(({ parse }) => ({
      unitsPerPass: stamps.length,
      run: () => {
        let n = 0;
        for (const t of stamps) if (parse(t) > 0n) n++;
        return n;
      },
    })),
    o.rounds,
  );
  const timeParsers = parsers.map(({ parser }, i) => ({ parser, parsesPerSecond: parseRates[i] ?? 0 }));

  const jsonOverMsgpack = json / msgpack;
  const faster = jsonOverMsgpack >= 1 ? 'json' : 'msgpack';
  const title = `feed decode + validate: ${o.frames} frames x ${o.messagesPerFrame} messages (seed ${o.seed}), best of ${o.rounds} rounds, node ${process.version}`;
  const w = Math.max(...rows.map((r) => r.case.length), ...timeParsers.map((t) => t.parser.length));
  const lines = [
    title,
    `${'case'.padEnd(w)}  ${'msgs/s'.padStart(12)}  ${'vs baseline'.padStart(11)}  ${'bytes/msg'.padStart(9)}`,
    ...rows.map(
      (r) =>
        `${r.case.padEnd(w)}  ${fmt(r.msgsPerSecond).padStart(12)}  ${r.vsBaseline.toFixed(2).padStart(11)}  ${(r.bytesPerMessage === undefined ? '' : r.bytesPerMessage.toFixed(1)).padStart(9)}`,
    ),
    `JSON / msgpack (decode + validate): ${jsonOverMsgpack.toFixed(2)}x -> ${faster} is faster`,
    '',
    `${'event-time parser'.padEnd(w)}  ${'parses/s'.padStart(12)}`,
    ...timeParsers.map((t) => `${t.parser.padEnd(w)}  ${fmt(t.parsesPerSecond).padStart(12)}`),
  ];
  return { title, rows, jsonOverMsgpack, faster, timeParsers, text: lines.join('\n') };
}

// Only when this file is the entry point (tsx bench/feed.bench.ts), not when bench/run.ts imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(runFeedBench().text);
}
