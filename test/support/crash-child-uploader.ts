/**
 * A child process for the restart test: opens the warm ledger of a data directory and drains its upload backlog to
 * an S3 endpoint (the fault proxy), printing one `EVENT <json>` line per uploader event on stdout and `DRAINED
 * <json>` at the end (exit 0 when complete, 3 when not). The test SIGKILLs it at random moments and starts it again.
 *
 *   node bin/run-ts.js test/support/crash-child-uploader.ts --data-dir DIR --endpoint URL --bucket NAME --agent-id ID
 *
 * Credentials come from S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../../core/object-store/s3-store.ts';
import { s3IncompleteUploadJanitor } from '../../edge-agent/sync/multipart-janitor.ts';
import { Uploader } from '../../edge-agent/sync/uploader.ts';
import { WarmLedger } from '../../edge-agent/warm/warm-ledger.ts';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    endpoint: { type: 'string' },
    bucket: { type: 'string' },
    'agent-id': { type: 'string' },
    concurrency: { type: 'string', default: '4' },
  },
});
const need = (name: 'data-dir' | 'endpoint' | 'bucket' | 'agent-id'): string => {
  const value = values[name];
  if (value === undefined) {
    process.stderr.write(`crash-child-uploader: --${name} is required\n`);
    process.exit(2);
  }
  return value;
};
const dataDir = need('data-dir');
const bucket = need('bucket');

const client = new S3Client({
  endpoint: need('endpoint'),
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: process.env['S3_ACCESS_KEY_ID'] ?? '', secretAccessKey: process.env['S3_SECRET_ACCESS_KEY'] ?? '' },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: { requestTimeout: 5_000, throwOnRequestTimeout: true, connectionTimeout: 2_000 },
  // The uploader does the retrying, so every fault reaches it.
  maxAttempts: 1,
});
const ledger = WarmLedger.open(join(dataDir, 'warm-ledger.jsonl'));
const uploader = new Uploader({
  store: new S3ObjectStore({ client, bucket }),
  ledger,
  warmDir: join(dataDir, 'warm'),
  agentId: need('agent-id'),
  concurrency: Number(values.concurrency),
  initialBackoffMs: 50,
  maxBackoffMs: 1_000,
  requestTimeoutMs: 10_000,
  manifestIntervalMs: 300,
  janitor: s3IncompleteUploadJanitor({ client, bucket }),
  log: (level, msg, fields) => process.stderr.write(`${JSON.stringify({ level, msg, ...fields })}\n`),
  onEvent: (event) => process.stdout.write(`EVENT ${JSON.stringify(event)}\n`),
});

const result = await uploader.drain(120_000);
await uploader.stop();
ledger.close();
client.destroy();
process.stdout.write(`DRAINED ${JSON.stringify(result)}\n`);
process.exitCode = result.complete ? 0 : 3;
