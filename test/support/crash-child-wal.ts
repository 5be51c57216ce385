/**
 * Child process for test/wal-crash.test.ts, killed with SIGKILL at a random moment:
 * `node --import tsx test/support/crash-child-wal.ts DIR SEGMENT_BYTES`.
 * Opens the log in DIR, prints `open NEXTSEQ`, then appends numbered payloads as fast as it can and prints
 * `durable SEQ` each time durableSeq advances. Every 5,000 records it prints `floor SEQ` and removes the segments
 * below SEQ, so kills also land in segment removal.
 */
import { pathToFileURL } from 'node:url';
import { WalBackpressureError, openLog } from '../../edge-agent/wal/write-ahead-log.ts';

/** The payload of record seq: its length and bytes derive from seq alone, so the parent can check any record. */
export function crashPayload(seq: bigint): Buffer {
  const n = Number(seq);
  const out = Buffer.alloc(8 + (n % 173));
  out.writeDoubleLE(n, 0);
  for (let k = 8; k < out.length; k++) out[k] = (n * 7 + k) & 0xff;
  return out;
}

async function main(dir: string, segmentBytes: number): Promise<void> {
  const log = await openLog(dir, {
    segmentBytes,
    fsyncIntervalMs: 2,
    maxPendingBytes: 4 * 1024 * 1024,
    onDurable: (seq) => process.stdout.write(`durable ${seq}\n`),
  });
  process.stdout.write(`open ${log.lastSeq + 1n}\n`);
  let sinceFloor = 0;
  for (;;) {
    try {
      for (let i = 0; i < 500; i++) log.append(crashPayload(log.lastSeq + 1n));
      sinceFloor += 500;
    } catch (error) {
      if (!(error instanceof WalBackpressureError)) throw error;
      await log.flush();
    }
    if (sinceFloor >= 5_000) {
      sinceFloor = 0;
      const floor = log.durableSeq - 5_000n;
      if (floor > 0n) {
        process.stdout.write(`floor ${floor}\n`);
        await log.removeSegmentsBelow(floor);
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, segmentBytes] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: crash-child-wal.ts DIR [SEGMENT_BYTES]');
  await main(dir, Number(segmentBytes ?? 256 * 1024));
}
