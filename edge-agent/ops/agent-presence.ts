/**
 * Is an agent running on this data directory? The agent keeps its warm ledger open for appending the whole time it
 * runs, so a process holding that file open is the agent (Linux: /proc/<pid>/fd, as fuser does). Commands that
 * change the ledger or the warm files refuse to run beside it.
 */
import { readdir, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';

/**
 * Process ids (other than this one) with `file` open; undefined where this cannot be known (no /proc). Processes
 * of other users are invisible without privileges; the agent normally runs as the operator's user.
 */
export async function processesHolding(file: string): Promise<number[] | undefined> {
  const target = resolve(file);
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const holders: number[] = [];
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
      if (link === target) {
        holders.push(Number(pid));
        break;
      }
    }
  }
  return holders;
}
