/**
 * `tickvault backfill`: fills the gaps the agent recorded (gaps.jsonl) from Alpaca's historical REST API and seals
 * the rows as warm files in the ledger, so the agent uploads them with everything else. Run it while the agent is
 * stopped: the ledger has one writer at a time.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DatasetName, RowOf } from '../../core/datasets.ts';
import { createLogger } from '../log.ts';
import { WarmLedger } from '../warm/warm-ledger.ts';
import { WarmWriter } from '../warm/warm-writer.ts';
import { runBackfill } from './backfill.ts';

class UsageError extends Error {
  override readonly name = 'UsageError';
}

export async function runBackfillCommand(argv: string[]): Promise<number> {
  let values: { 'data-dir'?: string | undefined; 'base-url'?: string | undefined };
  try {
    ({ values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, 'base-url': { type: 'string' } }, strict: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const keyId = process.env['APCA_API_KEY_ID'];
  const secretKey = process.env['APCA_API_SECRET_KEY'];
  if (keyId === undefined || keyId === '' || secretKey === undefined || secretKey === '') {
    throw new UsageError('backfill needs Alpaca credentials: set APCA_API_KEY_ID and APCA_API_SECRET_KEY');
  }
  const dataDir = resolve(values['data-dir'] ?? './data');
  const log = createLogger('tickvault-backfill');
  const ledger = WarmLedger.open(join(dataDir, 'state', 'warm-ledger.jsonl'));
  const writer = new WarmWriter({
    warmDir: join(dataDir, 'warm'),
    flushIntervalMs: Number.MAX_SAFE_INTEGER,
    maxRowsPerFile: 1_000_000,
    firstUnusedPart: (partition) => ledger.nextPart(partition),
    onSealed: (f) => ledger.record({
      type: 'sealed', path: f.relPath, dataset: f.ref.dataset, date: f.ref.date, symbol: f.ref.symbol, part: f.ref.part,
      rows: f.rows, bytes: f.bytes, minTsNs: f.minTsNs.toString(), maxTsNs: f.maxTsNs.toString(),
      ...(f.minTradeId === undefined ? {} : { minTradeId: f.minTradeId.toString(), maxTradeId: (f.maxTradeId ?? f.minTradeId).toString() }),
      sha256: f.sha256, schemaVersion: f.schemaVersion,
      // Not from the write-ahead log: sequence 0 never hides a logged event from recovery.
      walSeq: '0', sealedAtMs: Date.now(),
    }),
  });
  try {
    const report = await runBackfill({
      dataDir, keyId, secretKey, log,
      ...(values['base-url'] === undefined ? {} : { baseUrl: values['base-url'] }),
      onRows: async <D extends DatasetName>(dataset: D, rows: readonly RowOf<D>[]) => {
        for (const row of rows) writer.append(dataset, row, 0n);
        // Sealed before the gap is marked filled: a crash between the two refetches, never loses.
        await writer.flushAll();
      },
    });
    process.stdout.write(`${JSON.stringify({ event: 'backfill-finished', ...report })}\n`);
    return report.gapsFailed.length === 0 ? 0 : 1;
  } finally {
    ledger.close();
  }
}
