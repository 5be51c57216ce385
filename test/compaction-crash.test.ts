/**
 * Fault injection: `tickvault compact` (compactHandler in a child process) on a unit big enough to take a few
 * seconds, SIGKILLed at random moments, again and again, then run to completion. While it runs and after every
 * kill, everything visible under cold/ must be whole: the cold file byte-identical to an uninterrupted run's, or
 * absent; a manifest only beside the file it names. The final run must give the reference bytes, and no scratch
 * directory of a killed run may outlive the next run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeColdManifest } from '../core/cold-manifest.ts';
import type { TradeEventRow, TradeRow } from '../core/datasets.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { copyObjects, generateTrades, listKeys, putWarm, putWarmDays, sha256Of } from './compaction-fixtures.ts';
import { CLI, collect } from './support/cli.ts';
import { REPO_ROOT } from './support/shared-data.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const MONTH = '2024-07';
const KILLS = 8;

function compactChild(dataDir: string): ChildProcess {
  return spawn(process.execPath, [CLI, 'compact', '--month', MONTH, '--dataset', 'trades', '--symbol', 'AAPL', '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env: { ...process.env, AGENT_IDS: 'edge-1,edge-2', TICKVAULT_DEBUG: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Everything under cold/ must be the reference file or its manifest; returns what was seen. */
async function checkCold(store: ObjectStore, coldKey: string, referenceSha: string): Promise<string[]> {
  const keys = await listKeys(store, 'cold/');
  for (const key of keys) {
    if (key === coldKey) {
      let bytes: Uint8Array;
      try {
        bytes = await store.get(key);
      } catch {
        continue; // replaced between list and get: the next look sees the new one
      }
      expect(sha256Of(bytes), `${key} is not the reference file`).toBe(referenceSha);
    } else if (key.endsWith('/_manifest-AAPL.json')) {
      const manifest = decodeColdManifest(key, await store.get(key));
      expect(manifest.sha256).toBe(referenceSha);
      expect(keys).toContain(manifest.coldKey);
    } else {
      throw new Error(`unexpected object under cold/: ${key}`);
    }
  }
  return keys;
}

describe('compaction killed at random moments', () => {
  const root = mkdtempSync(join(tmpdir(), 'tv-compact-crash-'));
  const referenceDir = join(root, 'reference');
  const victimDir = join(root, 'victim');
  const reference = new LocalDirectoryStore(join(referenceDir, 'store'));
  const victim = new LocalDirectoryStore(join(victimDir, 'store'));
  const coldKey = `cold/trades/year=2024/month=07/AAPL.parquet`;
  let referenceSha = '';
  let referenceMs = 0;

  beforeAll(async () => {
    // 400k trades over 20 days from two agents, one of which saw 3 in 4 of them: ~700k rows in, 200 objects.
    const days = Array.from({ length: 20 }, (_, i) => i + 1);
    const trades = generateTrades('AAPL', MONTH, days, 400_000, 77);
    await putWarmDays(reference, 'trades', trades, 'edge-1', 4_000);
    await putWarmDays(reference, 'trades', trades.filter((_, i) => i % 4 !== 0), 'edge-2', 3_000);
    const events: TradeEventRow[] = trades.filter((_, i) => i % 5_000 === 7).map((t: TradeRow) => ({
      ts: t.ts + 1_000n, ts_ns: t.ts + 1_000n, symbol: 'AAPL', action: 'cancel', trade_id: t.trade_id, price: t.price, size: t.size,
      exchange: t.exchange, conditions: t.conditions, corrected_trade_id: null, corrected_price: null, corrected_size: null, corrected_conditions: '', tape: t.tape,
    }));
    for (const [i, e] of events.entries()) await putWarm(reference, 'trade_events', [e], i, 'edge-1');
    await copyObjects(reference, victim, 'warm/');
    const started = Date.now();
    const run = await collect(compactChild(referenceDir));
    referenceMs = Date.now() - started;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    referenceSha = sha256Of(await reference.get(coldKey));
  }, 240_000);

  it('never shows a partial object, and the run after the kills gives the reference bytes', async () => {
    const random = seededRandom(4242);
    /** Starts the command, kills it after a random part of the reference run's time; checks cold/ throughout. */
    const runAndKill = async (): Promise<{ killed: boolean; sawCold: number }> => {
      const child = compactChild(victimDir);
      const done = collect(child);
      let watching = true;
      let sawCold = 0;
      const watcher = (async () => {
        while (watching) {
          if ((await checkCold(victim, coldKey, referenceSha)).includes(coldKey)) sawCold++;
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      await new Promise((r) => setTimeout(r, Math.floor(referenceMs * (0.2 + random() * 0.8))));
      child.kill('SIGKILL');
      const result = await done;
      watching = false;
      await watcher;
      if (result.signal !== 'SIGKILL') expect(result.code).toBe(0); // finished before the kill came
      await checkCold(victim, coldKey, referenceSha);
      return { killed: result.signal === 'SIGKILL', sawCold };
    };

    // First compaction, killed again and again: nothing under cold/ until a run completes.
    const first = [];
    for (let i = 0; i < KILLS / 2; i++) first.push(await runAndKill());
    const complete = await collect(compactChild(victimDir));
    expect(complete.code).toBe(0);
    expect(sha256Of(await victim.get(coldKey))).toBe(referenceSha);
    // Recompactions killed midway: the published file stays whole (and the same) the whole time.
    const again = [];
    for (let i = 0; i < KILLS / 2; i++) again.push(await runAndKill());
    const killed = [...first, ...again].filter((r) => r.killed).length;
    console.log(`crash test: reference run ${referenceMs} ms; killed ${first.filter((r) => r.killed).length}/${first.length} first compactions, ${again.filter((r) => r.killed).length}/${again.length} recompactions`);
    // Most runs must really have been cut short, or this test proves nothing.
    expect(killed).toBeGreaterThanOrEqual(KILLS / 2);
    expect(again.every((r) => r.sawCold > 0)).toBe(true);

    const final = await collect(compactChild(victimDir));
    expect(final.stderr).toBe('');
    expect(final.code).toBe(0);
    expect(sha256Of(await victim.get(coldKey))).toBe(referenceSha);
    expect(await checkCold(victim, coldKey, referenceSha)).toEqual(['cold/trades/year=2024/month=07/AAPL.parquet', 'cold/trades/year=2024/month=07/_manifest-AAPL.json']);
    // Killed runs' scratch directories (inputs, DuckDB spill) are gone: the next run removes them.
    expect((await readdir(join(victimDir, 'tmp'))).filter((n) => n.startsWith('tickvault-scratch-'))).toEqual([]);
  }, 300_000);
});
