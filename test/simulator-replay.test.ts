import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { decode } from '@msgpack/msgpack';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type CsvRecord, parseMarketCsv } from '../core/codec/market-csv.ts';
import { AlpacaStreamClient } from '../edge-agent/feed/alpaca-client.ts';
import { type ParsedFrame, parseJsonFrame, parseMsgpackFrame } from '../edge-agent/feed/alpaca-messages.ts';
import type { FeedEvent } from '../edge-agent/feed/feed-event.ts';
import { silentLog } from '../edge-agent/log.ts';
import { FAULT_KINDS, MALFORMED_KINDS, REJECT_REASON_OF_FAULT } from '../edge-agent/simulator/faults.ts';
import { alpacaMessageOfCsvRow } from '../edge-agent/simulator/replay-stream.ts';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../edge-agent/simulator/simulator-server.ts';
import { REPO_ROOT, sharedCsvFiles } from './support/shared-data.ts';
import { ConditionWaiter } from './support/condition-waiter.ts';

const CSV_FILES = sharedCsvFiles();
const JSONL_FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'alpaca-stream-sample.jsonl');
const byName = (fragment: string): string => {
  const file = CSV_FILES.find((f) => basename(f).includes(fragment));
  if (file === undefined) throw new Error(`no shared CSV named like ${fragment}`);
  return file;
};
const records = (file: string): CsvRecord[] => parseMarketCsv(readFileSync(file, 'utf8'), file).records;

const scratch = mkdtempSync(join(tmpdir(), 'tv-sim-replay-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A real `ws` client that logs in, subscribes, and keeps every frame, raw and as the agent's parser sees it. */
class Recorder {
  readonly texts: string[] = [];
  readonly messages: Record<string, unknown>[] = [];
  readonly frames: ParsedFrame[] = [];
  readonly arrivals: number[] = [];
  closeCode: number | undefined;
  broken = 0;
  /** Data messages so far, cheap to poll. */
  dataCount = 0;
  eventCount = 0;
  private readonly waiter = new ConditionWaiter();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      const text = isBinary ? '' : bytes.toString('utf8');
      if (!isBinary) this.texts.push(text);
      const frame = isBinary ? parseMsgpackFrame(bytes) : parseJsonFrame(text);
      this.frames.push(frame);
      this.eventCount += frame.events.length;
      try {
        const messages = (isBinary ? decode(bytes) : JSON.parse(text)) as Record<string, unknown>[];
        this.messages.push(...messages);
        this.dataCount += messages.filter((m) => !['success', 'error', 'subscription'].includes(m['T'] as string)).length;
      } catch {
        this.broken++; // an injected broken frame: the parsed frame above holds its reject
      }
      this.arrivals.push(performance.now());
      this.waiter.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.waiter.wake();
    });
  }

  static async subscribe(url: string, subscription: Record<string, string[]>, msgpack = false): Promise<Recorder> {
    const ws = new WebSocket(url, { headers: msgpack ? { 'Content-Type': 'application/msgpack' } : {} });
    const client = new Recorder(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const send = (request: unknown): void => ws.send(JSON.stringify(request));
    await client.until(() => client.messages.some((m) => m['msg'] === 'connected'), 'connected');
    send({ action: 'auth', key: 'k', secret: 's' });
    await client.until(() => client.messages.some((m) => m['msg'] === 'authenticated'), 'authenticated');
    send({ action: 'subscribe', ...subscription });
    await client.until(() => client.messages.some((m) => m['T'] === 'subscription'), 'subscription');
    return client;
  }

  events(): FeedEvent[] {
    return this.frames.flatMap((f) => f.events);
  }

  dataMessages(): Record<string, unknown>[] {
    return this.messages.filter((m) => !['success', 'error', 'subscription'].includes(m['T'] as string));
  }

  until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return this.waiter.until(condition, timeoutMs, () => `timed out waiting for ${what}; ${this.messages.length} messages so far`);
  }
}

async function withSimulator(options: SimulatorOptions, body: (sim: RunningSimulator) => Promise<void>): Promise<void> {
  const sim = await startSimulator(options);
  try {
    await body(sim);
  } finally {
    await sim.close();
  }
}

/** What the agent stores for a CSV row that went through the simulator: the same row, missing quote sizes as 0. */
function rowAfterServing(record: CsvRecord): unknown {
  if (record.kind === 'trades') return record.row;
  return { ...record.row, bid_size: record.row.bid_size ?? 0, ask_size: record.row.ask_size ?? 0 };
}

describe('simulator serving a replay', () => {
  it('sends every row of every shared CSV once, in file order, as Alpaca messages the agent parses back to the row', async () => {
    const expected = CSV_FILES.flatMap(records);
    await withSimulator({ replay: { files: CSV_FILES, speed: 'max' } }, async (sim) => {
      const client = await Recorder.subscribe(sim.url, { trades: ['*'], quotes: ['*'] });
      const stats = await sim.replayFinished;
      await client.until(() => client.dataCount >= expected.length, 'the whole replay');
      expect(client.dataMessages()).toEqual(expected.map((r) => alpacaMessageOfCsvRow(r.kind, r.row)));
      expect(client.frames.every((f) => f.rejects.length === 0)).toBe(true);
      expect(client.events().map((e) => ('row' in e ? e.row : e))).toEqual(expected.map(rowAfterServing));
      expect(stats).toEqual({
        files: CSV_FILES.length,
        filesDone: CSV_FILES.length,
        linesRead: expected.length,
        badLines: 0,
        messages: expected.length,
        recordedFrames: 0,
        done: true,
      });
      expect(sim.stats()).toMatchObject({ validMessagesSent: expected.length, messagesGenerated: expected.length });
      expect(sim.stats().faults).toEqual(Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])));
    });
  });

  it('formats the Alpaca fields as documented: RFC 3339 nanoseconds, empty quote sizes as 0', () => {
    const [trade] = records(byName('trades_databento'));
    const [quote] = records(byName('quotes_truefx'));
    if (trade === undefined || quote === undefined) throw new Error('no rows');
    expect(alpacaMessageOfCsvRow(trade.kind, trade.row)).toEqual({
      T: 't', S: 'ESU4', i: 1, x: 'GLBX', p: 5528.75, s: 2, t: '2024-07-01T23:58:01.218218853Z', c: [], z: '',
    });
    expect(alpacaMessageOfCsvRow(quote.kind, quote.row)).toEqual({
      T: 'q', S: 'USDJPY', bx: 'TRUEFX', bp: 86.655, bs: 0, ax: 'TRUEFX', ap: 86.728, as: 0, t: '2013-01-01T22:00:00.295000000Z', c: [], z: '',
    });
    expect(alpacaMessageOfCsvRow('trades', { ...trade.row, trade_id: 2n ** 53n })).toMatch(/outside 0..2\^53-1/);
  });

  it('waits for the first subscriber before playing, and filters by subscription', async () => {
    const file = byName('quotes_databento');
    await withSimulator({ replay: { files: [byName('trades_databento'), file], speed: 'max' } }, async (sim) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sim.stats().replay?.linesRead).toBe(0);
      const client = await Recorder.subscribe(sim.url, { quotes: ['ESU4'] });
      await sim.replayFinished;
      const rows = records(file);
      await client.until(() => client.dataCount >= rows.length, 'every quote');
      expect(client.dataMessages()).toEqual(rows.map((r) => alpacaMessageOfCsvRow(r.kind, r.row)));
      expect(sim.stats()).toMatchObject({ tradesSent: 0, quotesSent: rows.length });
    });
  });

  it('serves msgpack clients the same messages', async () => {
    const file = byName('trades_databento');
    await withSimulator({ replay: { files: [file], speed: 'max' } }, async (sim) => {
      const client = await Recorder.subscribe(sim.url, { trades: ['*'] }, true);
      await sim.replayFinished;
      const rows = records(file);
      await client.until(() => client.dataCount >= rows.length, 'every trade');
      expect(client.dataMessages()).toEqual(rows.map((r) => alpacaMessageOfCsvRow(r.kind, r.row)));
      expect(client.events().map((e) => ('row' in e ? e.row : e))).toEqual(rows.map((r) => r.row));
    });
  });

  it('paces by the recorded timestamps: a 2-second span at speed 10 takes between 0.1 s and 2 s', async () => {
    const lines = readFileSync(byName('quotes_tardis'), 'utf8').split('\n');
    const first = BigInt(lines[1]?.split(',')[0] ?? '0');
    const span = lines.slice(1).filter((l) => l !== '' && BigInt(l.split(',')[0] ?? '0') - first <= 2_500_000_000n);
    const file = join(scratch, 'two-seconds.csv');
    writeFileSync(file, [lines[0], ...span].join('\n'));
    await withSimulator({ replay: { files: [file], speed: 10 } }, async (sim) => {
      const client = await Recorder.subscribe(sim.url, { quotes: ['*'] });
      const started = performance.now();
      await sim.replayFinished;
      const seconds = (performance.now() - started) / 1000;
      await client.until(() => client.dataCount >= span.length, 'every quote');
      expect(seconds).toBeGreaterThan(0.1);
      expect(seconds).toBeLessThan(2);
      // The first quote stands alone 2.3 s before the rest: at speed 10 it arrives about 0.23 s earlier.
      const gapMs = (client.arrivals.at(-1) ?? 0) - (client.arrivals[3] ?? 0);
      expect(gapMs).toBeGreaterThan(50);
    });
  });

  it('sends JSONL frames byte for byte, skipping and counting the lines that are not frames', async () => {
    const lines = readFileSync(JSONL_FIXTURE, 'utf8').split('\n').slice(0, -1);
    const frames = lines.filter((l) => {
      try {
        return Array.isArray(JSON.parse(l));
      } catch {
        return false;
      }
    });
    await withSimulator({ replay: { files: [JSONL_FIXTURE], speed: 'max' } }, async (sim) => {
      const client = await Recorder.subscribe(sim.url, { trades: ['AAPL'] });
      const sessionFrames = client.texts.length;
      const stats = await sim.replayFinished;
      await client.until(() => client.texts.length >= sessionFrames + frames.length, 'every recorded frame');
      expect(client.texts.slice(sessionFrames)).toEqual(frames);
      expect(stats).toMatchObject({ linesRead: lines.length, badLines: 4, recordedFrames: frames.length, messages: 0, done: true });
      expect(sim.stats().recordedFramesSent).toBe(frames.length);
    });
  });

  it("lets the agent's own Alpaca client receive a recorded day", async () => {
    const files = [byName('trades_databento'), byName('quotes_databento')];
    const expected = files.flatMap(records);
    await withSimulator({ replay: { files, speed: 'max' } }, async (sim) => {
      const events: FeedEvent[] = [];
      const client = new AlpacaStreamClient({
        url: sim.url,
        keyId: 'key',
        secretKey: 'secret',
        subscription: { trades: ['ESU4'], quotes: ['ESU4'] },
        onFrame: (frame) => events.push(...frame.events),
        log: silentLog,
      });
      await client.start();
      try {
        await sim.replayFinished;
        const deadline = Date.now() + 20_000;
        while (events.length < expected.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        expect(events.map((e) => ('row' in e ? e.row : e))).toEqual(expected.map(rowAfterServing));
      } finally {
        await client.stop();
      }
    });
  });

  it('injects faults into a replay: the parser rejects exactly what was injected and every row still arrives', async () => {
    const file = byName('trades_tardis');
    const rows = records(file);
    await withSimulator(
      { seed: 3, replay: { files: [file], speed: 'max' }, faults: { malformedFrameRate: 0.02, duplicateRate: 0.01, outOfOrderRate: 0.01 } },
      async (sim) => {
        const client = await Recorder.subscribe(sim.url, { trades: ['*'] });
        await sim.replayFinished;
        const { faults, validMessagesSent } = sim.stats();
        await client.until(() => client.eventCount >= validMessagesSent + faults.duplicate, 'every valid message and duplicate');
        expect(validMessagesSent).toBe(rows.length);
        for (const kind of MALFORMED_KINDS) expect(faults[kind], kind).toBeGreaterThan(10);
        const rejects = client.frames.flatMap((f) => f.rejects.map((r) => r.reason));
        for (const kind of MALFORMED_KINDS) {
          expect(rejects.filter((r) => r === REJECT_REASON_OF_FAULT[kind]).length, kind).toBe(faults[kind]);
        }
        expect(rejects).toHaveLength(MALFORMED_KINDS.reduce((sum, kind) => sum + faults[kind], 0));
        // Every row arrived; duplicates aside, each exactly once.
        const ids = client.events().map((e) => ('row' in e && 'trade_id' in e.row ? e.row.trade_id : -1n));
        expect(ids).toHaveLength(rows.length + faults.duplicate);
        expect(new Set(ids).size).toBe(rows.length);
        expect([...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(
          rows.map((r) => (r.kind === 'trades' ? r.row.trade_id : -1n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
        );
        expect(faults.out_of_order).toBeGreaterThan(10);
      },
    );
  });

  it('fails fast, naming the file, when a replay file is missing or unreadable as market data', async () => {
    await expect(startSimulator({ replay: { files: [join(scratch, 'missing.csv')], speed: 'max' } })).rejects.toThrow(
      /simulator option replay.files: .*missing\.csv: cannot open for replay/,
    );
    const odd = join(scratch, 'odd.csv');
    writeFileSync(odd, 'a,b,c\n1,2,3\n');
    await expect(startSimulator({ replay: { files: [odd], speed: 'max' } })).rejects.toThrow(/odd\.csv: unrecognised CSV header/);
    await expect(startSimulator({ replay: { files: [odd], speed: -1 } })).rejects.toThrow(/speed must be 'max' or a positive number/);
  });
});
