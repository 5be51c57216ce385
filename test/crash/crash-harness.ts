/**
 * The crash harness: replays a known stream through the real agent process, SIGKILLs it at random moments (while
 * it writes, fsyncs, renames, snapshots, uploads), restarts it with the same arguments, and repeats until a run
 * finishes by itself. Then every accepted event must sit in the warm files exactly once, and every sealed file must
 * be in the store exactly once, byte for byte.
 *
 * Used by test/crash.test.ts (a few kills, in `npm test`) and by `npm run test:crash -- --iterations N`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { CLI, collect } from '../support/cli.ts';
import { REPO_ROOT } from '../support/shared-data.ts';
import { seededRandom } from '../../edge-agent/simulator/prng.ts';

export interface CrashRunOptions {
  /** Replayed files: CSV in the shared/data formats. */
  readonly files: readonly string[];
  /** Kills to inflict before letting a run finish. */
  readonly kills: number;
  readonly seed: number;
  /** Replay speed; slow enough that kills land mid-stream. */
  readonly speed: number;
  /** Kill moments are drawn from [minMs, maxMs] after each start. */
  readonly killWindowMs: readonly [number, number];
  readonly log?: (line: string) => void;
  /**
   * With retention on (0 days), the replayed days are past retention at once: warm files leave the host as soon as
   * their verified copy is in the store, so the check reads the store instead of the warm directory.
   */
  readonly retention?: boolean;
}

export interface CrashRunResult {
  readonly dataDir: string;
  readonly kills: number;
  readonly restarts: number;
  readonly expectedRows: Record<string, number>;
  readonly warmRows: Record<string, number>;
  /** Rows in the source missing from the warm files, and rows in the warm files beyond the source (multiset). */
  readonly missing: number;
  readonly extra: number;
  readonly storeProblems: string[];
  readonly finalExitCode: number | null;
  readonly localWarmFiles: number;
  readonly storedObjects: number;
}

const sql = (path: string) => `'${path.replaceAll("'", "''")}'`;

export async function runCrashScenario(options: CrashRunOptions): Promise<CrashRunResult> {
  const random = seededRandom(options.seed);
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-crash-'));
  const configPath = join(dataDir, '..', `${relative(tmpdir(), dataDir)}-config.json`);
  // Small files, frequent snapshots and flushes: every kind of write is in flight somewhere when the kill lands.
  // Without retention the check reads the warm files themselves (the replayed days are years old).
  writeFileSync(configPath, JSON.stringify({ snapshotIntervalSeconds: 0.4, maxRowsPerFile: 3000, walFsyncIntervalMs: 5, warmRetentionDays: options.retention === true ? 0.000001 : 3650, housekeepingIntervalSeconds: 0.5 }));
  const args = [CLI, 'agent', '--data-dir', dataDir, '--config', configPath, '--flush-interval', '0.3', '--speed', String(options.speed), '--agent-id', 'crash-1', '--replay', ...options.files];
  let kills = 0;
  let restarts = 0;
  let finalExitCode: number | null;
  for (;;) {
    const child: ChildProcess = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = collect(child);
    if (kills < options.kills) {
      const [lo, hi] = options.killWindowMs;
      const delayMs = lo + random() * (hi - lo);
      const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      const result = await done;
      clearTimeout(timer);
      if (result.signal === 'SIGKILL') {
        kills++;
        options.log?.(`kill ${kills} after ${Math.round(delayMs)} ms`);
      } else if (result.code === 0) {
        finalExitCode = 0;
        break; // finished before the kill landed
      } else {
        throw new Error(`agent exited ${result.code} (signal ${result.signal}) during the crash run: ${result.stderr.slice(-3000)}`);
      }
      restarts++;
      continue;
    }
    const result = await done;
    finalExitCode = result.code;
    if (result.code !== 0) throw new Error(`final agent run exited ${result.code}: ${result.stderr.slice(-3000)}`);
    break;
  }

  // Exactly once: the source rows and the warm files' rows as multisets, per dataset.
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  const expectedRows: Record<string, number> = {};
  const warmRows: Record<string, number> = {};
  let missing = 0;
  let extra = 0;
  try {
    for (const file of options.files) {
      const header = readFileSync(file, 'utf8').slice(0, 200).split('\n')[0] ?? '';
      const dataset = header.includes('trade_id') ? 'trades' : 'quotes';
      const source = dataset === 'trades'
        ? `SELECT ts_ns::BIGINT AS ts_ns, symbol, trade_id::BIGINT AS trade_id, price::DOUBLE AS price, size::DOUBLE AS size, exchange FROM read_csv(${sql(file)}, header = true, all_varchar = true)`
        : `SELECT ts_ns::BIGINT AS ts_ns, symbol, bid_px::DOUBLE AS bid_price, nullif(bid_sz, '')::DOUBLE AS bid_size, ask_px::DOUBLE AS ask_price, nullif(ask_sz, '')::DOUBLE AS ask_size, exchange FROM read_csv(${sql(file)}, header = true, all_varchar = true)`;
      const root = options.retention === true ? join(dataDir, 'store', 'warm') : join(dataDir, 'warm');
      const warm = dataset === 'trades'
        ? `SELECT ts_ns, symbol, trade_id, price, size, exchange FROM read_parquet(${sql(join(root, 'trades', '**', '*.parquet'))})`
        : `SELECT ts_ns, symbol, bid_price, bid_size, ask_price, ask_size, bid_exchange AS exchange FROM read_parquet(${sql(join(root, 'quotes', '**', '*.parquet'))})`;
      const count = async (q: string) => Number(((await db.runAndReadAll(`SELECT count(*) AS n FROM (${q})`)).getRowObjectsJS()[0] as { n: bigint }).n);
      expectedRows[dataset] = await count(source);
      warmRows[dataset] = await count(warm);
      missing += await count(`(${source}) EXCEPT ALL (${warm})`);
      extra += await count(`(${warm}) EXCEPT ALL (${source})`);
    }
  } finally {
    db.closeSync();
    instance.closeSync();
  }

  // Every local warm file in the store exactly once, byte-equal, and nothing else there.
  const storeProblems: string[] = [];
  const warmDir = join(dataDir, 'warm');
  const storeWarm = join(dataDir, 'store', 'warm');
  const local = readdirSync(warmDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet')).sort();
  const stored = readdirSync(storeWarm, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet')).sort();
  const expectedKeys = local.map((f) => f.replace(/\.parquet$/, '-crash-1.parquet'));
  if (options.retention !== true && JSON.stringify(expectedKeys) !== JSON.stringify(stored)) {
    storeProblems.push(`store holds ${stored.length} objects, warm dir ${local.length} files; differing: ${[...new Set([...stored, ...expectedKeys])].filter((k) => !stored.includes(k) || !expectedKeys.includes(k)).slice(0, 5).join(', ')}`);
  }
  for (const f of local) {
    const a = createHash('sha256').update(readFileSync(join(warmDir, f))).digest('hex');
    const keyPath = join(storeWarm, f.replace(/\.parquet$/, '-crash-1.parquet'));
    let b: string;
    try {
      b = createHash('sha256').update(readFileSync(keyPath)).digest('hex');
    } catch {
      continue; // already reported above
    }
    if (a !== b) storeProblems.push(`${f}: store copy differs`);
  }
  return { dataDir, kills, restarts, expectedRows, warmRows, missing, extra, storeProblems, finalExitCode, localWarmFiles: local.length, storedObjects: stored.length };
}

// `npm run test:crash -- --iterations N [--seed S]`: N kills in all, spread over scenarios of up to 10 kills each.
if (process.argv[1]?.endsWith('crash-harness.ts') || process.argv.includes('--iterations')) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? fallback : Number(process.argv[i + 1]);
  };
  const iterations = arg('iterations', 50);
  let seed = arg('seed', 1);
  const data = join(REPO_ROOT, '..', 'shared', 'data');
  const files = [join(data, 'trades_tardis_binance-futures_BTCUSDT_20200222.csv'), join(data, 'quotes_tardis_binance-futures_BTCUSDT_20200222.csv')];
  let total = 0;
  let failures = 0;
  while (total < iterations) {
    const kills = Math.min(10, iterations - total);
    const r = await runCrashScenario({ files, kills, seed: seed++, speed: 1500, killWindowMs: [400, 4500] });
    total += r.kills;
    const ok = r.missing === 0 && r.extra === 0 && r.storeProblems.length === 0;
    if (!ok) failures++;
    process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} seed ${seed - 1}: ${r.kills} kills, rows ${JSON.stringify(r.warmRows)} of ${JSON.stringify(r.expectedRows)}, missing ${r.missing}, extra ${r.extra}${r.storeProblems.length > 0 ? `, store: ${r.storeProblems.join('; ')}` : ''} (${r.dataDir})\n`);
  }
  process.stdout.write(`${total} kills, ${failures === 0 ? 'zero lost, zero duplicated' : `${failures} scenario(s) FAILED`}\n`);
  process.exit(failures === 0 ? 0 : 1);
}
