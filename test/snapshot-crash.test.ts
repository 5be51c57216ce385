/**
 * Crash test: a child writes multi-MiB snapshots in a loop and is SIGKILLed at seeded random moments; a snapshot
 * that loads as valid must always be whole, and the last one the child saw written must survive.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SnapshotStore } from '../edge-agent/snapshot/snapshot-store.ts';
import { snapshotPayload } from './support/crash-child-snapshot.ts';

const repo = resolve(import.meta.dirname, '..');
const child = join(repo, 'test', 'support', 'crash-child-snapshot.ts');
const dir = mkdtempSync(join(tmpdir(), 'tv-snapshot-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runAndKill(killAfterMs: number): Promise<{ openSeq: bigint; written: bigint[]; signal: NodeJS.Signals | null }> {
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (timer === undefined && out.includes('open ')) timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    proc.on('error', fail);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out.split('\n');
      const open = lines.find((l) => l.startsWith('open '));
      if (open === undefined) return fail(new Error(`child exited (code ${code}, signal ${signal}) before opening: ${err}`));
      done({ openSeq: BigInt(open.slice(5)), written: lines.filter((l) => l.startsWith('written ')).map((l) => BigInt(l.slice(8))), signal });
    });
  });
}

describe('snapshot store under SIGKILL', () => {
  it('never yields a damaged snapshot as valid and keeps the last one written, over 10 kills', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    let lastWritten = 0n;
    let expectedOpen = 1n;
    let writes = 0;
    for (let iteration = 0; iteration < 10; iteration++) {
      const run = await runAndKill(30 + Math.floor(random() * 350));
      expect(run.signal).toBe('SIGKILL');
      expect(run.openSeq, `iteration ${iteration}: the child starts after the newest valid snapshot`).toBe(expectedOpen);
      writes += run.written.length;
      if (run.written.length > 0) lastWritten = run.written.at(-1)!;

      const invalid: string[] = [];
      const store = new SnapshotStore(dir, { keep: 3, onInvalidSnapshot: (file, defect) => invalid.push(`${file}: ${defect}`) });
      const loaded = await store.loadNewestValid();
      expect(invalid, 'a kill leaves a temp file, never a damaged snapshot under a final name').toEqual([]);
      if (lastWritten > 0n) {
        expect(loaded).toBeDefined();
        expect(loaded!.walSeq).toBeGreaterThanOrEqual(lastWritten);
        expect(Buffer.from(loaded!.payload).equals(snapshotPayload(loaded!.walSeq))).toBe(true);
        expectedOpen = loaded!.walSeq + 1n;
      }
      // Between the rename and the pruning a kill can leave keep + 1 snapshots.
      expect((await store.list()).length).toBeLessThanOrEqual(4);
    }
    expect(writes).toBeGreaterThan(10);
    console.info(`snapshot crash test: 10 kills, ${writes} snapshots written, files left: ${readdirSync(dir).length}`);
  }, 120_000);
});
