/**
 * The same warm objects compacted three ways must give byte-identical cold files:
 *   - the handlers (plannerHandler, compactHandler) on a local store, in process;
 *   - the Lambda entry points (`handler`) against a real S3-compatible server (Swift on loopback), configured only
 *     through the environment, as in Lambda (BUCKET, AGENT_IDS, AWS_ENDPOINT_URL_S3, S3_FORCE_PATH_STYLE, ...);
 *   - `tickvault compact`, the command, in a child process on a local data directory.
 * Swift has no object tagging: there the compactor reports `tagged: false` and carries on.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeColdManifest } from '../core/cold-manifest.ts';
import type { TradeEventRow, TradeRow } from '../core/datasets.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { S3ObjectStore } from '../core/object-store/s3-store.ts';
import { type CompactionSummary, compactHandler, handler as compactorLambda } from '../lambdas/compactor/handler.ts';
import { handler as plannerLambda, plannerHandler } from '../lambdas/planner/handler.ts';
import { handler as retentionLambda } from '../lambdas/retention/handler.ts';
import type { LambdaContext } from '../lambdas/shared/log.ts';
import { type CompactionUnit, monthOfMs, previousMonth } from '../lambdas/shared/compaction-units.ts';
import {
  copyObjects, generateMinuteBars, generateQuotes, generateTrades, listKeys, putWarm, putWarmDays, sha256Of,
} from './compaction-fixtures.ts';
import { runCli } from './support/cli.ts';
import { type S3TestServer, s3ServerAvailability, startS3Server } from './support/s3-server.ts';

const swift = s3ServerAvailability();
if (!swift.available) console.warn(`compaction-s3.test.ts: S3 tests SKIPPED: ${swift.reason}`);

const AGENTS = ['edge-1', 'edge-2'];
const BUCKET = 'tickvault-data';
// Two months back: sealed, and inside the planner's default look-back window.
const MONTH = previousMonth(previousMonth(monthOfMs(Date.now())));

async function coldObjects(store: ObjectStore): Promise<Map<string, Uint8Array>> {
  const objects = new Map<string, Uint8Array>();
  for (const key of await listKeys(store, 'cold/')) objects.set(key, await store.get(key));
  return objects;
}

/** Runs the workflow by hand: plan, compact every unit, and again until nothing is planned (roll-ups come second). */
async function runWorkflow(plan: () => Promise<{ units: readonly CompactionUnit[] }>, compact: (unit: CompactionUnit) => Promise<CompactionSummary>): Promise<CompactionSummary[]> {
  const results: CompactionSummary[] = [];
  for (let round = 0; round < 4; round++) {
    const { units } = await plan();
    if (units.length === 0) return results;
    for (const unit of units) results.push(await compact(unit));
  }
  throw new Error('the planner kept planning');
}

describe.skipIf(!swift.available)('compaction on a local store, on S3 (Swift) through the Lambda handlers, and by the command', () => {
  let server: S3TestServer;
  const root = mkdtempSync(join(tmpdir(), 'tv-compact-s3-'));
  const local = new LocalDirectoryStore(join(root, 'local'));
  const cliDataDir = join(root, 'cli-data');
  let s3: S3ObjectStore;
  let localResults: CompactionSummary[];
  let lambdaResults: CompactionSummary[];

  beforeAll(async () => {
    server = await startS3Server();
    await server.createBucket(BUCKET);
    s3 = new S3ObjectStore({ client: server.createClient(), bucket: BUCKET });
    const [y, m] = MONTH.split('-');
    const trades = generateTrades('AAPL', MONTH, [2, 3, 4], 6_000, 31);
    await putWarmDays(local, 'trades', trades, 'edge-1', 800);
    await putWarmDays(local, 'trades', trades.filter((_, i) => i % 2 === 0), 'edge-2', 900);
    const t = trades[100] as TradeRow;
    const cancel: TradeEventRow = {
      ts: t.ts + 1000n, ts_ns: t.ts + 1000n, symbol: 'AAPL', action: 'cancel', trade_id: t.trade_id, price: t.price, size: t.size,
      exchange: t.exchange, conditions: t.conditions, corrected_trade_id: null, corrected_price: null, corrected_size: null, corrected_conditions: '', tape: t.tape,
    };
    await putWarm(local, 'trade_events', [cancel], 0, 'edge-1');
    await putWarmDays(local, 'quotes', generateQuotes('SPY', MONTH, [2, 3], 4_000, 32), 'edge-2', 1_000);
    await putWarmDays(local, 'bars_1m', generateMinuteBars('SPY', MONTH, [2, 3, 4], 33), 'edge-1', 300);
    expect(`${y}-${m}`).toBe(MONTH);
    await copyObjects(local, s3, 'warm/');
    await copyObjects(local, new LocalDirectoryStore(join(cliDataDir, 'store')), 'warm/');

    Object.assign(process.env, {
      BUCKET,
      AGENT_IDS: AGENTS.join(','),
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      AWS_REGION: server.region,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      S3_FORCE_PATH_STYLE: 'true',
      SCRATCH_DIR: join(root, 'lambda-tmp'),
      DUCKDB_MEMORY_LIMIT: '512MB',
      LOG_LEVEL: 'info',
    });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('the handlers on a local store compact every unit, the roll-up in a second round', async () => {
    localResults = await runWorkflow(
      () => plannerHandler({}, { store: local, agentIds: AGENTS }),
      (unit) => compactHandler(unit, { store: local, scratchDir: join(root, 'local-tmp'), agentIds: AGENTS }),
    );
    expect(localResults.map((r) => `${r.unit.dataset} ${r.unit.symbol}`).sort()).toEqual([
      'bars_1d SPY', 'bars_1m SPY', 'quotes SPY', 'trade_events AAPL', 'trades AAPL',
    ]);
    expect(localResults.every((r) => r.status === 'compacted' && r.tagged)).toBe(true);
    expect(localResults.filter((r) => r.unit.dataset !== 'bars_1d').every((r) => r.taggedObjects > 0)).toBe(true);
  }, 120_000);

  it('the Lambda handlers on Swift do the same from their environment, and report that Swift cannot tag', async () => {
    // Powertools' Logger and Metrics write JSON lines to stdout (info) and stderr (warn, error): capture both.
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array): boolean => (lines.push(...String(chunk).split('\n').filter(Boolean)), true);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      lambdaResults = await runWorkflow(() => plannerLambda({}, lambdaContext('planner', 'req-plan')), (unit) => compactorLambda(unit, lambdaContext('compactor', `req-${unit.dataset}`)));
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const compacted = entries.filter((e) => e['message'] === 'unit compacted');
    expect(compacted).toHaveLength(lambdaResults.length);
    expect(compacted.find((e) => e['function_request_id'] === 'req-trades')).toMatchObject({
      level: 'INFO', service: 'tickvault-compactor', function_name: 'tickvault-compactor', unit: `trades AAPL ${MONTH}`, status: 'compacted',
    });
    expect(entries.find((e) => e['message'] === 'planned')).toMatchObject({ level: 'INFO', service: 'tickvault-planner', function_request_id: 'req-plan' });
    // The planner's compaction lag, as CloudWatch's embedded metric format with the service dimension the alarm reads.
    expect(entries.find((e) => '_aws' in e)).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'tickvault', Dimensions: [['service']], Metrics: [{ Name: 'CompactionLagDays', Unit: 'None' }] }] },
      service: 'tickvault-planner',
      CompactionLagDays: expect.any(Number),
    });
    expect(lambdaResults.map((r) => `${r.unit.dataset} ${r.unit.symbol}`).sort()).toEqual(localResults.map((r) => `${r.unit.dataset} ${r.unit.symbol}`).sort());
    // The roll-up here has no warm sources (no feed daily bars), so nothing of its own to tag.
    expect(lambdaResults.every((r) => r.status === 'compacted' && r.tagged === (r.unit.dataset === 'bars_1d') && r.taggedObjects === 0)).toBe(true);
  }, 120_000);

  it('gives byte-identical cold files on both stores', async () => {
    const a = await coldObjects(local);
    const b = await coldObjects(s3);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [key, bytes] of a) {
      if (key.endsWith('.parquet')) {
        expect(sha256Of(b.get(key) ?? new Uint8Array()), key).toBe(sha256Of(bytes));
      } else if (key.includes('/_manifest-')) {
        // Manifests differ only in the compaction times.
        const ma = decodeColdManifest(key, bytes);
        const mb = decodeColdManifest(key, b.get(key) ?? new Uint8Array());
        expect({ ...mb, compactedAt: '', sources: mb.sources.map((s) => ({ ...s, compactedAt: '' })) })
          .toEqual({ ...ma, compactedAt: '', sources: ma.sources.map((s) => ({ ...s, compactedAt: '' })) });
      }
    }
  });

  it('`tickvault compact` gives the same cold files from the same warm objects', async () => {
    // No AGENT_IDS: the command finds the agents from the manifests it lists.
    const run = await runCli(['compact', '--month', MONTH, '--data-dir', cliDataDir], { env: { AGENT_IDS: '' } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as CompactionSummary);
    expect(lines.map((l) => `${l.unit.dataset} ${l.unit.symbol}`)).toEqual(['bars_1m SPY', 'quotes SPY', 'trade_events AAPL', 'trades AAPL', 'bars_1d SPY']);
    const cli = await coldObjects(new LocalDirectoryStore(join(cliDataDir, 'store')));
    const a = await coldObjects(local);
    const parquet = (m: Map<string, Uint8Array>) => [...m].filter(([k]) => k.endsWith('.parquet')).map(([k, v]) => [k, sha256Of(v)]);
    expect(parquet(cli)).toEqual(parquet(a));
    // The command writes no plan markers: it is not the scheduled workflow.
    expect([...cli.keys()].some((k) => k.includes('/_plan-'))).toBe(false);
  }, 120_000);

  it('the retention Lambda on Swift deletes what was compacted long enough ago; the planner then reads those as compacted', async () => {
    expect((await retentionLambda({})).deleted).toBe(0);
    const r = await retentionLambda({ retentionDays: 0 });
    expect(r.deleted).toBeGreaterThan(0);
    expect(r.mismatched).toBe(0);
    const plan = await plannerLambda({});
    expect(plan.units).toEqual([]);
    expect(plan.upToDate).toBe(5);
  }, 120_000);
});

function lambdaContext(name: string, requestId: string): LambdaContext {
  return {
    functionName: `tickvault-${name}`, functionVersion: '$LATEST', memoryLimitInMB: '3008', awsRequestId: requestId,
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:tickvault-${name}`,
  };
}
