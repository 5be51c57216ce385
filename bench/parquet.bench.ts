/**
 * Warm Parquet: how fast a 100K-row flush is written and how many bytes a trade takes, beside the named baseline
 * parquetjs-lite (the design's first idea) and the earlier hyparquet-writer encoder writing the same rows in the
 * same run.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import parquet from 'parquetjs-lite';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { DuckDBParquetEncoder } from '../core/codec/duckdb-parquet-encoder.ts';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import { encodeParquet } from '../core/codec/parquet-file.ts';
import type { TradeRow } from '../core/datasets.ts';
import { parseDecodedFrame } from '../edge-agent/feed/alpaca-messages.ts';
import { MarketModel } from '../edge-agent/simulator/market-model.ts';
import { writeFileAtomicWith } from '../edge-agent/warm/atomic-file.ts';
import { type BenchTable, medianMs } from './table.ts';

const ROWS = 100_000;
/** Timed runs of each encoder (median); the baseline runs once. */
const RUNS = 9;

/** 100K realistic trades of one symbol from the simulator's model. */
export function generatedTrades(count = ROWS, symbol = 'AAPL'): TradeRow[] {
  const model = new MarketModel({ seed: 7, symbols: [symbol], startNs: 1_719_878_400_000_000_000n, tradeShare: 1 });
  const rows: TradeRow[] = [];
  let untilNs = 1_719_878_400_000_000_000n;
  while (rows.length < count) {
    untilNs += 60_000_000_000n;
    const frame = parseDecodedFrame(model.advance(Math.min(10_000, count - rows.length), untilNs));
    for (const e of frame.events) if (e.kind === 'trade') rows.push(e.row);
  }
  return rows.slice(0, count);
}

function batchOf(rows: readonly TradeRow[]): ColumnarBatch<'trades'> {
  const batch = new ColumnarBatch('trades', rows.length);
  for (const row of rows) batch.append(row);
  return batch;
}

async function parquetjsLiteWrite(rows: readonly TradeRow[], path: string): Promise<void> {
  const schema = new parquet.ParquetSchema({
    ts: { type: 'TIMESTAMP_MICROS' }, ts_ns: { type: 'INT64' }, symbol: { type: 'UTF8' }, trade_id: { type: 'INT64' },
    price: { type: 'DOUBLE' }, size: { type: 'DOUBLE' }, exchange: { type: 'UTF8' }, conditions: { type: 'UTF8' }, tape: { type: 'UTF8' },
  });
  const writer = await parquet.ParquetWriter.openFile(schema, path);
  for (const r of rows) {
    await writer.appendRow({
      ts: new Date(Number(r.ts / 1_000_000n)), ts_ns: Number(r.ts_ns), symbol: r.symbol, trade_id: Number(r.trade_id),
      price: r.price, size: r.size, exchange: r.exchange, conditions: r.conditions, tape: r.tape,
    });
  }
  await writer.close();
}

export async function runParquetBench(sharedDataDir: string): Promise<BenchTable[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tv-bench-parquet-'));
  const encoder = await DuckDBParquetEncoder.open();
  try {
    const rows = generatedTrades();
    const appendMs = await medianMs(RUNS, () => batchOf(rows));
    const batch = batchOf(rows);
    let bytes: Uint8Array = new Uint8Array();
    const flushMs = await medianMs(RUNS, async () => { bytes = await encoder.encode(batch); });
    let sealed = 0;
    const sealMs = await medianMs(RUNS, () => writeFileAtomicWith(join(dir, `part-${String(sealed++).padStart(5, '0')}.parquet`), (temp) => encoder.writeFile(batch, temp)));
    let jsBytes: Uint8Array = new Uint8Array();
    const jsMs = await medianMs(RUNS, () => { jsBytes = encodeParquet(batch); });
    const baselinePath = join(dir, 'parquetjs-lite.parquet');
    const baselineMs = await medianMs(1, () => parquetjsLiteWrite(rows, baselinePath));
    const baselineBytes = statSync(baselinePath).size;
    const faster = (ms: number): string => `${(baselineMs / ms).toFixed(1)}x faster`;
    const flush: BenchTable = {
      title: `Warm flush of ${ROWS.toLocaleString('en-US')} trades (generated, one symbol)`,
      columns: ['writer', 'flush ms', 'rows/s', 'bytes/trade', 'vs baseline'],
      rows: [
        ['tickvault (DuckDB COPY from the columnar buffer, ZSTD level 1, delta, dictionary)', flushMs, (ROWS / flushMs) * 1000, bytes.byteLength / ROWS, faster(flushMs)],
        ['  same, sealed: into the temporary file, fsync, rename', sealMs, (ROWS / sealMs) * 1000, bytes.byteLength / ROWS, faster(sealMs)],
        ['hyparquet-writer (the earlier encoder, Snappy, delta, dictionary)', jsMs, (ROWS / jsMs) * 1000, jsBytes.byteLength / ROWS, faster(jsMs)],
        ['baseline: parquetjs-lite', baselineMs, (ROWS / baselineMs) * 1000, baselineBytes / ROWS, '1.0x'],
        ['warm append (columnar buffer)', appendMs, (ROWS / appendMs) * 1000, '', `${((appendMs * 1000) / ROWS).toFixed(3)} µs/row`],
      ],
      note: `Design: ~100 ms per 100K-row flush, 200K warm writes/s, 24 B/trade warm. Median of ${RUNS} runs (baseline: 1 run); flush ms is encoding to bytes, "sealed" what the warm writer does (its durable write included).`,
    };
    const sizes: (string | number)[][] = [];
    for (const name of ['trades_tardis_binance-futures_BTCUSDT_20200222.csv', 'trades_freqtrade_binance_XRPETH_20191011-20191013.csv', 'trades_databento_GLBX_ESU4_20240701.csv']) {
      const path = join(sharedDataDir, name);
      const csv = readFileSync(path, 'utf8');
      const real = parseMarketCsv(csv, path).records.map((r) => r.row as TradeRow);
      const encoded = await encoder.encode(batchOf(real));
      const js = encodeParquet(batchOf(real));
      const liteFile = join(dir, `${basename(name)}.parquet`);
      await parquetjsLiteWrite(real, liteFile);
      sizes.push([basename(name, '.csv'), real.length, Buffer.byteLength(csv) / real.length, encoded.byteLength / real.length, js.byteLength / real.length, statSync(liteFile).size / real.length]);
    }
    const size: BenchTable = {
      title: 'Bytes per trade on the real samples (../shared/data)',
      columns: ['file', 'trades', 'CSV B/trade', 'tickvault B/trade', 'hyparquet-writer B/trade', 'parquetjs-lite B/trade'],
      rows: sizes,
      note: 'Whole files including footers, so small files pay a fixed overhead. Design: 96 B raw, 24 B warm, ~15 B cold.',
    };
    return [flush, size];
  } finally {
    await encoder.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
