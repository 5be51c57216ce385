/**
 * Compaction against an independent reference: real BTCUSDT trades spread over several warm objects (as several
 * agents would upload them), with duplicates across objects, shuffled arrival order, cancels and corrections.
 * The cold file must equal, row for row, what a plain in-memory computation says it should hold.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import { decodeParquet, encodeParquet } from '../core/codec/parquet-file.ts';
import type { DatasetName, RowOf, TradeEventRow, TradeRow } from '../core/datasets.ts';
import { COLD_PREFIX, coldFilePath, warmObjectKey } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { dateOfNs } from '../core/time.ts';
import { compactHandler } from '../lambdas/compactor/handler.ts';
import { sharedDataDir } from './support/shared-data.ts';

/** A small seeded PRNG so every run builds the same scenario. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function putWarm<D extends DatasetName>(store: ObjectStore, dataset: D, rows: RowOf<D>[], part: number, agentId: string): Promise<void> {
  const first = rows[0] as { ts: bigint; symbol: string };
  const batch = new ColumnarBatch(dataset, rows.length);
  for (const r of rows) batch.append(r);
  await store.put(warmObjectKey({ dataset, date: dateOfNs(first.ts), symbol: first.symbol, part }, agentId), encodeParquet(batch));
}

const key = (r: { trade_id: bigint }) => r.trade_id.toString();

describe('trades compaction with duplicates, cancels and corrections', () => {
  const random = prng(2024);
  const csv = join(sharedDataDir(), 'trades_tardis_binance-futures_BTCUSDT_20200222.csv');
  const trades = parseMarketCsv(readFileSync(csv, 'utf8'), csv).records.map((r) => r.row as TradeRow);
  const store = new LocalDirectoryStore(mkdtempSync(join(tmpdir(), 'tv-compact-')));
  const scratchDir = mkdtempSync(join(tmpdir(), 'tv-compact-scratch-'));
  let expected: TradeRow[];
  let cancels: number;
  let corrections: number;
  let duplicateCopies: number;

  beforeAll(async () => {
    // Three "agents" each recorded an overlapping 60% of the stream; each uploads it in shuffled chunks.
    const parts: { rows: TradeRow[]; agent: string }[] = [];
    duplicateCopies = 0;
    for (let agent = 0; agent < 3; agent++) {
      const seen = trades.filter(() => random() < 0.6);
      duplicateCopies += seen.length;
      for (let i = seen.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [seen[i], seen[j]] = [seen[j] as TradeRow, seen[i] as TradeRow];
      }
      for (let i = 0; i < seen.length; i += 1500) parts.push({ rows: seen.slice(i, i + 1500), agent: `edge-${agent}` });
    }
    // Every trade must be somewhere: a fourth source holds whatever the three missed.
    const held = new Set(parts.flatMap((p) => p.rows).map(key));
    const missed = trades.filter((t) => !held.has(key(t)));
    if (missed.length > 0) parts.push({ rows: missed, agent: 'edge-3' });
    duplicateCopies += missed.length;
    for (const [i, { rows, agent }] of parts.entries()) await putWarm(store, 'trades', rows, i, agent);

    // Events: cancel 1% of trades (some twice), correct 1% (one of them twice: the latest wins).
    const events: TradeEventRow[] = [];
    const eventBase = (t: TradeRow, dtNs: bigint) => ({
      ts: t.ts + dtNs, ts_ns: t.ts + dtNs, symbol: t.symbol, trade_id: t.trade_id, price: t.price, size: t.size,
      exchange: t.exchange, conditions: t.conditions, tape: t.tape,
    });
    const cancelled = new Set<string>();
    const correctedTo = new Map<string, { id: bigint; price: number; size: number; conditions: string }>();
    for (const t of trades) {
      const r = random();
      if (r < 0.01) {
        cancelled.add(key(t));
        events.push({ ...eventBase(t, 1_000_000n), action: 'cancel', corrected_trade_id: null, corrected_price: null, corrected_size: null, corrected_conditions: '' });
        if (r < 0.003) events.push({ ...eventBase(t, 2_000_000n), action: 'error', corrected_trade_id: null, corrected_price: null, corrected_size: null, corrected_conditions: '' });
      } else if (r < 0.02) {
        const first = { id: t.trade_id + 1_000_000_000n, price: t.price + 0.5, size: t.size * 2, conditions: 'corrected' };
        events.push({ ...eventBase(t, 1_000_000n), action: 'correction', corrected_trade_id: first.id, corrected_price: first.price, corrected_size: first.size, corrected_conditions: first.conditions });
        let final = first;
        if (r < 0.012) {
          final = { id: t.trade_id + 2_000_000_000n, price: t.price - 0.5, size: t.size / 2, conditions: 'corrected twice' };
          events.push({ ...eventBase(t, 5_000_000n), action: 'correction', corrected_trade_id: final.id, corrected_price: final.price, corrected_size: final.size, corrected_conditions: final.conditions });
        }
        correctedTo.set(key(t), final);
      }
    }
    await putWarm(store, 'trade_events', events.slice(0, Math.floor(events.length / 2)), 0, 'edge-0');
    await putWarm(store, 'trade_events', events.slice(Math.floor(events.length / 3)), 0, 'edge-1'); // overlapping copies
    cancels = cancelled.size;
    corrections = correctedTo.size;

    // The reference: plain JavaScript over the inputs.
    expected = trades
      .filter((t) => !cancelled.has(key(t)))
      .map((t) => {
        const c = correctedTo.get(key(t));
        return c === undefined ? t : { ...t, trade_id: c.id, price: c.price, size: c.size, conditions: c.conditions };
      })
      .sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.trade_id < b.trade_id ? -1 : a.trade_id > b.trade_id ? 1 : 0));
  });

  it('writes exactly the reference rows, in (ts, trade_id) order', async () => {
    const result = await compactHandler({ dataset: 'trades', symbol: 'BTCUSDT', month: '2020-02' }, { store, scratchDir });
    expect(result.status).toBe('compacted');
    expect(result.cancelsApplied).toBe(cancels);
    expect(result.correctionsApplied).toBe(corrections);
    expect(result.rowsIn).toBe(duplicateCopies);
    expect(result.rowsOut).toBe(expected.length);
    const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: 'trades', period: '2020-02', symbol: 'BTCUSDT' })}`;
    const cold = await decodeParquet(await store.get(coldKey), 'trades', coldKey);
    expect(cold).toEqual(expected);
  });

  it('gives byte-identical output when run again', async () => {
    const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: 'trades', period: '2020-02', symbol: 'BTCUSDT' })}`;
    const first = await store.get(coldKey);
    const again = await compactHandler({ dataset: 'trades', symbol: 'BTCUSDT', month: '2020-02' }, { store, scratchDir });
    expect(again.rowsOut).toBe(expected.length);
    expect(Buffer.compare(Buffer.from(await store.get(coldKey)), Buffer.from(first))).toBe(0);
  });

  it('rejects bad events naming the field', async () => {
    await expect(compactHandler({ dataset: 'trades', symbol: '../etc', month: '2020-02' }, { store, scratchDir })).rejects.toThrow(/invalid symbol "\.\.\/etc"/);
    await expect(compactHandler({ dataset: 'orders', symbol: 'AAPL', month: '2020-02' }, { store, scratchDir })).rejects.toThrow(/unknown dataset 'orders'/);
    await expect(compactHandler({ dataset: 'trades', symbol: 'AAPL', month: '2020-2' }, { store, scratchDir })).rejects.toThrow(/month: expected YYYY-MM/);
    await expect(compactHandler({ dataset: 'trades', symbol: 'AAPL', month: '2020-02', extra: 1 }, { store, scratchDir })).rejects.toThrow(/invalid compaction event/);
  });
});
