import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GAP_LOG_FILE, GapLog, GapLogError } from '../edge-agent/feed/gap-log.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tickvault-gaps-'));
  dirs.push(dir);
  return join(dir, 'data'); // not yet created: the log creates it
}

const gap = { fromNs: 1_719_844_200_123_456_789n, toNs: 1_719_844_260_000_000_001n, symbols: ['AAPL', 'BTC/USD'], channels: ['trades', 'quotes'] as const, reason: 'connection closed (code 1006)' };

describe('gap log', () => {
  it('records gaps durably as JSON lines with exact nanoseconds and reads them back', async () => {
    const dir = await dataDir();
    const log = GapLog.inDataDir(dir);
    expect(log.path).toBe(join(dir, GAP_LOG_FILE));
    expect(await log.list()).toEqual([]);
    const a = await log.record(gap);
    const b = await log.record({ ...gap, fromNs: gap.toNs, toNs: gap.toNs + 5n, symbols: ['SPY'], channels: ['bars'] });
    expect(a.id).not.toBe(b.id);
    const lines = (await readFile(log.path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'gap', id: a.id, fromNs: '1719844200123456789', toNs: '1719844260000000001', from: '2024-07-01T14:30:00.123456789Z', to: '2024-07-01T14:31:00.000000001Z' });
    // A separate reader (another process: `tickvault backfill`) sees the same.
    expect(await new GapLog(log.path).list()).toEqual([a, b]);
    expect(a).toMatchObject({ ...gap, filled: false });
  });

  it('persists the filled state, ignores repeats, and names an unknown id', async () => {
    const log = GapLog.inDataDir(await dataDir());
    const a = await log.record(gap);
    const b = await log.record(gap);
    await log.markFilled(a.id);
    await log.markFilled(a.id);
    const reread = new GapLog(log.path);
    const listed = await reread.list();
    expect(listed.map((g) => [g.id, g.filled])).toEqual([[a.id, true], [b.id, false]]);
    expect(listed[0]?.filledAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect((await reread.unfilled()).map((g) => g.id)).toEqual([b.id]);
    expect((await readFile(log.path, 'utf8')).trim().split('\n')).toHaveLength(3);
    await expect(log.markFilled('gap-nope')).rejects.toThrow(GapLogError);
    await expect(log.markFilled('gap-nope')).rejects.toThrow(/no gap with id "gap-nope"/);
  });

  it('survives a torn last line from a crash and fences it off before the next append', async () => {
    const log = GapLog.inDataDir(await dataDir());
    const a = await log.record(gap);
    await appendFile(log.path, '{"type":"gap","id":"torn","fromNs":"1');
    expect((await log.list()).map((g) => g.id)).toEqual([a.id]);
    const b = await log.record(gap);
    await log.markFilled(b.id);
    expect((await log.list()).map((g) => [g.id, g.filled])).toEqual([[a.id, false], [b.id, true]]);
  });

  it('skips a damaged line in the middle with a warning and rejects a gap that ends before it starts', async () => {
    const dir = await dataDir();
    const warnings: string[] = [];
    const log = GapLog.inDataDir(dir, (_level, msg) => warnings.push(msg));
    const a = await log.record(gap);
    await appendFile(log.path, '{"type":"gap","id":"bad","fromNs":"x"}\n');
    const b = await log.record(gap);
    expect((await log.list()).map((g) => g.id)).toEqual([a.id, b.id]);
    expect(warnings).toEqual(['gap log line unreadable; skipped']);
    await expect(log.record({ ...gap, toNs: gap.fromNs - 1n })).rejects.toThrow(/ends .* before it starts/);
    await writeFile(log.path, '');
    expect(await log.list()).toEqual([]);
  });
});
