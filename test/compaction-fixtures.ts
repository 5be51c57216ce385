/**
 * Shared by the compaction, planner, retention and roll-up tests: warm objects put the way the agent's uploader puts
 * them (same key, metadata, then the day's manifest rewritten: data first, manifest second), generated market data,
 * and small store helpers.
 */
import { createHash } from 'node:crypto';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { encodeParquet } from '../core/codec/parquet-file.ts';
import { type BarRow, type DatasetName, type QuoteRow, type RowOf, SCHEMA_VERSION, type TradeRow } from '../core/datasets.ts';
import { warmManifestKey, warmObjectKey } from '../core/layout.ts';
import type { ObjectInfo, ObjectStore } from '../core/object-store/object-store.ts';
import { dateOfNs } from '../core/time.ts';
import { WARM_MANIFEST_CONTENT_TYPE, type WarmManifestObject, encodeWarmManifest, readWarmManifest } from '../core/warm-manifest.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

export const sha256Of = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('base64');

/**
 * Puts one warm object of `rows` (all of one symbol and UTC day) as agent `agentId` would: the object with the
 * uploader's metadata, then that agent's manifest of the day with the object added. Returns the key.
 */
export async function putWarm<D extends DatasetName>(store: ObjectStore, dataset: D, rows: readonly RowOf<D>[], part: number, agentId: string): Promise<string> {
  const first = rows[0] as { ts: bigint; symbol: string } | undefined;
  if (first === undefined) throw new Error('putWarm needs at least one row');
  const batch = new ColumnarBatch(dataset, rows.length);
  let min = first.ts;
  let max = first.ts;
  for (const r of rows) {
    batch.append(r);
    const ts = (r as { ts: bigint }).ts;
    if (ts < min) min = ts;
    if (ts > max) max = ts;
  }
  const date = dateOfNs(first.ts);
  const key = warmObjectKey({ dataset, date, symbol: first.symbol, part }, agentId);
  const bytes = encodeParquet(batch);
  const sha256 = sha256Of(bytes);
  await store.put(key, bytes, {
    metadata: { sha256, rows: String(rows.length), 'min-ts-ns': String(min), 'max-ts-ns': String(max), 'schema-version': String(SCHEMA_VERSION) },
    contentType: 'application/vnd.apache.parquet',
  });
  const entry: WarmManifestObject = {
    key, symbol: first.symbol, part, rows: rows.length, bytes: bytes.byteLength, minTsNs: String(min), maxTsNs: String(max), sha256, schemaVersion: SCHEMA_VERSION,
  };
  const previous = await readWarmManifest(store, dataset, date, agentId);
  await store.put(warmManifestKey(dataset, date, agentId), encodeWarmManifest(
    { dataset, date, agentId, updatedAtMs: Date.now() },
    [...(previous?.objects ?? []), entry],
  ), { contentType: WARM_MANIFEST_CONTENT_TYPE });
  return key;
}

/** Splits rows by UTC day and puts each day's rows in parts of at most `partRows`, numbering parts per day from `firstPart`. */
export async function putWarmDays<D extends DatasetName>(
  store: ObjectStore, dataset: D, rows: readonly RowOf<D>[], agentId: string, partRows: number, firstPart = 0,
): Promise<string[]> {
  const byDay = new Map<string, RowOf<D>[]>();
  for (const r of rows) {
    const day = dateOfNs((r as { ts: bigint }).ts);
    let list = byDay.get(day);
    if (list === undefined) byDay.set(day, (list = []));
    list.push(r);
  }
  const keys: string[] = [];
  for (const dayRows of byDay.values()) {
    for (let i = 0, part = firstPart; i < dayRows.length; i += partRows, part++) keys.push(await putWarm(store, dataset, dayRows.slice(i, i + partRows), part, agentId));
  }
  return keys;
}

const NS_PER_MS = 1_000_000n;

/** `count` trades of one symbol spread over the UTC days `days` of a month, sorted, with unique increasing ids. */
export function generateTrades(symbol: string, month: string, days: readonly number[], count: number, seed: number, firstId = 1n): TradeRow[] {
  const random = seededRandom(seed);
  const rows: TradeRow[] = [];
  let price = 100 + random() * 50;
  const perDay = Math.ceil(count / days.length);
  let id = firstId;
  for (const day of days) {
    const dayStart = BigInt(Date.parse(`${month}-${String(day).padStart(2, '0')}T13:30:00Z`)) * NS_PER_MS;
    const n = Math.min(perDay, count - rows.length);
    const spacing = (6n * 3_600_000n * NS_PER_MS) / BigInt(Math.max(1, n));
    for (let i = 0; i < n; i++) {
      price = Math.max(1, price + (random() - 0.5) * 0.1);
      const ts = dayStart + BigInt(i) * spacing + BigInt(Math.floor(random() * 1000));
      rows.push({
        ts, ts_ns: ts, symbol, trade_id: id++, price: Math.round(price * 100) / 100, size: 1 + Math.floor(random() * 500),
        exchange: ['V', 'Q', 'N', 'P'][Math.floor(random() * 4)] ?? 'V', conditions: random() < 0.8 ? '@' : '@,I', tape: 'C',
      });
    }
  }
  return rows;
}

/** Quotes, some with sizes missing (null), and a few exact duplicates within the stream itself. */
export function generateQuotes(symbol: string, month: string, days: readonly number[], count: number, seed: number): QuoteRow[] {
  const random = seededRandom(seed);
  const rows: QuoteRow[] = [];
  const perDay = Math.ceil(count / days.length);
  let mid = 200;
  for (const day of days) {
    const dayStart = BigInt(Date.parse(`${month}-${String(day).padStart(2, '0')}T13:30:00Z`)) * NS_PER_MS;
    for (let i = 0; i < perDay && rows.length < count; i++) {
      mid += (random() - 0.5) * 0.05;
      const ts = dayStart + BigInt(i) * 1_000_000n;
      rows.push({
        ts, ts_ns: ts, symbol, bid_price: Math.round((mid - 0.01) * 100) / 100, bid_size: random() < 0.05 ? null : 100 * (1 + Math.floor(random() * 9)),
        ask_price: Math.round((mid + 0.01) * 100) / 100, ask_size: random() < 0.05 ? null : 100 * (1 + Math.floor(random() * 9)),
        bid_exchange: 'Q', ask_exchange: 'N', conditions: 'R', tape: 'C',
      });
    }
  }
  return rows;
}

/** 1m bars of the regular session of each day: 390 a day, with realistic OHLC, volume and vwap; `zeroVolumeDays` get volume 0. */
export function generateMinuteBars(symbol: string, month: string, days: readonly number[], seed: number, zeroVolumeDays: readonly number[] = []): BarRow[] {
  const random = seededRandom(seed);
  const rows: BarRow[] = [];
  let price = 50 + random() * 20;
  for (const day of days) {
    const open = BigInt(Date.parse(`${month}-${String(day).padStart(2, '0')}T13:30:00Z`)) * NS_PER_MS;
    for (let m = 0; m < 390; m++) {
      const o = price;
      const c = Math.max(1, o + (random() - 0.5) * 0.4);
      const h = Math.max(o, c) + random() * 0.1;
      const l = Math.min(o, c) - random() * 0.1;
      price = c;
      const zero = zeroVolumeDays.includes(day);
      const volume = zero ? 0 : Math.floor(100 + random() * 5000);
      const ts = open + BigInt(m) * 60_000n * NS_PER_MS;
      rows.push({
        ts, ts_ns: ts, symbol, open: round4(o), high: round4(h), low: round4(l), close: round4(c), volume,
        trade_count: zero ? 0n : BigInt(1 + Math.floor(random() * 80)), vwap: round4((o + h + l + c) / 4),
      });
    }
  }
  return rows;
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

export async function listInfos(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const infos: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) infos.push(info);
  return infos;
}

/** Copies every object under `prefix` (with its metadata) from one store to another. */
export async function copyObjects(from: ObjectStore, to: ObjectStore, prefix: string): Promise<number> {
  let n = 0;
  for (const key of await listKeys(from, prefix)) {
    const head = await from.head(key);
    const contentType = key.endsWith('.json') ? 'application/json' : 'application/vnd.apache.parquet';
    await to.put(key, await from.get(key), { metadata: { ...head?.metadata }, contentType });
    n++;
  }
  return n;
}

export function sortTrades(rows: readonly TradeRow[]): TradeRow[] {
  return [...rows].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.trade_id < b.trade_id ? -1 : a.trade_id > b.trade_id ? 1 : 0));
}

/** Epoch milliseconds of an ISO instant, for injected clocks. */
export const at = (iso: string): number => Date.parse(iso);
