/**
 * Compaction against an independent reference: real BTCUSDT trades spread over several warm objects (as several
 * agents would upload them), with duplicates across objects, shuffled arrival order, cancels and corrections.
 * The cold file must equal, row for row, what a plain in-memory computation says it should hold.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMPACTED_AT_TAG, COMPACTED_TAG, coldManifestKey, decodeColdManifest, readColdManifest } from '../core/cold-manifest.ts';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import { decodeParquet } from '../core/codec/parquet-file.ts';
import type { QuoteRow, TradeEventRow, TradeRow } from '../core/datasets.ts';
import { COLD_PREFIX, coldFilePath } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { compactHandler } from '../lambdas/compactor/handler.ts';
import { memoryLogger } from '../lambdas/shared/log.ts';
import { generateQuotes, generateTrades, listKeys, putWarm, putWarmDays, sha256Of } from './compaction-fixtures.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';
import { sharedDataDir } from './support/shared-data.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const AGENTS = ['edge-0', 'edge-1', 'edge-2', 'edge-3'];

const key = (r: { trade_id: bigint }) => r.trade_id.toString();

describe('trades compaction with duplicates, cancels and corrections', () => {
  const random = seededRandom(2024);
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
    const result = await compactHandler({ dataset: 'trades', symbol: 'BTCUSDT', month: '2020-02' }, { store, scratchDir, agentIds: AGENTS });
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
    const again = await compactHandler({ dataset: 'trades', symbol: 'BTCUSDT', month: '2020-02' }, { store, scratchDir, agentIds: AGENTS });
    expect(again.rowsOut).toBe(expected.length);
    expect(Buffer.compare(Buffer.from(await store.get(coldKey)), Buffer.from(first))).toBe(0);
  });

  it('publishes a manifest naming every source, and tags the warm trades it holds', async () => {
    const manifest = await readColdManifest(store, 'trades', '2020-02', 'BTCUSDT');
    expect(manifest).toBeDefined();
    const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: 'trades', period: '2020-02', symbol: 'BTCUSDT' })}`;
    const warm = await listKeys(store, 'warm/');
    const data = warm.filter((k) => !k.includes('/_manifest-'));
    expect(manifest?.coldKey).toBe(coldKey);
    expect(manifest?.mode).toBe('full');
    expect(manifest?.sha256).toBe(sha256Of(await store.get(coldKey)));
    expect(manifest?.rows).toBe(expected.length);
    expect(manifest?.sources.map((s) => s.key)).toEqual(data);
    for (const source of manifest?.sources ?? []) {
      expect(source.sha256).toBe(sha256Of(await store.get(source.key)));
      const tags = await store.getTags(source.key);
      // Trade events are the trade_events file's to retire, not this one's.
      if (source.key.startsWith('warm/trades/')) expect(tags).toEqual({ [COMPACTED_TAG]: 'true', [COMPACTED_AT_TAG]: manifest?.sources[0]?.compactedAt });
      else expect(tags).toEqual({});
    }
    expect(decodeColdManifest(coldManifestKey('trades', '2020-02', 'BTCUSDT'), await store.get(coldManifestKey('trades', '2020-02', 'BTCUSDT')))).toEqual(manifest);
  });

  it('writes bloom filters for the dictionary-encoded columns (DuckDB does, for dictionaries that fit)', async () => {
    const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: 'trades', period: '2020-02', symbol: 'BTCUSDT' })}`;
    const file = join(scratchDir, 'bloom.parquet');
    await writeFile(file, await store.get(coldKey));
    const columns = await duckdbRows(`SELECT path_in_schema AS col, encodings, bloom_filter_length IS NOT NULL AS bloom FROM parquet_metadata(${sqlPath(file)}) WHERE row_group_id = 0`);
    const bloom = Object.fromEntries(columns.map((c) => [c['col'], c['bloom']]));
    expect(bloom).toMatchObject({ symbol: true, exchange: true, conditions: true, tape: true });
    const probe = async (value: string) => (await duckdbRows(`SELECT bool_and(bloom_filter_excludes) AS excluded FROM parquet_bloom_probe(${sqlPath(file)}, 'symbol', '${value}')`))[0]?.['excluded'];
    expect(await probe('BTCUSDT')).toBe(false);
    expect(await probe('ETHUSDT')).toBe(true);
  });

  it('rejects bad events naming the field', async () => {
    await expect(compactHandler({ dataset: 'trades', symbol: '../etc', month: '2020-02' }, { store, scratchDir })).rejects.toThrow(/invalid symbol "\.\.\/etc"/);
    await expect(compactHandler({ dataset: 'orders', symbol: 'AAPL', month: '2020-02' }, { store, scratchDir })).rejects.toThrow(/unknown dataset 'orders'/);
    await expect(compactHandler({ dataset: 'trades', symbol: 'AAPL', month: '2020-2' }, { store, scratchDir })).rejects.toThrow(/month: expected YYYY-MM/);
    await expect(compactHandler({ dataset: 'trades', symbol: 'AAPL', month: '2020-02', extra: 1 }, { store, scratchDir })).rejects.toThrow(/invalid compaction event/);
  });
});

describe('quotes compaction with duplicates across agents', () => {
  const store = new LocalDirectoryStore(mkdtempSync(join(tmpdir(), 'tv-compact-q-')));
  const scratchDir = mkdtempSync(join(tmpdir(), 'tv-compact-q-scratch-'));
  const quotes = generateQuotes('ESU4', '2024-07', [1, 2, 3], 9_000, 7);
  // A quote has no id: a duplicate is the same full row, from another agent or repeated by the feed.
  const withRepeats = quotes.flatMap((q, i) => (i % 97 === 0 ? [q, { ...q }] : [q]));
  const random = seededRandom(99);

  beforeAll(async () => {
    for (const [a, agent] of ['edge-1', 'edge-2'].entries()) {
      const seen = withRepeats.filter(() => random() < 0.7);
      await putWarmDays(store, 'quotes', seen, agent, 1_000, a * 100);
    }
    // Whatever both missed, from a third agent, so the expected set is every distinct quote.
    const key = (q: QuoteRow) => JSON.stringify(q, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const stored = new Set<string>();
    for (const k of await listKeys(store, 'warm/quotes/')) {
      if (k.includes('/_manifest-')) continue;
      for (const q of await decodeParquet(await store.get(k), 'quotes', k)) stored.add(key(q));
    }
    const missed = quotes.filter((q) => !stored.has(key(q)));
    if (missed.length > 0) await putWarmDays(store, 'quotes', missed, 'edge-3', 1_000);
  });

  it('keeps each distinct quote once (nulls included), sorted by time', async () => {
    const result = await compactHandler({ dataset: 'quotes', symbol: 'ESU4', month: '2024-07' }, { store, scratchDir, agentIds: ['edge-1', 'edge-2', 'edge-3'] });
    expect(result.status).toBe('compacted');
    const key = (q: QuoteRow) => JSON.stringify(q, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const distinct = [...new Map(quotes.map((q) => [key(q), q])).values()];
    expect(result.rowsOut).toBe(distinct.length);
    expect(result.duplicatesRemoved).toBe(result.rowsIn - distinct.length);
    expect(result.rowsIn).toBeGreaterThan(distinct.length);
    const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: 'quotes', period: '2024-07', symbol: 'ESU4' })}`;
    const cold = await decodeParquet(await store.get(coldKey), 'quotes', coldKey);
    expect(cold.map(key).sort()).toEqual(distinct.map(key).sort());
    expect(cold.some((q) => q.bid_size === null)).toBe(true);
    for (let i = 1; i < cold.length; i++) expect((cold[i]?.ts ?? 0n) >= (cold[i - 1]?.ts ?? 0n)).toBe(true);
  });
});

describe('trades whose copies differ', () => {
  it('keeps one row per (symbol, trade_id), the least in the order of every column', async () => {
    const store = new LocalDirectoryStore(mkdtempSync(join(tmpdir(), 'tv-compact-conflict-')));
    const scratchDir = mkdtempSync(join(tmpdir(), 'tv-compact-conflict-scratch-'));
    const trades = generateTrades('MSFT', '2024-07', [1, 2], 2_000, 5);
    // The second agent's copy of every tenth trade names another exchange ('A' sorts before the generator's codes).
    const altered = trades.map((t, i) => (i % 10 === 0 ? { ...t, exchange: 'A' } : t));
    await putWarmDays(store, 'trades', trades, 'edge-1', 300);
    await putWarmDays(store, 'trades', altered, 'edge-2', 400);
    const log = memoryLogger();
    const result = await compactHandler({ dataset: 'trades', symbol: 'MSFT', month: '2024-07' }, { store, scratchDir, agentIds: ['edge-1', 'edge-2'], log });
    expect(result.rowsIn).toBe(4_000);
    expect(result.rowsOut).toBe(2_000);
    expect(log.entries.some((e) => /copies of a trade differ/.test(e.message))).toBe(true);
    const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset: 'trades', period: '2024-07', symbol: 'MSFT' })}`;
    expect(await decodeParquet(await store.get(coldKey), 'trades', coldKey)).toEqual(altered);
  });
});
