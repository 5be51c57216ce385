/**
 * Ingest end to end: frames through a real loopback WebSocket into the agent (validation, hot tier, write-ahead
 * log where enabled, warm buffers), in messages/s, beside the named baseline: bare JSON.parse of the same frames.
 * Between them: the feed parser in process (full path and fast path), and the transport ceiling, a client on the
 * same WebSocket that only parses.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { EdgeAgent } from '../edge-agent/agent.ts';
import { resolveAgentConfig } from '../edge-agent/config.ts';
import { parseJsonFrame, parseJsonFrameFully } from '../edge-agent/feed/alpaca-messages.ts';
import { silentLog } from '../edge-agent/log.ts';
import { INGEST_SYMBOLS, ingestFrames } from './ingest-frames.ts';
import type { BenchTable } from './table.ts';

const MESSAGES = 500_000;

function rate(count: number, ms: number): number {
  return (count / ms) * 1000;
}

async function startSender(messageCount: number): Promise<{ port: number; done: Promise<void> }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'bin', 'run-ts.js'), join(import.meta.dirname, 'ingest-sender.ts'), String(messageCount)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const m = /^PORT (\d+)$/.exec(line);
    if (m) return { port: Number(m[1]), done };
  }
  throw new Error('ingest sender exited without listening');
}

/**
 * The transport ceiling: the same sender, and a bare ws client that does nothing but JSON.parse each frame. What
 * the loopback WebSocket and the CPUs shared with the sender leave for any agent, whatever it does with a message.
 */
async function runParseOnlyClient(messageCount: number): Promise<number> {
  const sender = await startSender(messageCount);
  const startedNs = process.hrtime.bigint();
  const socket = new WebSocket(`ws://127.0.0.1:${sender.port}/v2/iex`, { perMessageDeflate: false });
  let messages = 0;
  let subscribed = false;
  const doneNs = await new Promise<bigint>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { T?: string; msg?: string }[];
      if (!subscribed) {
        const first = frame[0];
        if (first?.T === 'success' && first.msg === 'connected') socket.send(JSON.stringify({ action: 'auth', key: 'bench', secret: 'bench' }));
        else if (first?.T === 'success') socket.send(JSON.stringify({ action: 'subscribe', trades: INGEST_SYMBOLS }));
        else if (first?.T === 'subscription') subscribed = true;
        return;
      }
      messages += frame.length;
      if (messages >= messageCount) resolve(process.hrtime.bigint());
    });
  });
  socket.close();
  await sender.done;
  return rate(messages, Number(doneNs - startedNs) / 1e6);
}

/** Messages per second of one timed pass of `count` over the frames. */
function timedPass(frames: readonly string[], count: (frame: string) => number): number {
  const t = process.hrtime.bigint();
  let messages = 0;
  for (const f of frames) messages += count(f);
  return rate(messages, Number(process.hrtime.bigint() - t) / 1e6);
}

export async function runIngestBench(): Promise<BenchTable[]> {
  const frames = ingestFrames(MESSAGES);
  // The in-process rows: an untimed pass each, then three timed passes taking turns; the best counts, so the
  // baseline is not a cold first pass.
  const cases = [
    (f: string) => (JSON.parse(f) as unknown[]).length,
    (f: string) => parseJsonFrameFully(f).events.length,
    (f: string) => parseJsonFrame(f).events.length,
  ];
  for (const count of cases) timedPass(frames, count);
  const best = cases.map(() => 0);
  for (let r = 0; r < 3; r++) cases.forEach((count, i) => { best[i] = Math.max(best[i] as number, timedPass(frames, count)); });
  const [bare, full, fast] = best as [number, number, number];
  const share = (r: number): string => `${((r / bare) * 100).toFixed(0)}%`;

  const ceiling = await runParseOnlyClient(MESSAGES);

  const dataDir = mkdtempSync(join(tmpdir(), 'tv-bench-ingest-'));
  const sender = await startSender(MESSAGES);
  try {
    const config = resolveAgentConfig({
      cli: { dataDir, feed: 'alpaca', alpacaUrl: `ws://127.0.0.1:${sender.port}/v2/iex`, alpacaKeyId: 'bench', alpacaSecretKey: 'bench', symbols: INGEST_SYMBOLS, flushIntervalSeconds: 3600 },
      env: {},
    });
    const agent = new EdgeAgent(config, { store: new LocalDirectoryStore(join(dataDir, 'store')), log: silentLog });
    const startedNs = process.hrtime.bigint();
    await agent.start();
    while (agent.report().received < MESSAGES) await new Promise((r) => setTimeout(r, 5));
    const ingestMs = Number(process.hrtime.bigint() - startedNs) / 1e6;
    const report = await agent.stop();
    await sender.done;
    const accepted = Object.values(report.accepted).reduce((a, b) => a + b, 0);
    const agentRate = rate(report.received, ingestMs);
    return [{
      title: `Ingest end to end: ${MESSAGES.toLocaleString('en-US')} messages, ${frames.length.toLocaleString('en-US')} frames, ${INGEST_SYMBOLS.length} symbols`,
      columns: ['path', 'messages/s', 'vs baseline'],
      rows: [
        ['baseline: bare JSON.parse of the same frames', bare, '100%'],
        ['JSON.parse + validation into rows (full path)', full, share(full)],
        ['fast path: frame scanned + validated into rows (parseJsonFrame)', fast, share(fast)],
        ['transport ceiling: same sender, a client that only JSON.parses each frame', ceiling, share(ceiling)],
        [`agent over loopback WebSocket (${accepted.toLocaleString('en-US')} accepted)`, agentRate, share(agentRate)],
      ],
      note: 'In-process rows: best of 3 timed passes each, taking turns, after an untimed pass. Over the WebSocket the sender runs in its own process '
        + '(sharing the machine\'s CPUs); the ceiling client counts from connecting, the agent from start(), both to the last message received. '
        + 'Design: 200K messages/s; aim: at least 60% of the bare parse rate.',
    }];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
