/**
 * The agent's ingest on real parts: the simulator over a real loopback WebSocket with every fault mode on, a
 * replayed real file, and the hot read API answering while ingest runs flat out.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { EdgeAgent } from '../edge-agent/agent.ts';
import { resolveAgentConfig } from '../edge-agent/config.ts';
import { silentLog } from '../edge-agent/log.ts';
import { REJECT_REASON_OF_FAULT } from '../edge-agent/simulator/faults.ts';
import { startSimulator } from '../edge-agent/simulator/simulator-server.ts';
import { agentReport, runCli } from './support/cli.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';
import { sharedDataDir } from './support/shared-data.ts';

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

function agentFor(url: string, extra: Record<string, unknown> = {}): EdgeAgent {
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-ingest-'));
  const config = resolveAgentConfig({
    cli: { dataDir, feed: 'alpaca', alpacaUrl: url, alpacaKeyId: 'test', alpacaSecretKey: 'test', symbols: ['AAPL', 'MSFT', 'BTC/USD'], flushIntervalSeconds: 1, ...extra },
    env: {},
  });
  return new EdgeAgent(config, { store: new LocalDirectoryStore(join(dataDir, 'store')), log: silentLog });
}

describe('agent against the simulator in fault mode', () => {
  it('rejects exactly the injected faults by reason, keeps every valid message, and survives disconnects', async () => {
    const sim = await startSimulator({
      symbols: ['AAPL', 'MSFT', 'BTC/USD'], messagesPerSecond: 3000, seed: 99,
      faults: { malformedFrameRate: 0.01, duplicateRate: 0.01, outOfOrderRate: 0.01, disconnectEveryMs: 1500 },
    });
    const agent = agentFor(sim.url);
    await agent.start();
    await new Promise((r) => setTimeout(r, 5000));
    // Stop the market first so everything sent is received, then drain the agent.
    await sim.close();
    await new Promise((r) => setTimeout(r, 300));
    const report = await agent.stop();
    const stats = sim.stats();
    expect(stats.faults.disconnect).toBeGreaterThanOrEqual(2);
    // Every injected malformed message is rejected under its reason, and nothing else is rejected.
    const expectedRejects: Record<string, number> = {};
    for (const [fault, reason] of Object.entries(REJECT_REASON_OF_FAULT)) {
      const n = stats.faults[fault as keyof typeof stats.faults] ?? 0;
      if (n > 0) expectedRejects[reason] = (expectedRejects[reason] ?? 0) + n;
    }
    expect(sum(expectedRejects)).toBeGreaterThan(10);
    expect(report.rejected).toEqual(expectedRejects);
    // Every valid message sent arrived and was kept (duplicates too: compaction removes them by trade id).
    expect(sum(report.accepted)).toBe(stats.validMessagesSent + stats.faults.duplicate);
    expect(report.received).toBe(sum(report.accepted) + sum(report.rejected) + report.statuses);
    expect(report.stored).toBe(sum(report.accepted));
    expect(report.rowsWritten).toEqual(report.accepted);
  }, 60_000);
});

describe('agent replaying a real recorded file', () => {
  it('accounts for every row: received = stored + rejected, and the warm files hold them', async () => {
    const file = join(sharedDataDir(), 'trades_freqtrade_binance_XRPETH_20191011-20191013.csv');
    const dataDir = mkdtempSync(join(tmpdir(), 'tv-replay-'));
    const run = await runCli(['agent', '--replay', file, '--speed', 'max', '--data-dir', dataDir]);
    expect(run.code, run.stderr.slice(-1000)).toBe(0);
    const report = agentReport(run.stdout);
    expect(report['why']).toBe('replay finished');
    expect(report.received).toBe(12_477);
    expect(report.accepted).toEqual({ trades: 12_477 });
    expect(report['stored']).toBe(12_477);
    const [count] = await duckdbRows(`SELECT count(*)::INTEGER AS n, count(DISTINCT trade_id)::INTEGER AS ids FROM read_parquet(${sqlPath(join(dataDir, 'warm', 'trades', '**', '*.parquet'))})`);
    expect(count).toEqual({ n: 12_477, ids: 12_477 });
  }, 60_000);
});

describe('hot read API under full-speed ingest', () => {
  it('answers book, trades and status requests while the simulator pushes as fast as it can', async () => {
    const sim = await startSimulator({ symbols: ['AAPL', 'MSFT', 'BTC/USD'], messagesPerSecond: 'max', seed: 5 });
    const agent = agentFor(sim.url, { httpPort: 0 });
    await agent.start();
    const base = agent.readApiUrl as string;
    let answered = 0;
    let lastTrades: { trades: { tradeId: string; price: number }[] } = { trades: [] };
    const started = Date.now();
    while (Date.now() - started < 3000) {
      const [book, trades, status] = await Promise.all([
        fetch(`${base}/v1/book/AAPL`), fetch(`${base}/v1/trades/BTC%2FUSD?n=50`), fetch(`${base}/v1/status`),
      ]);
      if (book.status === 200 && trades.status === 200 && status.status === 200) answered++;
      lastTrades = (await trades.json()) as typeof lastTrades;
      await book.arrayBuffer();
      await status.arrayBuffer();
    }
    const during = agent.report().received;
    const bad = await fetch(`${base}/v1/trades/..%2F..%2Fetc?n=5`);
    const badBody = (await bad.json()) as { error: string };
    await sim.close();
    await agent.stop();
    expect(during).toBeGreaterThan(10_000); // ingest really was running flat out meanwhile
    expect(answered).toBeGreaterThanOrEqual(2); // every round answered in full; how many fit in 3 s depends on the load
    expect(lastTrades.trades.length).toBe(50);
    expect(lastTrades.trades.every((t) => typeof t.tradeId === 'string' && t.price > 0)).toBe(true);
    // Newest first, and never more than asked.
    const ids = lastTrades.trades.map((t) => BigInt(t.tradeId));
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
    expect(bad.status).toBe(400);
    expect(badBody.error).toMatch(/invalid symbol/);
  }, 60_000);

  it('listens on loopback only by default', async () => {
    const sim = await startSimulator({ symbols: ['AAPL'], messagesPerSecond: 100 });
    const agent = agentFor(sim.url, { httpPort: 0 });
    await agent.start();
    expect(agent.readApiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await sim.close();
    await agent.stop();
  }, 30_000);
});
