/**
 * Scratch directories for DuckDB's inputs, output and spill files. Each is removed when its run ends; one left by a
 * run that was killed (a Lambda timeout keeps /tmp for the next invocation in the same sandbox; a SIGKILLed
 * command) is removed by the next run that starts: a directory is stale when the process named in it is gone, or
 * is this process and no run of it holds the directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'tickvault-scratch-';
const inUse = new Set<string>();

export interface ScratchDir {
  readonly path: string;
  /** Removes the directory and everything in it. */
  remove(): Promise<void>;
}

/** Creates `<parent>/tickvault-scratch-<pid>-<random>` after removing stale ones beside it. */
export async function createScratchDir(parent: string): Promise<ScratchDir> {
  await mkdir(parent, { recursive: true });
  await removeStaleScratchDirs(parent);
  const path = join(parent, `${PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(path, { recursive: false });
  inUse.add(path);
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true });
      inUse.delete(path);
    },
  };
}

/** Removes the scratch directories under `parent` that no live run holds; returns their names. */
export async function removeStaleScratchDirs(parent: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-[0-9a-f]+$`).exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    const path = join(parent, name);
    const stale = pid === process.pid ? !inUse.has(path) : !isAlive(pid);
    if (!stale) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
