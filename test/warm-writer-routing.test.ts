/**
 * The warm writer's routing of rows to partition buffers: with many symbols and datasets interleaved, some rows
 * jumping back and forth across midnight, and buffers sealed and written in the middle of the stream, every row
 * lands in exactly one file of its own (dataset, date, symbol) partition, in arrival order. Read back from the files.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeParquet } from '../core/codec/parquet-file.ts';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { dateOfNs, parseIsoInstantNs } from '../core/time.ts';
import { Prng } from '../edge-agent/simulator/prng.ts';
import { type SealedFile, WarmWriter } from '../edge-agent/warm/warm-writer.ts';

describe('warm writer routing', () => {
  it('puts every row in exactly one file of its partition, in order, with symbols interleaved across midnight', async () => {
    const warmDir = mkdtempSync(join(tmpdir(), 'tv-writer-routing-'));
    try {
      const sealed: SealedFile[] = [];
      const writer = new WarmWriter({ warmDir, flushIntervalMs: 3_600_000, maxRowsPerFile: 97, onSealed: (f) => sealed.push(f) });
      const prng = new Prng(17);
      const symbols = ['AAPL', 'MSFT', 'SPY', 'BTC/USD', 'ETH/USD', 'BRK.B'];
      const midnight = parseIsoInstantNs('2024-07-02T00:00:00Z');
      // Per partition, the trade ids or quote times in the order they were appended.
      const expected = new Map<string, bigint[]>();
      for (let seq = 1; seq <= 6000; seq++) {
        const symbol = prng.pick(symbols);
        // Crypto pairs straddle midnight, so their rows keep changing date (now and then a day earlier or later);
        // stocks stay at midday, one date each, so a buffer sealed under them is the one they would reach again.
        const aroundMidnight = symbol.includes('/');
        const dayShift = aroundMidnight && prng.chance(0.05) ? BigInt(prng.int(3) - 1) * 86_400_000_000_000n : 0n;
        const ts = (aroundMidnight ? midnight : midnight + 43_200_000_000_000n) + dayShift + BigInt(prng.int(2_000_000)) * 1000n - 1_000_000_000n;
        if (prng.chance(0.5)) {
          const row: TradeRow = { ts, ts_ns: ts, symbol, trade_id: BigInt(seq), price: 100, size: 1, exchange: 'V', conditions: '', tape: 'C' };
          writer.append('trades', row, BigInt(seq));
          push(expected, `trades/${dateOfNs(ts)}/${symbol}`, BigInt(seq));
        } else {
          const row: QuoteRow = { ts, ts_ns: ts, symbol, bid_price: 1, bid_size: 1, ask_price: 2, ask_size: 1, bid_exchange: 'V', ask_exchange: 'Q', conditions: 'R', tape: 'C' };
          writer.append('quotes', row, BigInt(seq));
          push(expected, `quotes/${dateOfNs(ts)}/${symbol}`, ts);
        }
        // Sealed buffers are written as the stream goes on: a row must never go to a buffer already written.
        if (seq % 500 === 0) await writer.flushDue();
      }
      await writer.flushAll();

      const got = new Map<string, bigint[]>();
      // Files of one partition in part order hold its rows in arrival order.
      for (const file of [...sealed].sort((a, b) => a.ref.part - b.ref.part)) {
        const partition = `${file.ref.dataset}/${file.ref.date}/${file.ref.symbol}`;
        if (file.ref.dataset === 'trades') {
          const rows = await decodeParquet(readFileSync(file.absPath), 'trades', file.relPath);
          for (const r of rows) push(got, partition, r.trade_id);
        } else {
          const rows = await decodeParquet(readFileSync(file.absPath), 'quotes', file.relPath);
          for (const r of rows) push(got, partition, r.ts_ns);
        }
      }
      expect(sealed.length).toBeGreaterThan(60);
      expect(new Set(got.keys())).toEqual(new Set(expected.keys()));
      for (const [partition, values] of expected) expect(got.get(partition), partition).toEqual(values);
    } finally {
      rmSync(warmDir, { recursive: true, force: true });
    }
  });
});

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
