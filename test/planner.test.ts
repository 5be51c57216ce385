/**
 * The planner on a real local store with an injected clock: units come from the warm manifests (never a listing of
 * data objects), a month is planned once it is sealed, running twice plans nothing twice, late data is planned
 * again and ends up in the cold file, and sources retention has deleted are read as compacted, not as missing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { planMarkerKey, readColdManifest, readPlanMarker } from '../core/cold-manifest.ts';
import { decodeParquet } from '../core/codec/parquet-file.ts';
import type { TradeEventRow, TradeRow } from '../core/datasets.ts';
import { warmManifestKey } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectInfo, ObjectStore, PutOptions } from '../core/object-store/object-store.ts';
import { CompactorEnvSchema, compactHandler } from '../lambdas/compactor/handler.ts';
import { PlannerEnvSchema, plannerHandler } from '../lambdas/planner/handler.ts';
import { planUnits } from '../lambdas/planner/plan-units.ts';
import { retentionHandler } from '../lambdas/retention/handler.ts';
import { readEnv } from '../lambdas/shared/env.ts';
import { StoreEnvSchema } from '../lambdas/shared/lambda-store.ts';
import { memoryLogger } from '../lambdas/shared/log.ts';
import { powertoolsMetrics } from '../lambdas/shared/metrics.ts';
import { at, generateTrades, putWarm, putWarmDays, sortTrades } from './compaction-fixtures.ts';

const AGENTS = ['edge-1', 'edge-2'];

/** A store that records what the planner asks of it. */
class RecordingStore implements ObjectStore {
  readonly description: string;
  readonly gets: string[] = [];
  readonly puts: string[] = [];
  lists = 0;
  constructor(private readonly inner: ObjectStore) {
    this.description = inner.description;
  }
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    this.puts.push(key);
    return this.inner.put(key, body, options);
  }
  putFile(key: string, path: string, options?: PutOptions): Promise<void> {
    this.puts.push(key);
    return this.inner.putFile(key, path, options);
  }
  get(key: string): Promise<Uint8Array> {
    this.gets.push(key);
    return this.inner.get(key);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    this.lists++;
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  putTags(key: string, tags: Readonly<Record<string, string>>): Promise<void> {
    return this.inner.putTags(key, tags);
  }
  getTags(key: string): Promise<Record<string, string>> {
    return this.inner.getTags(key);
  }
}

const cancelOf = (t: TradeRow, dtNs: bigint): TradeEventRow => ({
  ts: t.ts + dtNs, ts_ns: t.ts + dtNs, symbol: t.symbol, action: 'cancel', trade_id: t.trade_id, price: t.price, size: t.size,
  exchange: t.exchange, conditions: t.conditions, corrected_trade_id: null, corrected_price: null, corrected_size: null,
  corrected_conditions: '', tape: t.tape,
});

async function coldTrades(store: ObjectStore, symbol: string, month: string): Promise<TradeRow[]> {
  const manifest = await readColdManifest(store, 'trades', month, symbol);
  if (manifest === undefined) throw new Error(`no cold manifest for ${symbol} ${month}`);
  return decodeParquet(await store.get(manifest.coldKey), 'trades', manifest.coldKey);
}

describe('planner', () => {
  const root = mkdtempSync(join(tmpdir(), 'tv-planner-'));
  const store = new LocalDirectoryStore(join(root, 'store'));
  const scratchDir = join(root, 'scratch');
  const aapl = generateTrades('AAPL', '2024-07', [1, 2, 3, 5], 8_000, 1);
  const msft = generateTrades('MSFT', '2024-07', [2, 3], 3_000, 2, 1_000_000n);
  let expected: TradeRow[] = aapl;

  beforeAll(async () => {
    // Both agents recorded everything: every trade twice, in differently cut parts.
    await putWarmDays(store, 'trades', aapl, 'edge-1', 700);
    await putWarmDays(store, 'trades', aapl, 'edge-2', 1_100);
    await putWarmDays(store, 'trades', msft, 'edge-1', 1_000);
  });

  it('plans nothing until the month is sealed (6 hours after it ends)', async () => {
    const plan = await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-01T05:59:00Z') });
    expect(plan.months).toEqual(['2024-06', '2024-07']);
    expect(plan.units).toEqual([]);
    expect(plan.notSealed).toBe(2);
    expect(plan.compactionLagDays).toBe(0);
  });

  it('plans a sealed month from the manifests alone: no listing, only manifest GETs', async () => {
    const recording = new RecordingStore(store);
    // Powertools' Metrics writes its embedded-metric-format line to stdout: capture it.
    const lines: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const publishedAfterMs = Date.now();
    const result = await plannerHandler({}, {
      store: recording, agentIds: AGENTS, nowMs: () => at('2024-08-02T02:15:00Z'),
      metrics: powertoolsMetrics({ namespace: 'tickvault', service: 'tickvault-planner' }),
    }).finally(() => stdout.mockRestore());
    expect(result.units).toEqual([
      { dataset: 'trades', symbol: 'AAPL', month: '2024-07' },
      { dataset: 'trades', symbol: 'MSFT', month: '2024-07' },
    ]);
    expect(recording.lists).toBe(0);
    expect(recording.gets.every((k) => /\/_manifest-[^/]+\.json$|\/_plan-[^/]+\.json$/.test(k))).toBe(true);
    // Every (dataset, day, agent) of June and July, and August 1-2 (trade events that feed July's trades).
    expect(recording.gets).toContain(warmManifestKey('quotes', '2024-06-01', 'edge-2'));
    expect(recording.gets).toContain(warmManifestKey('trade_events', '2024-08-02', 'edge-1'));
    expect(recording.gets).not.toContain(warmManifestKey('trade_events', '2024-08-03', 'edge-1'));
    expect(recording.puts.sort()).toEqual([planMarkerKey('trades', '2024-07', 'AAPL'), planMarkerKey('trades', '2024-07', 'MSFT')]);
    // Lag: from the end of July to now.
    expect(result.compactionLagDays).toBe(1.09);
    expect(lines).toHaveLength(1);
    const emf = JSON.parse(lines[0] ?? '') as { _aws: { Timestamp: number } };
    expect(emf).toEqual({
      _aws: {
        CloudWatchMetrics: [{ Namespace: 'tickvault', Dimensions: [['service']], Metrics: [{ Name: 'CompactionLagDays', Unit: 'None' }] }],
        Timestamp: expect.any(Number),
      },
      service: 'tickvault-planner',
      CompactionLagDays: 1.09,
    });
    expect(emf._aws.Timestamp).toBeGreaterThanOrEqual(publishedAfterMs);
  });

  it('plans nothing twice: the second run finds the plan markers', async () => {
    const plan = await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-02T03:00:00Z') });
    expect(plan.units).toEqual([]);
    expect(plan.recentlyPlanned).toBe(2);
    // Still due (nothing compacted yet), so the lag is still published.
    expect(plan.compactionLagDays).toBeGreaterThan(1);
    const marker = await readPlanMarker(store, 'trades', '2024-07', 'AAPL');
    expect(marker?.plannedAt).toBe('2024-08-02T02:15:00.000Z');
  });

  it('plans a unit again once its plan is older than REPLAN_AFTER_HOURS (the compaction failed)', async () => {
    const plan = await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-03T02:16:00Z'), replanAfterHours: 24 });
    expect(plan.units.map((u) => u.symbol)).toEqual(['AAPL', 'MSFT']);
  });

  it('after compaction the units are up to date and the lag is 0', async () => {
    for (const symbol of ['AAPL', 'MSFT']) {
      const r = await compactHandler({ dataset: 'trades', symbol, month: '2024-07' }, { store, scratchDir, agentIds: AGENTS, nowMs: () => at('2024-08-03T03:00:00Z') });
      expect(r.status).toBe('compacted');
    }
    expect(await coldTrades(store, 'AAPL', '2024-07')).toEqual(expected);
    const plan = await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-05T02:15:00Z') });
    expect(plan.units).toEqual([]);
    expect(plan.upToDate).toBe(2);
    expect(plan.compactionLagDays).toBe(0);
  });

  it('plans a recompaction for a late file, logs it, and the new cold file includes it', async () => {
    const late = generateTrades('AAPL', '2024-07', [31], 500, 3, 5_000_000n);
    const lateKey = await putWarm(store, 'trades', late, 7, 'edge-2');
    const log = memoryLogger();
    const plan = await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-06T02:15:00Z'), log });
    expect(plan.planned).toEqual([{ dataset: 'trades', symbol: 'AAPL', month: '2024-07', reason: 'late-data', sources: expect.any(Number), newSources: 1 }]);
    expect(plan.lateObjects).toBe(1);
    expect(log.entries.filter((e) => e.level === 'warn')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/late warm object/), fields: expect.objectContaining({ key: lateKey, unit: 'trades AAPL 2024-07' }) }),
    ]);
    const r = await compactHandler({ dataset: 'trades', symbol: 'AAPL', month: '2024-07' }, { store, scratchDir, agentIds: AGENTS, nowMs: () => at('2024-08-06T03:00:00Z') });
    expect(r.mode).toBe('full');
    expected = sortTrades([...aapl, ...late]);
    expect(await coldTrades(store, 'AAPL', '2024-07')).toEqual(expected);
    const manifest = await readColdManifest(store, 'trades', '2024-07', 'AAPL');
    const lateSource = manifest?.sources.find((s) => s.key === lateKey);
    expect(lateSource?.compactedAt).toBe('2024-08-06T03:00:00.000Z');
    // The sources compacted before keep their first compaction time (retention counts from it).
    expect(manifest?.sources.filter((s) => s.key !== lateKey).every((s) => s.compactedAt === '2024-08-03T03:00:00.000Z')).toBe(true);
    expect((await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-07T02:15:00Z') })).units).toEqual([]);
  });

  it('reads sources deleted by retention as compacted; later data merges onto the cold file', async () => {
    // 2024-08-10: the sources compacted on 08-03 are 7 days old; the late file (08-06) is not.
    const retention = await retentionHandler({}, { store, nowMs: () => at('2024-08-10T04:00:00Z') });
    expect(retention.deleted).toBeGreaterThan(0);
    expect(retention.notYetDue).toBe(1);
    const plan = await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-10T05:00:00Z') });
    expect(plan.units).toEqual([]);
    expect(plan.upToDate).toBe(2);

    // Later still: another late file, and a cancel of a trade whose warm copies are gone.
    const later = generateTrades('AAPL', '2024-07', [30], 300, 4, 6_000_000n);
    await putWarm(store, 'trades', later, 8, 'edge-1');
    const cancelled = aapl[10] as TradeRow;
    await putWarm(store, 'trade_events', [cancelOf(cancelled, 1_000_000n)], 0, 'edge-1');
    const again = await planUnits({ store, agentIds: AGENTS, nowMs: at('2024-08-11T02:15:00Z') });
    expect(again.units).toEqual([{ dataset: 'trade_events', symbol: 'AAPL', month: '2024-07' }, { dataset: 'trades', symbol: 'AAPL', month: '2024-07' }]);
    const before = await readColdManifest(store, 'trades', '2024-07', 'AAPL');
    const r = await compactHandler({ dataset: 'trades', symbol: 'AAPL', month: '2024-07' }, { store, scratchDir, agentIds: AGENTS, nowMs: () => at('2024-08-11T03:00:00Z') });
    expect(r.mode).toBe('merge');
    expect(r.expiredSources).toBe(before?.sources.filter((s) => s.compactedAt === '2024-08-03T03:00:00.000Z').length);
    expected = sortTrades([...expected, ...later].filter((t) => t.trade_id !== cancelled.trade_id));
    expect(await coldTrades(store, 'AAPL', '2024-07')).toEqual(expected);
    const manifest = await readColdManifest(store, 'trades', '2024-07', 'AAPL');
    expect(manifest?.mode).toBe('merge');
    // Still names every source ever compacted into it, the deleted ones included.
    expect(manifest?.sources.length).toBe(r.sourceObjects + r.expiredSources);
    // Running the merge again changes nothing.
    const first = await store.get(manifest?.coldKey ?? '');
    await compactHandler({ dataset: 'trades', symbol: 'AAPL', month: '2024-07' }, { store, scratchDir, agentIds: AGENTS, nowMs: () => at('2024-08-11T04:00:00Z') });
    expect(Buffer.compare(Buffer.from(await store.get(manifest?.coldKey ?? '')), Buffer.from(first))).toBe(0);
  });

  it('does not plan the units an unreadable manifest feeds, and says which', async () => {
    const other = new LocalDirectoryStore(join(root, 'broken'));
    await putWarmDays(other, 'trades', generateTrades('SPY', '2024-07', [9], 100, 5), 'edge-1', 100);
    await other.put(warmManifestKey('trades', '2024-07-10', 'edge-2'), new TextEncoder().encode('{"format":"nope"}'));
    const log = memoryLogger();
    const plan = await planUnits({ store: other, agentIds: AGENTS, nowMs: at('2024-08-02T02:15:00Z'), log });
    expect(plan.units).toEqual([]);
    expect(plan.blocked).toEqual([{ unit: 'trades SPY 2024-07', reason: expect.stringMatching(/_manifest-edge-2\.json/) }]);
    expect(log.entries.some((e) => e.level === 'error' && /warm manifest unreadable/.test(e.message))).toBe(true);
  });

  it('reads its configuration from the environment, naming a bad variable', () => {
    expect(readEnv(PlannerEnvSchema, { AGENT_IDS: 'edge-1, edge-2' })).toMatchObject({
      AGENT_IDS: ['edge-1', 'edge-2'], LOOKBACK_MONTHS: 2, GRACE_HOURS: 6, REPLAN_AFTER_HOURS: 24, METRIC_NAMESPACE: 'tickvault', COMPACTION_LAG_METRIC: 'CompactionLagDays',
    });
    expect(() => readEnv(PlannerEnvSchema, { LOOKBACK_MONTHS: '0' })).toThrow(/environment variable LOOKBACK_MONTHS/);
    expect(() => readEnv(PlannerEnvSchema, { AGENT_IDS: 'edge-1,Bad Id' })).toThrow(/environment variable AGENT_IDS: invalid agent id "Bad Id"/);
    expect(() => readEnv(StoreEnvSchema, {})).toThrow(/environment variable BUCKET/);
    expect(() => readEnv(StoreEnvSchema, { BUCKET: 'b', S3_FORCE_PATH_STYLE: 'yes' })).toThrow(/S3_FORCE_PATH_STYLE: expected 'true' or 'false'/);
    expect(() => readEnv(StoreEnvSchema, { BUCKET: 'b', COLD_PREFIX: 'archive/' })).toThrow(/COLD_PREFIX: expected "cold\/"/);
    expect(readEnv(CompactorEnvSchema, {})).toMatchObject({ DUCKDB_MEMORY_LIMIT: '2GB', DUCKDB_THREADS: 2, GRACE_HOURS: 6 });
    expect(() => readEnv(CompactorEnvSchema, { DUCKDB_MEMORY_LIMIT: 'lots' })).toThrow(/DUCKDB_MEMORY_LIMIT: expected a size/);
  });

  it('validates its event and configuration', async () => {
    await expect(plannerHandler({ lookbackMonths: 0 }, { store, agentIds: AGENTS })).rejects.toThrow(/lookbackMonths/);
    await expect(plannerHandler({}, { store })).rejects.toThrow(/AGENT_IDS/);
    await expect(plannerHandler({ agentIds: ['Bad_Id'] }, { store })).rejects.toThrow(/invalid agent id "Bad_Id"/);
  });
});
