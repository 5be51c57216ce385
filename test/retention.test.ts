/**
 * Warm retention with an injected clock: only objects a cold manifest names as sources of its own unit, only once
 * they have been compacted for the configured number of days, and only while their bytes are the ones compacted.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readColdManifest } from '../core/cold-manifest.ts';
import type { TradeEventRow, TradeRow } from '../core/datasets.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { compactHandler } from '../lambdas/compactor/handler.ts';
import { RetentionEnvSchema, retentionHandler } from '../lambdas/retention/handler.ts';
import { readEnv } from '../lambdas/shared/env.ts';
import { memoryLogger } from '../lambdas/shared/log.ts';
import { at, generateQuotes, generateTrades, listKeys, putWarm, putWarmDays } from './compaction-fixtures.ts';

const AGENTS = ['edge-1'];
const T0 = '2024-08-02T03:00:00Z';
const DAY = 86_400_000;

const correctionOf = (t: TradeRow, tsNs: bigint): TradeEventRow => ({
  ts: tsNs, ts_ns: tsNs, symbol: t.symbol, action: 'correction', trade_id: t.trade_id, price: t.price, size: t.size,
  exchange: t.exchange, conditions: t.conditions, corrected_trade_id: t.trade_id + 1_000_000n, corrected_price: t.price + 1,
  corrected_size: t.size, corrected_conditions: 'corrected', tape: t.tape,
});

describe('warm retention after compaction', () => {
  const root = mkdtempSync(join(tmpdir(), 'tv-retention-'));
  const store = new LocalDirectoryStore(join(root, 'store'));
  const scratchDir = join(root, 'scratch');
  const trades = generateTrades('AAPL', '2024-07', [1, 2, 31], 3_000, 11);
  let tradeKeys: string[];
  let quoteKeys: string[];
  let eventKeys: string[];
  let lateKey: string;
  let changedKey: string;

  beforeAll(async () => {
    tradeKeys = await putWarmDays(store, 'trades', trades, 'edge-1', 500);
    quoteKeys = await putWarmDays(store, 'quotes', generateQuotes('SPY', '2024-07', [1, 2], 2_000, 12), 'edge-1', 400);
    // A correction on July 31 and one on August 1: both feed July's trades; they belong to their own months' files.
    const last = trades.at(-1) as TradeRow;
    eventKeys = [
      await putWarm(store, 'trade_events', [correctionOf(trades[0] as TradeRow, last.ts + 1n)], 0, 'edge-1'),
      await putWarm(store, 'trade_events', [correctionOf(trades[1] as TradeRow, BigInt(at('2024-08-01T14:00:00Z')) * 1_000_000n)], 0, 'edge-1'),
    ];
    for (const [dataset, symbol] of [['trades', 'AAPL'], ['quotes', 'SPY']] as const) {
      const r = await compactHandler({ dataset, symbol, month: '2024-07' }, { store, scratchDir, agentIds: AGENTS, nowMs: () => at(T0) });
      expect(r.status).toBe('compacted');
    }
    // After the compaction: a late object no cold manifest names yet, and a source whose bytes were replaced.
    lateKey = await putWarm(store, 'trades', generateTrades('AAPL', '2024-07', [15], 10, 13, 9_000_000n), 0, 'edge-1');
    changedKey = quoteKeys[0] ?? '';
    await store.put(changedKey, await store.get(quoteKeys[1] ?? ''), { metadata: { ...(await store.head(quoteKeys[1] ?? ''))?.metadata } });
  });

  it('deletes nothing before the retention period has passed', async () => {
    const r = await retentionHandler({}, { store, nowMs: () => at(T0) + 7 * DAY - 1 });
    expect(r.deleted).toBe(0);
    expect(r.notYetDue).toBe(tradeKeys.length + quoteKeys.length);
    expect(r.months).toEqual(['2024-05', '2024-06', '2024-07', '2024-08']);
  });

  it('a dry run names what would go and deletes nothing', async () => {
    const log = memoryLogger();
    const r = await retentionHandler({ dryRun: true }, { store, nowMs: () => at(T0) + 7 * DAY, log });
    expect(r.dryRun).toBe(true);
    expect(r.deleted).toBe(tradeKeys.length + quoteKeys.length - 1);
    for (const key of [...tradeKeys, ...quoteKeys]) expect(await store.head(key)).toBeDefined();
  });

  it('then deletes exactly the compacted sources of their own unit whose bytes are unchanged', async () => {
    const log = memoryLogger();
    const coldBefore = await listKeys(store, 'cold/');
    const r = await retentionHandler({}, { store, nowMs: () => at(T0) + 7 * DAY, log });
    expect(r.deleted).toBe(tradeKeys.length + quoteKeys.length - 1);
    expect(r.mismatched).toBe(1);
    expect(log.entries).toContainEqual(expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ key: changedKey }) }));
    const warm = (await listKeys(store, 'warm/')).filter((k) => !k.includes('/_manifest-'));
    // Left: the changed source, the late object, and the trade events (the trades file read them, but they wait
    // for the trade_events files of July and August).
    expect(warm.sort()).toEqual([changedKey, lateKey, ...eventKeys].sort());
    // The cold tier and every manifest are untouched.
    expect(await listKeys(store, 'cold/')).toEqual(coldBefore);
    expect((await listKeys(store, 'warm/')).filter((k) => k.includes('/_manifest-')).length).toBeGreaterThan(0);
    const again = await retentionHandler({}, { store, nowMs: () => at(T0) + 8 * DAY });
    expect(again.deleted).toBe(0);
    expect(again.alreadyGone).toBe(r.deleted);
  });

  it('the trade events go once their own month is compacted and old enough; the period is configurable', async () => {
    const t1 = at('2024-09-02T03:00:00Z');
    for (const month of ['2024-07', '2024-08']) {
      await compactHandler({ dataset: 'trade_events', symbol: 'AAPL', month }, { store, scratchDir, agentIds: AGENTS, nowMs: () => t1 });
    }
    expect((await readColdManifest(store, 'trade_events', '2024-08', 'AAPL'))?.sources.map((s) => s.key)).toEqual([eventKeys[1]]);
    expect((await retentionHandler({ retentionDays: 3 }, { store, nowMs: () => t1 + 3 * DAY - 1 })).deleted).toBe(0);
    const r = await retentionHandler({ retentionDays: 3 }, { store, nowMs: () => t1 + 3 * DAY });
    expect(r.deleted).toBe(2);
    for (const key of eventKeys) expect(await store.head(key)).toBeUndefined();
  });

  it('reads its settings from the environment, naming a bad one', () => {
    expect(readEnv(RetentionEnvSchema, {}).RETENTION_LOOKBACK_MONTHS).toBe(3);
    expect(readEnv(RetentionEnvSchema, { WARM_EXPIRY_DAYS_AFTER_COMPACTION: '10' }).WARM_EXPIRY_DAYS_AFTER_COMPACTION).toBe(10);
    expect(() => readEnv(RetentionEnvSchema, { WARM_RETENTION_DAYS_AFTER_COMPACTION: 'seven' })).toThrow(/environment variable WARM_RETENTION_DAYS_AFTER_COMPACTION: expected a non-negative number/);
  });
});
