/**
 * Child process for test/snapshot-crash.test.ts, killed with SIGKILL at a random moment:
 * `node --import tsx test/support/crash-child-snapshot.ts DIR`.
 * Writes snapshots of a few MiB with growing walSeq (keep = 3) and prints `written WALSEQ` after each write resolved.
 */
import { pathToFileURL } from 'node:url';
import { SnapshotStore } from '../../edge-agent/snapshot/snapshot-store.ts';

/** The payload of the snapshot at walSeq: length and bytes derive from walSeq alone. */
export function snapshotPayload(walSeq: bigint): Buffer {
  const n = Number(walSeq);
  const out = Buffer.alloc(1024 * 1024 + ((n * 7919) % (3 * 1024 * 1024)));
  for (let k = 0; k + 4 <= out.length; k += 4) out.writeUInt32LE((n * 2654435761 + k) >>> 0, k);
  return out;
}

async function main(dir: string): Promise<void> {
  const store = new SnapshotStore(dir, { keep: 3 });
  const newest = await store.loadNewestValid();
  let walSeq = (newest?.walSeq ?? 0n) + 1n;
  process.stdout.write(`open ${walSeq}\n`);
  for (;;) {
    await store.write(walSeq, snapshotPayload(walSeq));
    process.stdout.write(`written ${walSeq}\n`);
    walSeq += 1n + (walSeq % 5n);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: crash-child-snapshot.ts DIR');
  await main(dir);
}
