/**
 * `tickvault validate` catches every corruption we can inject into a warm file — truncation, flipped bits in data
 * pages and in the footer, a foreign file, a wrong schema version, a row-count or checksum disagreement with the
 * manifest — moves the bad file to quarantine and records it, so it is never uploaded or compacted.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import type { TradeRow } from '../core/datasets.ts';
import { WarmLedger } from '../edge-agent/warm/warm-ledger.ts';
import { validateWarmFiles } from '../edge-agent/warm/validate.ts';
import { WarmWriter } from '../edge-agent/warm/warm-writer.ts';
import { runCli } from './support/cli.ts';
import { sharedDataDir } from './support/shared-data.ts';

async function sealedFiles(dataDir: string, count: number): Promise<string[]> {
  const csv = join(sharedDataDir(), 'trades_tardis_binance-futures_BTCUSDT_20200222.csv');
  const rows = parseMarketCsv(readFileSync(csv, 'utf8'), csv).records.map((r) => r.row as TradeRow);
  const ledger = WarmLedger.open(join(dataDir, 'state', 'warm-ledger.jsonl'));
  const paths: string[] = [];
  const writer = new WarmWriter({
    warmDir: join(dataDir, 'warm'), flushIntervalMs: 1e9, maxRowsPerFile: Math.ceil(rows.length / count),
    onSealed: (f) => {
      ledger.record({
        type: 'sealed', path: f.relPath, dataset: f.ref.dataset, date: f.ref.date, symbol: f.ref.symbol, part: f.ref.part, rows: f.rows,
        bytes: f.bytes, minTsNs: f.minTsNs.toString(), maxTsNs: f.maxTsNs.toString(), sha256: f.sha256, schemaVersion: f.schemaVersion,
        walSeq: f.walSeq.toString(), sealedAtMs: Date.now(),
      });
      paths.push(f.absPath);
    },
  });
  rows.forEach((r, i) => writer.append('trades', r, BigInt(i + 1)));
  await writer.flushAll();
  await writer.close();
  ledger.close();
  return paths;
}

it('catches every injected corruption, quarantines the bad files and leaves the good ones', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-validate-'));
  const files = await sealedFiles(dataDir, 8);
  expect(files).toHaveLength(8);
  const [good, truncated, pageFlip, footerFlip, magic, foreign, appended, renamed] = files as [string, string, string, string, string, string, string, string];
  const bytes = (f: string) => readFileSync(f);
  writeFileSync(truncated, bytes(truncated).subarray(0, bytes(truncated).length - 100));
  const flip = (f: string, at: (len: number) => number) => {
    const b = bytes(f);
    const i = at(b.length);
    b[i] = (b[i] as number) ^ 0x10;
    writeFileSync(f, b);
  };
  flip(pageFlip, () => 200); // inside the first data page
  flip(footerFlip, (n) => n - 40); // inside the footer
  flip(magic, (n) => n - 1); // the trailing PAR1
  writeFileSync(foreign, Buffer.from('not parquet at all'));
  writeFileSync(appended, Buffer.concat([bytes(appended), Buffer.from('trailing garbage')]));
  copyFileSync(good, renamed); // a valid Parquet file whose rows and checksum disagree with its manifest entry

  const findings = await validateWarmFiles({ dataDir, paths: [join(dataDir, 'warm')] });
  const byFile = new Map(findings.map((f) => [f.file, f]));
  expect(byFile.get(good)?.ok).toBe(true);
  for (const bad of [truncated, pageFlip, footerFlip, magic, foreign, appended, renamed]) {
    const f = byFile.get(bad);
    expect(f?.ok, `${bad} should be caught`).toBe(false);
    expect(f?.problems.length).toBeGreaterThan(0);
    expect(existsSync(bad)).toBe(false);
    expect(f?.quarantinedTo !== undefined && existsSync(f.quarantinedTo)).toBe(true);
  }
  expect(byFile.get(renamed)?.problems.join(' ')).toMatch(/checksum .* differs from the manifest/);
  // The ledger now says quarantined: the uploader will never send them, the compactor never sees them.
  const ledger = WarmLedger.open(join(dataDir, 'state', 'warm-ledger.jsonl'));
  expect(ledger.pendingUpload().map((e) => join(dataDir, 'warm', e.path))).toEqual([good]);
  ledger.close();
});

it('tickvault validate reports each bad file on one line and exits 1; a clean tree exits 0', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-validate-cli-'));
  const files = await sealedFiles(dataDir, 2);
  const clean = await runCli(['validate', join(dataDir, 'warm'), '--data-dir', dataDir]);
  expect(clean.code).toBe(0);
  expect(clean.stdout).toContain('2 file(s) checked, 2 good, 0 bad');
  writeFileSync(files[1] as string, readFileSync(files[1] as string).subarray(0, 50));
  const dirty = await runCli(['validate', join(dataDir, 'warm'), '--data-dir', dataDir]);
  expect(dirty.code).toBe(1);
  expect(dirty.stdout).toMatch(/^BAD .*part-00001\.parquet: .*footer unreadable.*\(moved to .*quarantine/m);
  const missing = await runCli(['validate', join(dataDir, 'nope.parquet'), '--data-dir', dataDir]);
  expect(missing.code).toBe(1);
  expect(missing.stdout).toMatch(/BAD .*nope\.parquet: missing/);
});
