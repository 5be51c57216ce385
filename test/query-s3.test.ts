/**
 * The embedded engine over a real S3-compatible store (OpenStack Swift on loopback, test/support/s3-server.ts):
 * the same warm and cold objects as in a local store give the same answer, every data object is downloaded (S3 has
 * no local path), only the planned ones are, and the scratch copies are gone afterwards.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { S3ObjectStore } from '../core/object-store/s3-store.ts';
import { defineQuery } from '../query/model.ts';
import { runQuery } from '../query/tier-router.ts';
import { NS_PER_MINUTE, dayNs, genTrades, onDay, putCold, putWarmDay } from './query-fixtures.ts';
import { type S3TestServer, s3ServerAvailability, startS3Server } from './support/s3-server.ts';

const swift = s3ServerAvailability();
if (!swift.available) console.info(`query over S3 skipped: ${swift.reason}`);

describe.skipIf(!swift.available)('queries over an S3 store', () => {
  let server: S3TestServer;
  let client: S3Client;
  let s3: S3ObjectStore;
  const localDir = mkdtempSync(join(tmpdir(), 'tv-query-s3-local-'));
  const local = new LocalDirectoryStore(localDir);
  const trades = genTrades('BTC/USD', dayNs('2024-06-30'), dayNs('2024-07-03'), 3n * NS_PER_MINUTE, 1n, 31);

  beforeAll(async () => {
    server = await startS3Server();
    client = server.createClient();
    await server.createBucket('market');
    s3 = new S3ObjectStore({ client, bucket: 'market', prefix: 'tickvault/' });
    for (const store of [local, s3] as ObjectStore[]) {
      await putCold(store, 'trades', '2024-06', trades.filter((t) => t.ts_ns < dayNs('2024-07-01')));
      for (const date of ['2024-07-01', '2024-07-02']) await putWarmDay(store, 'trades', onDay(trades, date), { partRows: 200 });
    }
  }, 120_000);
  afterAll(async () => {
    client?.destroy();
    await server?.stop();
    rmSync(localDir, { recursive: true, force: true });
  });

  it('gives the local store\'s answer, downloading exactly the planned objects and keeping no copy', async () => {
    const query = defineQuery({ kind: 'ohlcv', symbols: ['BTC/USD'], from: '2024-06-30T12:00:00Z', to: '2024-07-01T12:00:00Z', interval: '15m' });
    const scratchBefore = readdirSync(tmpdir()).filter((n) => n.startsWith('tickvault-query-')).length;
    const remote = await runQuery(query, { store: s3 });
    const inPlace = await runQuery(query, { store: local });
    // Equal up to the last bit of the float sums, whose order parallel aggregation does not fix.
    expect(remote.rows.map(({ vwap: _v, ...r }) => r)).toEqual(inPlace.rows.map(({ vwap: _v, ...r }) => r));
    remote.rows.forEach((r, i) => expect(r['vwap']).toBeCloseTo(inPlace.rows[i]?.['vwap'] as number, 9));
    expect(remote.rows.length).toBe(96);
    expect(remote.stats.files.map((f) => [f.location, f.access])).toEqual(inPlace.stats.files.map((f) => [f.location, 'downloaded']));
    expect(inPlace.stats.files.every((f) => f.access === 'in-place')).toBe(true);
    // June's cold file and the July 1 parts before noon (the manifest prunes the rest); nothing of July 2.
    expect(remote.stats.files[0]?.location).toBe('cold/trades/year=2024/month=06/BTC%2FUSD.parquet');
    expect(remote.stats.files.slice(1).every((f) => f.location.startsWith('warm/trades/date=2024-07-01/symbol=BTC%2FUSD/'))).toBe(true);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('tickvault-query-')).length).toBeLessThanOrEqual(scratchBefore);
  });
});
