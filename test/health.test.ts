/**
 * GET /healthz and GET /readyz on real agents: ready while the simulator feeds it; not ready — with the failed check,
 * its value, its limit and the reason — when the feed goes away, when the disk is under the warning ratio, and when
 * uploads pile up against a store that cannot take them. A stalled log and a stalled event loop are judged from an
 * agent's real observation with the failure put in.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { EdgeAgent } from '../edge-agent/agent.ts';
import { type AgentConfigInput, resolveAgentConfig } from '../edge-agent/config.ts';
import { type HotView, startReadApi } from '../edge-agent/http/read-api.ts';
import { silentLog } from '../edge-agent/log.ts';
import { type HealthReport, liveness, readiness } from '../edge-agent/metrics/health.ts';
import type { OperatorObservation } from '../edge-agent/metrics/agent-observer.ts';
import { startSimulator } from '../edge-agent/simulator/simulator-server.ts';
import { WalWriteError } from '../edge-agent/wal/write-ahead-log.ts';

function agentWith(extra: AgentConfigInput, storeDir?: string): EdgeAgent {
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-health-'));
  const config = resolveAgentConfig({
    cli: { dataDir, symbols: ['AAPL', 'MSFT'], flushIntervalSeconds: 1, drainTimeoutSeconds: 1, sim: { messagesPerSecond: 200 }, ...extra },
    env: {},
  });
  return new EdgeAgent(config, { store: new LocalDirectoryStore(storeDir ?? join(dataDir, 'store')), log: silentLog });
}

async function getJson(url: string): Promise<{ status: number; body: HealthReport }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as HealthReport };
}

async function until<T>(what: string, read: () => Promise<T>, ok: (t: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const t = await read();
    if (ok(t)) return t;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const checkNamed = (report: HealthReport, name: string) => report.checks.find((c) => c.name === name);

describe('GET /healthz and /readyz', () => {
  it('is live and ready while the feed delivers, and not ready with the reason once the feed is gone', async () => {
    const sim = await startSimulator({ symbols: ['AAPL', 'MSFT'], messagesPerSecond: 200, seed: 3 });
    const agent = agentWith({ feed: 'alpaca', alpacaUrl: sim.url, alpacaKeyId: 'test', alpacaSecretKey: 'test', httpPort: 0 });
    await agent.start();
    const base = agent.readApiUrl as string;
    try {
      const live = await getJson(`${base}/healthz`);
      expect(live.status).toBe(200);
      expect(live.body.status).toBe('ok');
      expect(checkNamed(live.body, 'event_loop')).toMatchObject({ ok: true, limit: 10 });

      const ready = await until('ready', () => getJson(`${base}/readyz`), (r) => r.status === 200);
      expect(ready.body.checks.map((c) => [c.name, c.ok])).toEqual([
        ['feed_connected', true], ['log_writable', true], ['disk_free', true], ['upload_backlog_files', true], ['upload_backlog_age', true],
      ]);
      expect(checkNamed(ready.body, 'disk_free')?.value).toBeGreaterThan(0);

      await sim.close();
      const notReady = await until('not ready', () => getJson(`${base}/readyz`), (r) => r.status === 503);
      expect(notReady.body.status).toBe('fail');
      expect(checkNamed(notReady.body, 'feed_connected')).toEqual({ name: 'feed_connected', ok: false, value: false, limit: true, reason: 'feed alpaca is not connected' });
      expect(notReady.body.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['feed_connected']);
      // Still alive: readiness is about the work, liveness about the process.
      expect((await getJson(`${base}/healthz`)).status).toBe(200);
    } finally {
      await sim.close();
      await agent.stop();
    }
  }, 60_000);

  it('fails readiness on low disk and on an upload backlog over its limits, naming values and limits', async () => {
    // The store is a path under a regular file: every upload fails, so sealed files pile up.
    const blocker = join(mkdtempSync(join(tmpdir(), 'tv-health-store-')), 'not-a-directory');
    writeFileSync(blocker, '');
    const agent = agentWith({ feed: 'sim', diskWarnFreeRatio: 1 }, join(blocker, 'store'));
    await agent.start();
    const view: HotView = {
      symbols: () => agent.hotTier.symbols(), book: (s) => agent.hotTier.book(s), recentTrades: () => [], recentQuotes: () => [],
      features: () => undefined, portfolio: () => ({}), status: () => ({}),
    };
    const api = await startReadApi({ view, observe: () => agent.observe(), port: 0, health: { maxUploadBacklogFiles: 1, maxUploadBacklogAgeSeconds: 1 } });
    try {
      const report = await until('a backlog over the limits', () => getJson(`${api.url}/readyz`),
        (r) => r.body.checks.filter((c) => !c.ok).length === 3);
      expect(report.status).toBe(503);
      expect(report.body.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['disk_free', 'upload_backlog_files', 'upload_backlog_age']);
      const disk = checkNamed(report.body, 'disk_free');
      expect(disk).toMatchObject({ ok: false, limit: 1 });
      expect(disk?.reason).toMatch(/^free disk \d+\.\d% \(\d+ bytes\) is below the 100\.0% threshold$/);
      const files = checkNamed(report.body, 'upload_backlog_files');
      expect(files?.value).toBeGreaterThan(1);
      expect(files?.reason).toBe(`${files?.value} warm files wait for upload, over the limit of 1`);
      expect(checkNamed(report.body, 'upload_backlog_age')?.reason).toMatch(/^the oldest warm file waiting for upload was sealed \d+ s ago, over the limit of 1 s$/);
      expect(checkNamed(report.body, 'feed_connected')?.ok).toBe(true);

      // The same observation with the log's writes failing, and a stalled event loop.
      const observed = agent.observe();
      const stalled = new WalWriteError('fsync', '/data/wal/00000000000000000001.wal', Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      const o = { agent: { ...observed, wal: { ...observed.wal, stalledBy: stalled, pendingBytes: 4096 } } } as unknown as OperatorObservation;
      const log = checkNamed(readiness(o), 'log_writable');
      expect(log).toEqual({
        name: 'log_writable', ok: false, value: stalled.message,
        reason: `write-ahead log writes are failing (4096 bytes waiting): ${stalled.message}`,
      });
      const wedged = liveness(12.5, 100);
      expect(wedged.status).toBe('fail');
      expect(checkNamed(wedged, 'event_loop')?.reason).toBe('the event loop stalled for 12.5 s, over the limit of 10 s');
    } finally {
      await api.close();
      await agent.stop();
    }
  }, 60_000);
});
