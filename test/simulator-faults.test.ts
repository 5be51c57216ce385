import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import { type ParsedFrame, parseJsonFrame, parseMsgpackFrame } from '../edge-agent/feed/alpaca-messages.ts';
import type { AlpacaDataMessage } from '../edge-agent/simulator/alpaca-messages.ts';
import { ClientFaults, FAULT_KINDS, type FaultEntry, MALFORMED_KINDS, REJECT_REASON_OF_FAULT } from '../edge-agent/simulator/faults.ts';
import { MarketModel } from '../edge-agent/simulator/market-model.ts';
import { messageJson } from '../edge-agent/simulator/message-json.ts';
import { Prng } from '../edge-agent/simulator/prng.ts';
import { alpacaMessageOfCsvRow } from '../edge-agent/simulator/replay-stream.ts';
import { Rfc3339Stamper, formatRfc3339Nanos, parseRfc3339Nanos } from '../core/rfc3339.ts';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../edge-agent/simulator/simulator-server.ts';
import { sharedCsvFiles } from './support/shared-data.ts';
import { ConditionWaiter } from './support/condition-waiter.ts';

const START_NS = parseRfc3339Nanos('2024-07-01T14:29:58Z');
const SUBSCRIBE_ALL = { trades: ['*'], quotes: ['*'] };

interface RecorderOptions {
  readonly msgpack?: boolean;
  /** Open a new connection whenever one closes, up to this many connections in all. @default 1 */
  readonly connections?: number;
}

/**
 * A real `ws` client that logs in, subscribes and keeps every frame as the agent's parser sees it; with
 * `connections` it opens a new connection whenever one closes, as the agent does.
 */
class Recorder {
  readonly frames: ParsedFrame[] = [];
  /** Data messages as decoded, per frame that decoded. */
  readonly messages: Record<string, unknown>[] = [];
  readonly closeCodes: number[] = [];
  readonly errors: Record<string, unknown>[] = [];
  connections = 0;
  subscribed = false;
  /** Events so far (the sum over `frames`), cheap to poll. */
  eventCount = 0;
  private ws: WebSocket | undefined;
  private stopped = false;
  private readonly waiter = new ConditionWaiter();

  constructor(
    private readonly url: string,
    private readonly options: RecorderOptions = {},
  ) {}

  /** Connects and starts the login; see `subscribe` to wait for the subscription. */
  static open(url: string, options: RecorderOptions = {}): Recorder {
    const client = new Recorder(url, options);
    client.connect();
    return client;
  }

  static async subscribe(url: string, options: RecorderOptions = {}): Promise<Recorder> {
    const client = Recorder.open(url, options);
    await client.until(() => client.subscribed, 'subscription');
    return client;
  }

  /** Stops reading from the socket, like a client that hangs. */
  pause(): void {
    this.ws?.pause();
  }

  private connect(): void {
    const ws = new WebSocket(this.url, { headers: this.options.msgpack === true ? { 'Content-Type': 'application/msgpack' } : {} });
    this.ws = ws;
    this.connections++;
    const send = (request: unknown): void => ws.send(JSON.stringify(request));
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      const frame = isBinary ? parseMsgpackFrame(bytes) : parseJsonFrame(bytes.toString('utf8'));
      for (const control of frame.controls) {
        if (control.T === 'success' && control.msg === 'connected') send({ action: 'auth', key: 'k', secret: 's' });
        else if (control.T === 'success' && control.msg === 'authenticated') send({ action: 'subscribe', ...SUBSCRIBE_ALL });
        else if (control.T === 'subscription') this.subscribed = true;
        else if (control.T === 'error') this.errors.push(control);
      }
      if (frame.controls.length === 0) {
        this.frames.push(frame);
        this.eventCount += frame.events.length;
      }
      this.waiter.wake();
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      this.closeCodes.push(code);
      if (this.connections < (this.options.connections ?? 1) && !this.stopped) setTimeout(() => this.connect(), 10);
      this.waiter.wake();
    });
  }

  events(): ParsedFrame['events'] {
    return this.frames.flatMap((f) => f.events);
  }

  rejectReasons(): string[] {
    return this.frames.flatMap((f) => f.rejects.map((r) => r.reason));
  }

  until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return this.waiter.until(condition, timeoutMs, () => `timed out waiting for ${what}; ${this.frames.length} frames, closes ${this.closeCodes.join(',')}`);
  }

  /** Stops reconnecting and waits for the current connection to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    const ws = this.ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close();
    });
  }
}

async function withSimulator(options: SimulatorOptions, body: (sim: RunningSimulator) => Promise<void>): Promise<void> {
  const sim = await startSimulator({ seed: 5, ...options });
  try {
    await body(sim);
  } finally {
    await sim.close();
  }
}

/** A key that tells messages apart (quotes have no id; their whole content does). */
const keyOf = (event: ParsedFrame['events'][number]): string =>
  JSON.stringify('row' in event ? event.row : event, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('simulator fault injection, checked with the agent parser', () => {
  it.each([false, true])(
    'injects malformed messages, duplicates and late messages, counts each, and loses no valid message (msgpack %s)',
    async (msgpack) => {
      await withSimulator(
        { messagesPerSecond: 20_000, faults: { malformedFrameRate: 0.03, duplicateRate: 0.02, outOfOrderRate: 0.02 } },
        async (sim) => {
          const produced: AlpacaDataMessage[] = [];
          sim.tap((messages) => produced.push(...messages));
          const client = await Recorder.subscribe(sim.url, { msgpack });
          await client.until(() => {
            const { faults } = sim.stats();
            return MALFORMED_KINDS.every((kind) => faults[kind] >= 8) && faults.duplicate >= 30 && faults.out_of_order >= 30;
          }, 'enough faults of every kind');
          // Closing the simulator sends what is queued, then the close frame: afterwards the counts stand still.
          await sim.close();
          await client.until(() => client.closeCodes.length > 0, 'the close');
          const { faults, validMessagesSent, tradesSent, quotesSent } = sim.stats();

          const reasons = client.rejectReasons();
          for (const kind of MALFORMED_KINDS) {
            expect(reasons.filter((r) => r === REJECT_REASON_OF_FAULT[kind]).length, kind).toBe(faults[kind]);
          }
          expect(reasons).toHaveLength(MALFORMED_KINDS.reduce((sum, kind) => sum + faults[kind], 0));

          const events = client.events();
          expect(events).toHaveLength(validMessagesSent + faults.duplicate);
          expect(validMessagesSent).toBe(tradesSent + quotesSent);
          const seen = new Set<string>();
          let repeats = 0;
          let inversions = 0;
          let lastTs = -1n;
          for (const event of events) {
            const key = keyOf(event);
            if (seen.has(key)) {
              repeats++;
              continue;
            }
            seen.add(key);
            const ts = 'row' in event ? event.row.ts : 0n;
            if (ts < lastTs) inversions++;
            lastTs = ts;
          }
          expect(repeats).toBe(faults.duplicate);
          expect(faults.duplicate).toBeGreaterThan(20);
          // Each late message arrives right after a later-stamped one: exactly one step back in time.
          expect(inversions).toBe(faults.out_of_order);
          expect(faults.out_of_order).toBeGreaterThan(20);
          // Every trade and quote the market made while the client was subscribed reached it, in the middle at least.
          const streamKeys = produced
            .filter((m) => m.T === 't' || m.T === 'q')
            .flatMap((m) => parseJsonFrame(JSON.stringify([m])).events.map(keyOf));
          const first = streamKeys.findIndex((k) => seen.has(k));
          const missing = streamKeys.slice(first).filter((k) => !seen.has(k));
          expect(missing.length).toBeLessThanOrEqual(1); // at most the one held back when the simulator closed
          expect(seen.size).toBe(validMessagesSent);
        },
      );
    },
  );

  it('drops a connection after N messages without a closing handshake; a reconnecting client keeps every message', async () => {
    await withSimulator({ messagesPerSecond: 10_000, faults: { disconnectAfterMessages: 300 } }, async (sim) => {
      const client = await Recorder.subscribe(sim.url, { connections: 3 });
      await client.until(() => client.closeCodes.length >= 3, 'three drops');
      const { faults, validMessagesSent } = sim.stats();
      expect(client.closeCodes).toEqual([1006, 1006, 1006]);
      expect(faults.disconnect).toBe(3);
      expect(validMessagesSent).toBe(3 * 300);
      expect(client.events()).toHaveLength(3 * 300);
      expect(new Set(client.events().map(keyOf)).size).toBe(3 * 300);
    });
  });

  it('drops every connection every disconnectEveryMs', async () => {
    await withSimulator({ messagesPerSecond: 5_000, faults: { disconnectEveryMs: 150 } }, async (sim) => {
      const client = await Recorder.subscribe(sim.url, { connections: 4 });
      await client.until(() => client.closeCodes.length >= 4, 'four drops');
      const { faults, validMessagesSent } = sim.stats();
      expect(client.closeCodes).toEqual([1006, 1006, 1006, 1006]);
      expect(faults.disconnect).toBe(4);
      expect(client.events().length).toBe(validMessagesSent);
      expect(validMessagesSent).toBeGreaterThan(100);
    });
  });

  it('answers every login with 402 when authFailure is set', async () => {
    await withSimulator({ faults: { authFailure: true } }, async (sim) => {
      const client = Recorder.open(sim.url);
      await client.until(() => client.errors.length > 0, 'an error');
      expect(client.errors).toEqual([{ T: 'error', code: 402, msg: 'auth failed' }]);
      expect(client.subscribed).toBe(false);
      expect(sim.stats().faults.auth_failure).toBe(1);
      await client.stop();
    });
  });

  it('sends 407 slow client and closes after slowClientAfterMessages', async () => {
    await withSimulator({ messagesPerSecond: 10_000, faults: { slowClientAfterMessages: 250 } }, async (sim) => {
      const client = await Recorder.subscribe(sim.url);
      await client.until(() => client.closeCodes.length > 0, 'the close');
      expect(client.errors).toEqual([{ T: 'error', code: 407, msg: 'slow client' }]);
      expect(client.closeCodes).toEqual([1008]);
      expect(client.events()).toHaveLength(250);
      expect(sim.stats().faults.slow_client).toBe(1);
      expect(sim.stats().validMessagesSent).toBe(250);
    });
  });

  it('rejects bad fault options, naming them', async () => {
    await expect(startSimulator({ faults: { malformedFrameRate: 1.5 } })).rejects.toThrow(/faults.malformedFrameRate must be within \[0, 1\]/);
    await expect(startSimulator({ faults: { disconnectAfterMessages: 0 } })).rejects.toThrow(/faults.disconnectAfterMessages must be a positive integer/);
  });

  it('decides the same faults for the same messages and seed, cycling through the malformed kinds', () => {
    const model = new MarketModel({ seed: 4, symbols: ['AAPL', 'SPY'], startNs: START_NS });
    const messages = model.advance(5000, START_NS + 10_000_000_000n).filter((m) => m.T === 't' || m.T === 'q');
    const run = (seed: number): FaultEntry[] => {
      const faults = new ClientFaults({ malformedFrameRate: 0.05, duplicateRate: 0.05, outOfOrderRate: 0.05 }, seed, false);
      const out: FaultEntry[] = [];
      for (const m of messages) faults.process(m, (e) => out.push(e));
      faults.release((e) => out.push(e));
      return out;
    };
    const a = run(1);
    expect(run(1)).toEqual(a);
    expect(run(2)).not.toEqual(a);
    const kinds = a.flatMap((e) => (e.type === 'broken' ? ['malformed_json'] : e.type === 'malformed' ? [e.kind] : []));
    expect(kinds.slice(0, 12)).toEqual([...MALFORMED_KINDS, ...MALFORMED_KINDS]);
    // Nothing valid is lost or invented: the valid entries are the input, each once.
    const valid = a.filter((e) => e.type === 'message' && e.fault !== 'duplicate').map((e) => (e.type === 'message' ? e.message : undefined));
    expect(new Set(valid)).toEqual(new Set(messages));
    expect(valid).toHaveLength(messages.length);
  });
});

describe("simulator at 'max'", () => {
  it('streams the model as fast as the client takes it, in full frames, losing nothing', async () => {
    await withSimulator({ messagesPerSecond: 'max', batchMax: 500 }, async (sim) => {
      const client = await Recorder.subscribe(sim.url);
      await client.until(() => client.eventCount >= 200_000, '200k messages');
      await sim.close();
      await client.until(() => client.closeCodes.length > 0, 'the close');
      const { validMessagesSent, faults } = sim.stats();
      expect(client.events()).toHaveLength(validMessagesSent);
      expect(client.rejectReasons()).toEqual([]);
      expect(Object.values(faults).every((n) => n === 0)).toBe(true);
      expect(client.frames.filter((f) => f.messageCount === 500).length).toBeGreaterThan(client.frames.length * 0.9);
    });
  });

  it('produces nothing while nobody is subscribed', async () => {
    await withSimulator({ messagesPerSecond: 'max' }, async (sim) => {
      await sleep(100);
      expect(sim.stats().messagesGenerated).toBe(0);
    });
  });

  it('disconnects a client that takes nothing for 5 s with 407 instead of stalling everyone', async () => {
    await withSimulator({ messagesPerSecond: 'max', maxModeBufferedBytes: 256 * 1024 }, async (sim) => {
      const stuck = await Recorder.subscribe(sim.url);
      const healthy = await Recorder.subscribe(sim.url);
      stuck.pause();
      await healthy.until(() => sim.stats().slowClientsDisconnected === 1, 'the stuck client to be cut off', 20_000);
      const before = healthy.eventCount;
      await healthy.until(() => healthy.eventCount > before + 50_000, 'the healthy client to get more');
    });
  }, 30_000);
});

describe('fast JSON of data messages', () => {
  it('equals JSON.stringify for every kind of model message and every shared CSV row', () => {
    const model = new MarketModel({ seed: 8, symbols: ['AAPL', 'BTC/USD', 'Odd.Sym-1'], startNs: START_NS, correctionRate: 0.05, cancelRate: 0.05 });
    const messages = model.advance(20_000, START_NS + 200_000_000_000n);
    expect(new Set(messages.map((m) => m.T))).toEqual(new Set(['t', 'q', 'b', 'd', 'c', 'x']));
    for (const m of messages) expect(messageJson(m)).toBe(JSON.stringify(m));
    for (const file of sharedCsvFiles()) {
      for (const { kind, row } of parseMarketCsv(readFileSync(file, 'utf8'), file).records) {
        const m = alpacaMessageOfCsvRow(kind, row);
        if (typeof m === 'string') throw new Error(m);
        expect(messageJson(m)).toBe(JSON.stringify(m));
      }
    }
  });

  it('stamps instants from offsets exactly as formatRfc3339Nanos does', () => {
    const prng = new Prng(99);
    for (let k = 0; k < 200; k++) {
      const base = BigInt(Math.floor((prng.next() - 0.3) * 4e18)) + BigInt(prng.int(1_000_000_000));
      const stamper = new Rfc3339Stamper(base);
      let offset = prng.int(5) === 0 ? -prng.int(3_000_000_000) : 0;
      for (let n = 0; n < 200; n++) {
        offset += prng.chance(0.1) ? prng.int(2_000_000_000) : prng.int(1000);
        expect(stamper.format(offset)).toBe(formatRfc3339Nanos(base + BigInt(offset)));
      }
    }
  });
});

describe('fault stats', () => {
  it('name every kind, all zero when no fault is configured', async () => {
    await withSimulator({}, async (sim) => {
      expect(Object.keys(sim.stats().faults).sort()).toEqual([...FAULT_KINDS].sort());
      expect(sim.stats().replay).toBeUndefined();
      expect(sim.replayFinished).toBeUndefined();
    });
  });
});
