/**
 * Ingest end to end: frames through a real loopback WebSocket into the agent (validation, hot tier, write-ahead
 * log where enabled, warm buffers), in messages/s, beside the named baseline: bare JSON.parse of the same frames.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { EdgeAgent } from '../edge-agent/agent.ts';
import { resolveAgentConfig } from '../edge-agent/config.ts';
import { parseJsonFrame } from '../edge-agent/feed/alpaca-messages.ts';
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

export async function runIngestBench(): Promise<BenchTable[]> {
  const frames = ingestFrames(MESSAGES);
  let t = process.hrtime.bigint();
  let parsed = 0;
  for (const f of frames) parsed += (JSON.parse(f) as unknown[]).length;
  const bareMs = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  let validated = 0;
  for (const f of frames) validated += parseJsonFrame(f).events.length;
  const validateMs = Number(process.hrtime.bigint() - t) / 1e6;

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
    return [{
      title: `Ingest end to end: ${MESSAGES.toLocaleString('en-US')} messages, ${frames.length.toLocaleString('en-US')} frames, ${INGEST_SYMBOLS.length} symbols`,
      columns: ['path', 'messages/s', 'vs baseline'],
      rows: [
        ['baseline: bare JSON.parse of the same frames', rate(parsed, bareMs), '100%'],
        ['JSON.parse + validation into rows', rate(validated, validateMs), `${((bareMs / validateMs) * 100).toFixed(0)}%`],
        [`agent over loopback WebSocket (${accepted.toLocaleString('en-US')} accepted)`, rate(report.received, ingestMs), `${((rate(report.received, ingestMs) / rate(parsed, bareMs)) * 100).toFixed(0)}%`],
      ],
      note: 'The sender runs in its own process. Design: 200K messages/s; aim: at least 60% of the bare parse rate.',
    }];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
