import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type SealedEntry, WarmLedger } from '../edge-agent/warm/warm-ledger.ts';

function sealed(part: number): SealedEntry {
  const path = `trades/date=2024-07-01/symbol=AAPL/part-${String(part).padStart(5, '0')}.parquet`;
  return {
    type: 'sealed', path, dataset: 'trades', date: '2024-07-01', symbol: 'AAPL', part, rows: 10, bytes: 100,
    minTsNs: '1', maxTsNs: '2', sha256: 'x', schemaVersion: 1, sealedAtMs: part,
  };
}

describe('warm ledger', () => {
  it('counts files uploaded and still on the host through uploads, deletions, quarantines, a rewrite and a reopen', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tv-ledger-')), 'ledger.jsonl');
    const ledger = WarmLedger.open(path);
    const files = [0, 1, 2, 3].map(sealed);
    for (const f of files) ledger.record(f);
    expect(ledger.uploadedOnHost()).toBe(0);
    for (const f of files.slice(0, 3)) ledger.record({ type: 'uploaded', path: f.path, key: `warm/${f.path}`, uploadedAtMs: 10 });
    expect(ledger.uploadedOnHost()).toBe(3);
    ledger.record({ type: 'deleted', path: files[0]?.path ?? '', reason: 'retention', atMs: 20 });
    // A quarantined file that was never uploaded changes nothing; one that was uploaded leaves the count.
    ledger.record({ type: 'quarantined', path: files[3]?.path ?? '', reason: 'checksum', atMs: 21 });
    ledger.record({ type: 'quarantined', path: files[1]?.path ?? '', reason: 'checksum', atMs: 22 });
    expect(ledger.uploadedOnHost()).toBe(1);
    // The same as a scan of the ledger.
    expect(ledger.live().filter((f) => f.uploaded !== undefined)).toHaveLength(1);
    ledger.rewrite();
    expect(ledger.uploadedOnHost()).toBe(1);
    ledger.close();
    const reopened = WarmLedger.open(path);
    expect(reopened.uploadedOnHost()).toBe(1);
    expect(reopened.live().map((f) => f.sealed.part)).toEqual([2]);
    reopened.close();
  });
});
