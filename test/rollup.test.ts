/**
 * Daily bars rolled up from the 1m monthly cold files, against a plain SQL reference written independently
 * (window functions, not the roll-up's arg_min/arg_max), and the planner's sequencing: the roll-up of a year waits
 * until its 1m units are compacted, then is planned once.
 */
import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readColdManifest } from '../core/cold-manifest.ts';
import { decodeParquet } from '../core/codec/parquet-file.ts';
import type { BarRow } from '../core/datasets.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { compactHandler } from '../lambdas/compactor/handler.ts';
import { planUnits } from '../lambdas/planner/plan-units.ts';
import { at, generateMinuteBars, putWarm, putWarmDays, sha256Of } from './compaction-fixtures.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';

const AGENTS = ['edge-1', 'edge-2'];
const NS_PER_DAY = 86_400_000_000_000n;

describe('daily bars rolled up from 1m bars', () => {
  const root = mkdtempSync(join(tmpdir(), 'tv-rollup-'));
  const store = new LocalDirectoryStore(join(root, 'store'));
  const scratchDir = join(root, 'scratch');
  const july = generateMinuteBars('SPY', '2024-07', [1, 2, 3, 5], 21, [3]);
  const august = generateMinuteBars('SPY', '2024-08', [1, 2], 22);
  // The feed's own daily bars: one for a day that has 1m bars (the roll-up wins), one for a day without (it stays).
  const feedBar = (day: string, close: number): BarRow => {
    const ts = BigInt(Date.parse(`${day}T04:00:00Z`)) * 1_000_000n;
    return { ts, ts_ns: ts, symbol: 'SPY', open: close - 1, high: close + 1, low: close - 2, close, volume: 1e6, trade_count: 9_000n, vwap: close - 0.5 };
  };
  const feedJuly1 = feedBar('2024-07-01', 999);
  const feedJuly8 = feedBar('2024-07-08', 77);

  beforeAll(async () => {
    for (const bars of [july, august]) {
      await putWarmDays(store, 'bars_1m', bars, 'edge-1', 200);
      await putWarmDays(store, 'bars_1m', bars.filter((_, i) => i % 3 === 0), 'edge-2', 100);
    }
    await putWarm(store, 'bars_1d', [feedJuly1], 0, 'edge-1');
    await putWarm(store, 'bars_1d', [feedJuly8], 0, 'edge-2');
  });

  it('is planned only after the 1m bars of its year are compacted, then once', async () => {
    const now = at('2024-09-02T02:15:00Z');
    const first = await planUnits({ store, agentIds: AGENTS, nowMs: now });
    expect(first.units).toEqual([{ dataset: 'bars_1m', symbol: 'SPY', month: '2024-07' }, { dataset: 'bars_1m', symbol: 'SPY', month: '2024-08' }]);
    expect(first.deferredRollups).toBe(1);
    for (const unit of first.units) {
      expect((await compactHandler(unit, { store, scratchDir, agentIds: AGENTS, nowMs: () => now })).status).toBe('compacted');
    }
    const second = await planUnits({ store, agentIds: AGENTS, nowMs: now + 3_600_000 });
    expect(second.units).toEqual([{ dataset: 'bars_1d', symbol: 'SPY', month: '2024' }]);
    const r = await compactHandler(second.units[0], { store, scratchDir, agentIds: AGENTS, nowMs: () => now + 3_600_000 });
    expect(r.mode).toBe('rollup');
    const third = await planUnits({ store, agentIds: AGENTS, nowMs: now + 2 * 3_600_000 });
    expect(third.units).toEqual([]);
  });

  it('equals a plain SQL roll-up of the cold 1m files, plus the feed bar of the day without 1m bars', async () => {
    const files: string[] = [];
    for (const month of ['2024-07', '2024-08']) {
      const manifest = await readColdManifest(store, 'bars_1m', month, 'SPY');
      const path = join(root, `1m-${month}.parquet`);
      await writeFile(path, await store.get(manifest?.coldKey ?? ''));
      files.push(path);
    }
    const reference = await duckdbRows(`
      WITH m AS (SELECT *, ts_ns // ${NS_PER_DAY} AS day FROM read_parquet([${files.map(sqlPath).join(', ')}])),
      w AS (SELECT day, symbol,
              first_value(open) OVER (PARTITION BY day ORDER BY ts_ns ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS o,
              last_value(close) OVER (PARTITION BY day ORDER BY ts_ns ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS c,
              high, low, volume, trade_count, vwap FROM m)
      SELECT day, any_value(o) AS open, max(high) AS high, min(low) AS low, any_value(c) AS close,
             sum(volume) AS volume, sum(trade_count)::BIGINT AS trade_count, sum(vwap * volume) AS pv
      FROM w GROUP BY day, symbol ORDER BY day`);
    const manifest = await readColdManifest(store, 'bars_1d', '2024', 'SPY');
    expect(manifest?.coldKey).toBe('cold/bars/timeframe=1d/year=2024/SPY.parquet');
    const daily = await decodeParquet(await store.get(manifest?.coldKey ?? ''), 'bars_1d', 'daily');
    // Six days of 1m bars, and July 8 from the feed.
    expect(daily.map((b) => new Date(Number(b.ts / 1_000_000n)).toISOString())).toEqual([
      '2024-07-01T00:00:00.000Z', '2024-07-02T00:00:00.000Z', '2024-07-03T00:00:00.000Z', '2024-07-05T00:00:00.000Z',
      '2024-07-08T04:00:00.000Z', '2024-08-01T00:00:00.000Z', '2024-08-02T00:00:00.000Z',
    ]);
    expect(daily.find((b) => b.ts === feedJuly8.ts)).toEqual(feedJuly8);
    const rolled = daily.filter((b) => b.ts !== feedJuly8.ts);
    expect(rolled).toHaveLength(reference.length);
    for (const [i, ref] of reference.entries()) {
      const bar = rolled[i] as BarRow;
      expect(bar.ts).toBe(BigInt(ref['day'] as bigint) * NS_PER_DAY);
      expect(bar.ts_ns).toBe(bar.ts);
      expect(bar.symbol).toBe('SPY');
      expect([bar.open, bar.high, bar.low, bar.close]).toEqual([ref['open'], ref['high'], ref['low'], ref['close']]);
      expect(bar.volume).toBeCloseTo(ref['volume'] as number, 6);
      expect(bar.trade_count).toBe(BigInt(ref['trade_count'] as bigint));
      const volume = ref['volume'] as number;
      // A day with no volume has nothing to weight by: its vwap is its close.
      if (volume === 0) expect(bar.vwap).toBe(bar.close);
      else expect(bar.vwap).toBeCloseTo((ref['pv'] as number) / volume, 9);
    }
    expect(rolled.find((b) => b.ts === feedJuly1.ts)).toBeUndefined();
    expect(rolled[2]?.volume).toBe(0); // July 3, the zero-volume day
  });

  it('rebuilds the same bytes when run again, and names its inputs in the manifest', async () => {
    const manifest = await readColdManifest(store, 'bars_1d', '2024', 'SPY');
    const before = await store.get(manifest?.coldKey ?? '');
    await compactHandler({ dataset: 'bars_1d', symbol: 'SPY', month: '2024' }, { store, scratchDir, agentIds: AGENTS, nowMs: () => at('2024-09-03T00:00:00Z') });
    expect(sha256Of(await store.get(manifest?.coldKey ?? ''))).toBe(sha256Of(before));
    const keys = manifest?.sources.map((s) => s.key) ?? [];
    expect(keys.filter((k) => k.startsWith('cold/'))).toEqual(['cold/bars/timeframe=1m/year=2024/month=07/SPY.parquet', 'cold/bars/timeframe=1m/year=2024/month=08/SPY.parquet']);
    expect(keys.filter((k) => k.startsWith('warm/')).length).toBe(2);
    // The feed's daily bars are this file's sources: tagged compacted. The 1m files are cold and never tagged.
    expect(await store.getTags(keys.find((k) => k.startsWith('warm/')) ?? '')).toMatchObject({ 'tickvault:compacted': 'true' });
  });
});
