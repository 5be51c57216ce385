/**
 * How fast the simulator makes and serves market data at 'max', beside its named baselines measured in the same run:
 * JSON.stringify of the same frames (what the server did before message-json.ts), a batchMax of 500 vs 2000, and
 * the transport's ceiling (precomputed frames sent round and round by a bare ws server).
 * Serving is measured to one real client in a child process over loopback; that client either only counts frames
 * (the server's ceiling) or JSON.parses every frame (a realistic consumer). On a 2-core machine client and server
 * share the CPU, so the serve figures are what one host can do end to end, not the server alone.
 *
 * Run alone: npx tsx edge-agent/simulator/simulator.bench.ts (or from bench/run.ts through runSimulatorBench).
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';
import type { BenchTable } from '../../bench/table.ts';
import { MarketModel } from './market-model.ts';
import { messageJson } from './message-json.ts';
import { parseRfc3339Nanos } from '../../core/rfc3339.ts';
import { startSimulator } from './simulator-server.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'SPY', 'BTC/USD'];
const START_NS = parseRfc3339Nanos('2024-07-01T14:30:00Z');
const SECONDS = 3;

/** Messages per second of `produce` (which returns how many messages it made) over `seconds`. */
function rateOf(produce: () => number, seconds: number): number {
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) count += produce();
  return (count / (performance.now() - started)) * 1000;
}

function generationRates(): { model: number; modelJson: number; modelStringify: number } {
  const run = (frame: (messages: ReturnType<MarketModel['advance']>) => void): number => {
    const model = new MarketModel({ seed: 1, symbols: SYMBOLS, startNs: START_NS });
    let until = START_NS;
    return rateOf(() => {
      until += 10_000_000n;
      const messages = model.advance(2000, until);
      frame(messages);
      return messages.length;
    }, SECONDS);
  };
  let sink = 0;
  const model = run(() => {});
  const modelJson = run((messages) => {
    for (let k = 0; k < messages.length; k += 500) {
      let text = '';
      for (let j = k; j < Math.min(k + 500, messages.length); j++) text += (j === k ? '[' : ',') + messageJson(messages[j] as never);
      sink += Buffer.byteLength(`${text}]`);
    }
  });
  const modelStringify = run((messages) => {
    for (let k = 0; k < messages.length; k += 500) sink += Buffer.byteLength(JSON.stringify(messages.slice(k, k + 500)));
  });
  if (sink < 0) throw new Error('unreachable');
  return { model, modelJson, modelStringify };
}

// The client: log in, subscribe to everything, then count (or parse) for SECONDS and print the rate.
const CLIENT = `
const WebSocket = require('ws');
const [url, seconds, mode] = process.argv.slice(1);
const ws = new WebSocket(url);
let messages = 0, bytes = 0, started = 0;
ws.on('message', (data) => {
  if (started === 0) {
    for (const m of JSON.parse(data.toString())) {
      if (m.msg === 'connected') ws.send(JSON.stringify({ action: 'auth', key: 'k', secret: 's' }));
      if (m.msg === 'authenticated') ws.send(JSON.stringify({ action: 'subscribe', trades: ['*'], quotes: ['*'] }));
      if (m.T === 'subscription') {
        started = performance.now();
        setTimeout(() => {
          const ms = performance.now() - started;
          console.log(JSON.stringify({ rate: messages / ms * 1000, mbPerSecond: bytes / ms / 1000 }));
          process.exit(0);
        }, Number(seconds) * 1000);
      }
    }
    return;
  }
  bytes += data.length;
  if (mode === 'parse') { messages += JSON.parse(data.toString()).length; return; }
  // Counting without parsing: every data message starts with {"T":
  let at = -1;
  while ((at = data.indexOf('{"T":', at + 1)) !== -1) messages++;
});
`;

/** The rate the client in a child process reports for a server at `url`. */
async function clientRate(url: string, mode: 'count' | 'parse'): Promise<number> {
  const child = spawn(process.execPath, ['-e', CLIENT, url, String(SECONDS), mode], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await new Promise((done) => child.on('close', done));
  return (JSON.parse(out) as { rate: number }).rate;
}

async function serveRate(batchMax: number, mode: 'count' | 'parse'): Promise<number> {
  const sim = await startSimulator({ messagesPerSecond: 'max', batchMax, symbols: SYMBOLS });
  try {
    return await clientRate(sim.url, mode);
  } finally {
    await sim.close();
  }
}

/**
 * The transport's ceiling: a bare server that answers the login and then sends the same 100 precomputed frames of
 * 500 messages round and round, with the simulator's back-pressure rule. Nothing is generated or serialized.
 */
async function precomputedRate(mode: 'count' | 'parse'): Promise<number> {
  const model = new MarketModel({ seed: 1, symbols: SYMBOLS, startNs: START_NS });
  const frames: string[] = [];
  for (let k = 0; k < 100; k++) frames.push(JSON.stringify(model.advance(500, START_NS + BigInt(k + 1) * 10_000_000n).slice(0, 500)));
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((listening) => wss.once('listening', listening));
  let stopped = false;
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify([{ T: 'success', msg: 'connected' }]));
    ws.on('message', (data) => {
      const request = JSON.parse(String(data)) as { action: string };
      if (request.action === 'auth') ws.send(JSON.stringify([{ T: 'success', msg: 'authenticated' }]));
      if (request.action !== 'subscribe') return;
      ws.send(JSON.stringify([{ T: 'subscription', trades: ['*'], quotes: ['*'] }]));
      let next = 0;
      const pump = (): void => {
        if (stopped || ws.readyState !== ws.OPEN) return;
        if (ws.bufferedAmount < 4 * 1024 * 1024) for (let k = 0; k < 4; k++) ws.send(frames[next++ % frames.length] ?? '[]');
        setImmediate(pump);
      };
      pump();
    });
  });
  try {
    return await clientRate(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v2/sim`, mode);
  } finally {
    stopped = true;
    for (const ws of wss.clients) ws.terminate();
    await new Promise((closed) => wss.close(closed));
  }
}

export async function runSimulatorBench(): Promise<BenchTable[]> {
  const generation = generationRates();
  const serve = {
    precomputedCount: await precomputedRate('count'),
    precomputedParse: await precomputedRate('parse'),
    count500: await serveRate(500, 'count'),
    parse500: await serveRate(500, 'parse'),
    count2000: await serveRate(2000, 'count'),
    parse2000: await serveRate(2000, 'parse'),
  };
  return [
    {
      title: "Simulator at 'max': messages per second",
      columns: ['what', 'messages/s', 'vs baseline'],
      rows: [
        ['model only (MarketModel.advance)', generation.model, ''],
        ['model + JSON.stringify frames of 500 (baseline)', generation.modelStringify, '1.00'],
        ['model + messageJson frames of 500', generation.modelJson, (generation.modelJson / generation.modelStringify).toFixed(2)],
        ['precomputed frames of 500, client counts (transport ceiling)', serve.precomputedCount, ''],
        ['precomputed frames of 500, client JSON.parses', serve.precomputedParse, ''],
        ['served, frames of 500, client counts (baseline)', serve.count500, '1.00'],
        ['served, frames of 2000, client counts', serve.count2000, (serve.count2000 / serve.count500).toFixed(2)],
        ['served, frames of 500, client JSON.parses', serve.parse500, (serve.parse500 / serve.count500).toFixed(2)],
        ['served, frames of 2000, client JSON.parses', serve.parse2000, (serve.parse2000 / serve.count500).toFixed(2)],
      ],
      note: `${SECONDS} s per figure; one client in a child process on loopback, sharing this host's CPUs with the server.`,
    },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { renderText } = await import('../../bench/table.ts');
  for (const table of await runSimulatorBench()) process.stdout.write(`${renderText(table)}\n\n`);
}
