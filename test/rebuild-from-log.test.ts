/**
 * Rebuilding lost warm files from the write-ahead log, on what a real agent wrote: a file the warm writer sealed
 * (DuckDB) comes back byte for byte, and so does a file sealed before the warm writer encoded with DuckDB
 * (hyparquet-writer, recorded here by giving its ledger entry that encoding's checksum); other bytes are refused.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { decodeParquet, encodeParquet } from '../core/codec/parquet-file.ts';
import { rebuildFromLog } from '../edge-agent/ops/rebuild-from-log.ts';
import { type SealedEntry, WarmLedger } from '../edge-agent/warm/warm-ledger.ts';
import { runCli } from './support/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'tv-rebuild-'));
const dataDir = join(root, 'data');
let sealed: SealedEntry[] = [];

beforeAll(async () => {
  // Uploads fail (the store is under a regular file), so the log keeps every event of the sealed files.
  const blocker = join(root, 'blocker');
  writeFileSync(blocker, '');
  writeFileSync(join(root, 'drain-fast.json'), JSON.stringify({ drainTimeoutSeconds: 1 }));
  const run = await runCli(['agent', '--duration', '3', '--data-dir', dataDir, '--store', join(blocker, 'store'), '--config', join(root, 'drain-fast.json'),
    '--flush-interval', '1', '--rate', '300', '--symbols', 'AAPL']);
  expect(run.code, run.stderr.slice(-500)).toBe(0);
  const ledger = WarmLedger.open(join(dataDir, 'state', 'warm-ledger.jsonl'));
  sealed = ledger.live().map((s) => s.sealed);
  ledger.close();
  expect(sealed.filter((e) => e.dataset === 'trades').length).toBeGreaterThanOrEqual(2);
  expect(sealed.length).toBeGreaterThanOrEqual(3);
}, 60_000);

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('base64');

it('rebuilds a file the warm writer sealed, and one sealed by the earlier encoder, byte for byte; refuses other bytes', async () => {
  const [mine, older] = sealed.filter((e) => e.dataset === 'trades') as [SealedEntry, SealedEntry];
  const other = sealed.find((e) => e !== mine && e !== older) as SealedEntry;
  const onDisk = readFileSync(join(dataDir, 'warm', mine.path));
  // The earlier encoder's bytes for the same rows, as a ledger written before this version would record them.
  const olderRows = await decodeParquet(readFileSync(join(dataDir, 'warm', older.path)), 'trades', older.path);
  const olderBatch = new ColumnarBatch('trades', olderRows.length);
  for (const row of olderRows) olderBatch.append(row);
  const olderBytes = encodeParquet(olderBatch);
  const asBefore: SealedEntry = { ...older, sha256: sha256(olderBytes), bytes: olderBytes.byteLength };
  const wrong: SealedEntry = { ...other, sha256: sha256(new Uint8Array([1, 2, 3])) };
  const all = sealed.map((e) => (e.path === older.path ? asBefore : e));

  const outcomes = await rebuildFromLog(join(dataDir, 'wal'), [mine, asBefore, wrong], all);
  const rebuilt = outcomes.get(mine.path);
  expect(rebuilt?.ok && Buffer.from(rebuilt.bytes).equals(onDisk)).toBe(true);
  const rebuiltOlder = outcomes.get(older.path);
  expect(rebuiltOlder?.ok && Buffer.from(rebuiltOlder.bytes).equals(Buffer.from(olderBytes))).toBe(true);
  expect(outcomes.get(other.path)).toMatchObject({ ok: false, reason: expect.stringMatching(/differs from the one the ledger recorded/) });
}, 60_000);
