/**
 * The shortcuts of trades compaction and their checks: distinct trade ids are counted with a bitmap over their range
 * when it is narrow, with a hash when it is not; duplicates are dropped day by day, and a trade whose copies span
 * two days is left twice by that, seen by the row arithmetic, and deduplicated the exact way instead. Whichever way
 * runs, the cold file must hold exactly the distinct trades.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { decodeParquet, encodeParquet } from '../core/codec/parquet-file.ts';
import { SCHEMA_VERSION, type TradeRow } from '../core/datasets.ts';
import { COLD_PREFIX, coldFilePath, warmManifestKey, warmObjectKey } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { WARM_MANIFEST_CONTENT_TYPE, encodeWarmManifest, readWarmManifest } from '../core/warm-manifest.ts';
import { ID_BITMAP_MAX_BITS, distinctTradeIdsSelect } from '../lambdas/compactor/compaction-sql.ts';
import { compactHandler } from '../lambdas/compactor/handler.ts';
import { memoryLogger } from '../lambdas/shared/log.ts';
import { generateTrades, putWarmDays, sha256Of, sortTrades } from './compaction-fixtures.ts';
import { duckdbRows } from './support/duckdb.ts';

const coldKeyOf = (symbol: string): string => `${COLD_PREFIX}${coldFilePath({ dataset: 'trades', period: '2024-07', symbol })}`;

describe('distinct trade ids', () => {
  const values = (ids: readonly bigint[]): string => `(VALUES ${ids.map((id) => `(CAST('${id}' AS BIGINT))`).join(', ')}) t(trade_id)`;
  const count = async (ids: readonly bigint[], range: { min: bigint; max: bigint } | undefined): Promise<unknown> =>
    (await duckdbRows(distinctTradeIdsSelect(values(ids), range)))[0]?.['distinct_in'];

  it('counts the same with the bitmap as with the hash, out to the ends of BIGINT', async () => {
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    for (const ids of [[5n, 5n, 7n, 6n, 5n], [min, min + 3n, min, min + 1n], [max, max - 9n, max, max - 9n, max - 1n]]) {
      const range = { min: ids.reduce((a, b) => (b < a ? b : a)), max: ids.reduce((a, b) => (b > a ? b : a)) };
      expect(distinctTradeIdsSelect('t', range)).toMatch(/bitstring_agg/);
      expect(await count(ids, range)).toBe(BigInt(new Set(ids).size));
      expect(await count(ids, undefined)).toBe(BigInt(new Set(ids).size));
    }
  });

  it('counts ids spread wider than the bitmap allows with the hash', () => {
    expect(distinctTradeIdsSelect('t', { min: 0n, max: ID_BITMAP_MAX_BITS - 1n })).toMatch(/bitstring_agg/);
    expect(distinctTradeIdsSelect('t', { min: 0n, max: ID_BITMAP_MAX_BITS })).toMatch(/count\(DISTINCT trade_id\)/);
  });
});

describe('trades compaction shortcuts', () => {
  it('compacts trades whose ids are spread too wide for the bitmap (counted with the hash)', async () => {
    const store = new LocalDirectoryStore(mkdtempSync(join(tmpdir(), 'tv-dedupe-wide-')));
    const scratchDir = mkdtempSync(join(tmpdir(), 'tv-dedupe-wide-scratch-'));
    // Ids 2^31 apart: the month's range is far wider than ID_BITMAP_MAX_BITS.
    const trades = generateTrades('NVDA', '2024-07', [1, 2, 3], 3_000, 11).map((t) => ({ ...t, trade_id: t.trade_id * 2n ** 31n }));
    await putWarmDays(store, 'trades', trades, 'edge-1', 400);
    await putWarmDays(store, 'trades', trades.filter((_t, i) => i % 3 !== 0), 'edge-2', 300);
    const log = memoryLogger();
    const result = await compactHandler({ dataset: 'trades', symbol: 'NVDA', month: '2024-07' }, { store, scratchDir, agentIds: ['edge-1', 'edge-2'], log });
    expect(result.rowsIn).toBe(3_000 + 2_000);
    expect(result.rowsOut).toBe(3_000);
    expect(result.duplicatesRemoved).toBe(2_000);
    expect(log.entries.some((e) => /copies of a trade differ/.test(e.message))).toBe(false);
    expect(await decodeParquet(await store.get(coldKeyOf('NVDA')), 'trades', coldKeyOf('NVDA'))).toEqual(sortTrades(trades));
  });

  it('keeps once a trade whose copies were filed under two days, deduplicating the exact way', async () => {
    const store = new LocalDirectoryStore(mkdtempSync(join(tmpdir(), 'tv-dedupe-days-')));
    const scratchDir = mkdtempSync(join(tmpdir(), 'tv-dedupe-days-scratch-'));
    const trades = generateTrades('AMD', '2024-07', [1, 2], 2_000, 3);
    await putWarmDays(store, 'trades', trades, 'edge-1', 500);
    // The second agent's copy of the 1st's trades went under the 2nd's key: the same rows, two day groups.
    const firstDay = trades.filter((t) => t.ts < BigInt(Date.parse('2024-07-02T00:00:00Z')) * 1_000_000n);
    await putMisfiled(store, firstDay.slice(0, 300), '2024-07-02', 'edge-2');
    const log = memoryLogger();
    const result = await compactHandler({ dataset: 'trades', symbol: 'AMD', month: '2024-07' }, { store, scratchDir, agentIds: ['edge-1', 'edge-2'], log });
    expect(result.rowsIn).toBe(2_300);
    expect(result.rowsOut).toBe(2_000);
    expect(log.entries.some((e) => /copies of a trade differ/.test(e.message))).toBe(true);
    expect(await decodeParquet(await store.get(coldKeyOf('AMD')), 'trades', coldKeyOf('AMD'))).toEqual(sortTrades(trades));
  });
});

/** Puts trades under a warm key of `date` whatever their own day, and adds the object to that day's manifest. */
async function putMisfiled(store: LocalDirectoryStore, rows: readonly TradeRow[], date: string, agentId: string): Promise<void> {
  const batch = new ColumnarBatch('trades', rows.length);
  for (const r of rows) batch.append(r);
  const bytes = encodeParquet(batch);
  const key = warmObjectKey({ dataset: 'trades', date, symbol: rows[0]?.symbol ?? '', part: 90 }, agentId);
  const sha256 = sha256Of(bytes);
  await store.put(key, bytes, { metadata: { sha256, rows: String(rows.length) } });
  const previous = await readWarmManifest(store, 'trades', date, agentId);
  await store.put(warmManifestKey('trades', date, agentId), encodeWarmManifest({ dataset: 'trades', date, agentId, updatedAtMs: 0 }, [
    ...(previous?.objects ?? []),
    { key, symbol: rows[0]?.symbol ?? '', part: 90, rows: rows.length, bytes: bytes.byteLength, minTsNs: '0', maxTsNs: '0', sha256, schemaVersion: SCHEMA_VERSION },
  ]), { contentType: WARM_MANIFEST_CONTENT_TYPE });
}
