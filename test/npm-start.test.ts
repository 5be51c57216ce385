/**
 * The README's set-up: `npm start` runs the agent on the embedded defaults, has warm Parquet on disk within 30 s,
 * and Ctrl-C (SIGINT to the whole process group, as a terminal sends it) drains, flushes and exits 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CLI, agentReport, collect } from './support/cli.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';
import { REPO_ROOT } from './support/shared-data.ts';

function parquetFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet'));
}

async function waitForWarmFile(dataDir: string, limitMs: number): Promise<number | undefined> {
  const startedMs = Date.now();
  while (Date.now() - startedMs < limitMs) {
    if (parquetFiles(join(dataDir, 'warm')).length > 0) return Date.now() - startedMs;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

it('npm start writes warm Parquet within 30 s, and Ctrl-C drains every buffer', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-start-'));
  const child = spawn('npm', ['start', '--', '--data-dir', dataDir], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = collect(child);
  const firstFileMs = await waitForWarmFile(dataDir, 30_000);
  // Ctrl-C in a terminal signals the whole foreground process group: npm and the agent alike.
  process.kill(-(child.pid as number), 'SIGINT');
  const result = await done;
  expect(firstFileMs, 'a warm Parquet file within 30 s').toBeDefined();
  const report = agentReport(result.stdout);
  expect(report['why']).toBe('SIGINT');
  expect(report.rowsWritten).toEqual(report.accepted);
  const [count] = await duckdbRows(`SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlPath(join(dataDir, 'warm', 'trades', '**', '*.parquet'))})`);
  expect(count?.['n']).toBe(report.rowsWritten['trades']);
}, 60_000);

/** Resolves once the child's stderr shows the feed subscribed: its signal handlers are in place by then. */
function subscribed(child: ReturnType<typeof spawn>, limitMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`agent not subscribed after ${limitMs} ms: ${seen.slice(-500)}`)), limitMs);
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('feed subscribed')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

it('the agent npm start runs exits 0 after draining, even when Ctrl-C arrives twice at once', async () => {
  const start = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  expect(start).toBe('node bin/tickvault.js agent --flush-interval 10');
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-start-'));
  const child = spawn(process.execPath, [CLI, 'agent', '--flush-interval', '10', '--data-dir', dataDir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = collect(child);
  await subscribed(child);
  await new Promise((r) => setTimeout(r, 1000));
  child.kill('SIGINT');
  child.kill('SIGINT'); // npm forwarding the same Ctrl-C
  const result = await done;
  expect(result.code, result.stderr.slice(-1000)).toBe(0);
  const report = agentReport(result.stdout);
  expect(report.rowsWritten).toEqual(report.accepted);
  expect(report.filesUploaded).toBe(report.filesWritten);
}, 60_000);

it('a second Ctrl-C later forces the exit', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-start-'));
  // A store path that cannot be created keeps the drain waiting on uploads, so the second signal has work to cut short.
  const child = spawn(process.execPath, [CLI, 'agent', '--data-dir', dataDir, '--store', '/proc/tickvault-cannot-write'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = collect(child);
  await subscribed(child);
  await new Promise((r) => setTimeout(r, 1500)); // some events, so the drain has files to (fail to) upload
  child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 2500));
  child.kill('SIGINT');
  const result = await done;
  expect(result.code).toBe(130);
  expect(result.stderr).toContain('second signal: exiting without draining');
}, 60_000);
