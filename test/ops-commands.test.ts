/**
 * `tickvault status`, `verify` and `repair` as an operator runs them, on data a real agent wrote: status beside the
 * running agent (hot tier included); verify clean; then, each on its own copy of the data directory, a deleted store
 * object, a truncated warm file and a manifest whose row count was edited — each caught with exit 1 and a line
 * naming it, and repaired. Files lost before upload are rebuilt from the write-ahead log while it still holds them,
 * and reported as lost when it does not.
 */
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { decodeWarmManifest, encodeWarmManifest } from '../core/warm-manifest.ts';
import { progress } from '../edge-agent/ops/progress.ts';
import type { TierStatus } from '../edge-agent/ops/tier-status.ts';
import { runCli, startAgentWithHttp } from './support/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'tv-ops-'));
const baseDir = join(root, 'base');

/** A copy of the agent's data directory (its store inside), for one case. */
function copyOfBase(name: string): string {
  const dir = join(root, name);
  cpSync(baseDir, dir, { recursive: true });
  return dir;
}

function files(dir: string, pattern: RegExp): string[] {
  return (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).filter((f) => pattern.test(f)).sort().map((f) => join(dir, f));
}

const storeOf = (dataDir: string) => new LocalDirectoryStore(join(dataDir, 'store'));
async function storeKeys(dataDir: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of storeOf(dataDir).list(prefix)) keys.push(info.key);
  return keys.sort();
}

let agent: ChildProcess | undefined;
let agentUrl = '';
let statusWhileRunning: Awaited<ReturnType<typeof runCli>>;
let verifyWhileRunning: Awaited<ReturnType<typeof runCli>>;
let repairWhileRunning: Awaited<ReturnType<typeof runCli>>;

beforeAll(async () => {
  const running = await startAgentWithHttp(baseDir, ['--rate', '400', '--flush-interval', '1', '--symbols', 'AAPL,MSFT']);
  agent = running.child;
  agentUrl = running.url;
  const done = running.done;
  for (let i = 0; ; i++) {
    const s = (await (await fetch(`${agentUrl}/v1/status`)).json()) as { report: { filesUploaded: number } };
    if (s.report.filesUploaded >= 6) break;
    if (i > 100) throw new Error('the agent uploaded no files in 25 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  [statusWhileRunning, verifyWhileRunning, repairWhileRunning] = await Promise.all([
    runCli(['status', '--data-dir', baseDir, '--agent', agentUrl, '--format', 'json']),
    runCli(['verify', '--data-dir', baseDir]),
    runCli(['repair', '--data-dir', baseDir]),
  ]);
  agent.kill('SIGTERM');
  const exit = await done;
  expect(exit.code, exit.stderr.slice(-1000)).toBe(0);
  agent = undefined;
}, 120_000);

afterAll(() => {
  agent?.kill('SIGKILL');
});

describe('beside a running agent', () => {
  it('status summarises every tier, the hot one from the agent', () => {
    expect(statusWhileRunning.code, statusWhileRunning.stderr).toBe(0);
    const s = JSON.parse(statusWhileRunning.stdout) as TierStatus;
    expect(s.hot).toMatchObject({ state: 'running', url: agentUrl, feed: { kind: 'sim', connected: true } });
    expect(s.hot.state === 'running' && s.hot.symbols).toBe(2);
    // Minute bars appear too when the run crosses a minute boundary.
    expect(Object.keys(s.warm.byDataset)).toEqual(expect.arrayContaining(['quotes', 'trades']));
    expect(s.warm.total.files).toBeGreaterThanOrEqual(6);
    expect(s.warm.total.rows).toBeGreaterThan(0);
    const trades = s.warm.byDataset['trades'];
    expect(Object.values(trades?.byDate ?? {}).reduce((n, d) => n + d.rows, 0)).toBe(trades?.rows);
    expect(s.store.error).toBeUndefined();
    expect(s.store.error === undefined && s.store.warm.dataObjects).toBeGreaterThanOrEqual(6);
    expect(s.wal.segments).toBeGreaterThanOrEqual(1);
    expect(s.snapshots.count).toBeGreaterThanOrEqual(1);
    expect(s.disk?.totalBytes).toBeGreaterThan(0);
  });

  it('verify reads without disturbing it, and repair refuses to run', () => {
    expect(verifyWhileRunning.stderr).toBe('');
    expect(verifyWhileRunning.stdout).toMatch(/no mismatches/);
    expect(verifyWhileRunning.code).toBe(0);
    expect(repairWhileRunning.code).toBe(1);
    expect(repairWhileRunning.stderr).toMatch(/^tickvault: an agent is running on .* \(process \d+ has .*warm-ledger\.jsonl open\); stop it first/);
  });
});

describe('on the stopped agent data', () => {
  it('status prints a table of warm files by dataset and date, the store and the other tiers', async () => {
    const run = await runCli(['status', '--data-dir', baseDir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^HOT \(in memory, in the running agent\)\n {2}not running/m);
    expect(run.stdout).toMatch(/^ {2}dataset +date +files +bytes +rows$/m);
    expect(run.stdout).toMatch(/^ {2}trades +\d{4}-\d{2}-\d{2} +\d+ +[\d.]+ [KM]?i?B +\d+$/m);
    expect(run.stdout).toMatch(/^ {2}warm\/ +\d+ /m);
    expect(run.stdout).toMatch(/^ {2}empty: every sealed file is in the store$/m);
    for (const section of ['WRITE-AHEAD LOG', 'SNAPSHOTS', 'QUARANTINE', 'DISK']) expect(run.stdout).toContain(`\n${section}\n`);
  });

  it('verify is clean', async () => {
    const run = await runCli(['verify', '--data-dir', baseDir]);
    expect(run.stdout).toMatch(/checked \d+ warm files on this host, \d+ uploaded objects, \d+ warm manifests naming \d+ objects, 0 cold manifests .*: no mismatches\n$/);
    expect(run.code).toBe(0);
  });

  it('verify catches a deleted store object, naming it; repair uploads it again', async () => {
    const dir = copyOfBase('deleted-object');
    const key = (await storeKeys(dir, 'warm/trades/')).find((k) => k.endsWith('.parquet')) as string;
    await storeOf(dir).delete(key);
    const verify = await runCli(['verify', '--data-dir', dir]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`MISMATCH [store-missing] ${key}: missing from the store; the ledger recorded`);
    expect(verify.stdout).toMatch(new RegExp(`MISMATCH \\[manifest-object-missing\\] warm/trades/date=[\\d-]+/_manifest-[a-z0-9-]+\\.json: names ${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, which is not in the store`));
    expect(verify.stdout).toMatch(/: 2 mismatches\n$/);

    const dry = await runCli(['repair', '--data-dir', dir, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`WOULD RE-UPLOAD ${key}: missing from the store; uploaded again from`);
    expect(await storeKeys(dir, 'warm/trades/')).not.toContain(key);

    const repair = await runCli(['repair', '--data-dir', dir]);
    expect(repair.stdout).toContain(`RE-UPLOADED ${key}: missing from the store; uploaded again from ${join(dir, 'warm')}`);
    expect(repair.stdout).toMatch(/1 repair\(s\) made, 0 problem\(s\) left\n$/);
    expect(repair.code).toBe(0);
    const after = await runCli(['verify', '--data-dir', dir]);
    expect(after.stdout).toMatch(/no mismatches/);
    expect(after.code).toBe(0);
  });

  it('verify catches a truncated warm file, naming it; repair quarantines it (its store copy is intact)', async () => {
    const dir = copyOfBase('truncated');
    const file = files(join(dir, 'warm', 'quotes'), /\.parquet$/)[0] as string;
    truncateSync(file, 200);
    const verify = await runCli(['verify', '--data-dir', dir]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(new RegExp(`^MISMATCH \\[local-size\\] ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 200 bytes on disk, the ledger says \\d+ \\(truncated\\)$`, 'm'));
    expect(verify.stdout).toMatch(/: 1 mismatch\n$/);

    const repair = await runCli(['repair', '--data-dir', dir]);
    expect(repair.code).toBe(0);
    expect(repair.stdout).toContain(`QUARANTINED ${file}: footer unreadable (200 bytes)`);
    expect((await runCli(['verify', '--data-dir', dir])).code).toBe(0);
  });

  it('verify catches a manifest whose row count was edited, naming manifest and object; repair rewrites it', async () => {
    const dir = copyOfBase('edited-manifest');
    const store = storeOf(dir);
    const manifestKey = (await storeKeys(dir, 'warm/quotes/')).find((k) => k.includes('/_manifest-')) as string;
    const manifest = decodeWarmManifest(manifestKey, await store.get(manifestKey));
    const edited = manifest.objects[0] as (typeof manifest.objects)[number];
    await store.put(manifestKey, encodeWarmManifest(manifest, [{ ...edited, rows: edited.rows + 7 }, ...manifest.objects.slice(1)]));

    const verify = await runCli(['verify', '--data-dir', dir]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`MISMATCH [manifest-rows] ${manifestKey}: names ${edited.key} with ${edited.rows + 7} rows; its footer says ${edited.rows}`);
    expect(verify.stdout).toContain(`MISMATCH [manifest-ledger] ${manifestKey}: names ${edited.key} with ${edited.rows + 7} rows`);
    // --quick reads no object, and still sees the manifest disagree with the ledger.
    const quick = await runCli(['verify', '--data-dir', dir, '--quick']);
    expect(quick.code).toBe(1);
    expect(quick.stdout).toContain(`MISMATCH [manifest-ledger] ${manifestKey}`);
    expect(quick.stdout).not.toContain('[manifest-rows]');

    const repair = await runCli(['repair', '--data-dir', dir]);
    expect(repair.code).toBe(0);
    expect(repair.stdout).toContain(`REWROTE MANIFEST ${manifestKey}: corrected ${edited.key} (rows ${edited.rows + 7} → ${edited.rows})`);
    expect((await runCli(['verify', '--data-dir', dir])).code).toBe(0);
  });

  it('rejects bad arguments with exit 2 and a message naming them', async () => {
    const cases: [string[], RegExp][] = [
      [['verify', '--data-dir', baseDir, '--bogus'], /^tickvault: verify: Unknown option '--bogus'/],
      [['status', '--data-dir', baseDir, '--format', 'xml'], /^tickvault: status: --format "xml": expected table or json/],
      [['status', '--data-dir', baseDir, '--agent', 'localhost:8080'], /^tickvault: status: --agent "localhost:8080": expected the agent's read API URL/],
      [['repair', '--data-dir', baseDir, '--store', 'ftp://x/y'], /^tickvault: repair: --store: invalid store spec "ftp:\/\/x\/y"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    for (const [i, [args, message]] of cases.entries()) {
      expect(runs[i]?.code, args.join(' ')).toBe(2);
      expect(runs[i]?.stderr, args.join(' ')).toMatch(message);
    }
    const missing = await runCli(['verify', '--data-dir', join(root, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/data directory .*nowhere does not exist/);
  });
});

describe('files lost before they reached the store', () => {
  it('are rebuilt from the write-ahead log, byte for byte, while it holds them; reported lost once it does not', async () => {
    // Uploads fail (the store is under a regular file), so every sealed file stays pending on the host.
    const dir = join(root, 'unsynced');
    const blocker = join(root, 'blocker');
    writeFileSync(blocker, '');
    writeFileSync(join(root, 'drain-fast.json'), JSON.stringify({ drainTimeoutSeconds: 1 }));
    const store = join(blocker, 'store');
    const run = await runCli(['agent', '--duration', '3', '--data-dir', dir, '--store', store, '--config', join(root, 'drain-fast.json'), '--flush-interval', '1', '--rate', '300', '--symbols', 'AAPL']);
    expect(run.code, run.stderr.slice(-500)).toBe(0);
    const warm = files(join(dir, 'warm'), /\.parquet$/);
    expect(warm.length).toBeGreaterThanOrEqual(3);
    const [gone, cut, later] = warm as [string, string, string];
    rmSync(gone);
    truncateSync(cut, 10);
    const elsewhere = join(root, 'empty-store'); // an empty store: nothing was uploaded to compare
    const verify = await runCli(['verify', '--data-dir', dir, '--store', elsewhere]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`MISMATCH [local-missing] ${gone}: missing`);

    const repair = await runCli(['repair', '--data-dir', dir, '--store', elsewhere]);
    expect(repair.stdout).toContain(`QUARANTINED ${cut}: footer unreadable (10 bytes)`);
    expect(repair.stdout).toMatch(new RegExp(`REBUILT FROM LOG ${gone.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: \\d+ rows rebuilt from the write-ahead log, byte-identical to the sealed file`));
    expect(repair.stdout).toContain(`REBUILT FROM LOG ${cut}:`);
    expect(repair.code).toBe(0);
    expect((await runCli(['verify', '--data-dir', dir, '--store', elsewhere])).code).toBe(0);

    // Once the log's segments are gone, a lost file cannot come back: repair says so and exits 1.
    for (const segment of files(join(dir, 'wal'), /\.wal$/)) rmSync(segment);
    rmSync(later);
    const lost = await runCli(['repair', '--data-dir', dir, '--store', elsewhere]);
    expect(lost.code).toBe(1);
    expect(lost.stdout).toContain(`NOT REPAIRED ${later}: missing from this host and never uploaded; its events are no longer in the write-ahead log`);
    expect(lost.stdout).toContain('the rows of this file are lost on this host');
  }, 60_000);
});

describe('progress bars', () => {
  it('draw in place on a terminal, and write nothing elsewhere', () => {
    const written: string[] = [];
    const bar = progress('checking', 4, { isTTY: true, write: (t: string) => written.push(t) });
    bar.tick(2);
    bar.done();
    expect(written[0]).toBe(`\rchecking [${'-'.repeat(30)}]   0% 0/4`);
    expect(written.at(-2)).toBe(`\rchecking [${'#'.repeat(15)}${'-'.repeat(15)}]  50% 2/4`);
    expect(written.at(-1)).toBe('\n');
    const piped: string[] = [];
    const quiet = progress('checking', 4, { isTTY: false, write: (t: string) => piped.push(t) });
    quiet.tick();
    quiet.done();
    expect(piped).toEqual([]);
  });
});
