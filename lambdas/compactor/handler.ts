/**
 * Lambda entry point for compaction of one unit. `tickvault compact` calls compactHandler with a local store, so
 * the CLI and the Lambda run the same code.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { S3ObjectStore } from '../../core/object-store/s3-store.ts';
import { type CompactionResult, compactUnit, validateUnit } from './compact-unit.ts';

export const CompactionEventSchema = z.strictObject({
  dataset: z.string().min(1).max(32),
  symbol: z.string().min(1).max(64),
  month: z.string().regex(/^\d{4}-\d{2}$/, 'expected YYYY-MM'),
});

export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

export interface CompactionDeps {
  readonly store: ObjectStore;
  readonly scratchDir: string;
  readonly memoryLimit?: string;
}

/** JSON-safe summary of a result (no bigints). */
export type CompactionSummary = Omit<CompactionResult, 'sourceKeys'> & { sourceObjects: number };

export async function compactHandler(event: unknown, deps: CompactionDeps): Promise<CompactionSummary> {
  const parsed = CompactionEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidEventError(`invalid compaction event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const unit = validateUnit(parsed.data);
  const workDir = join(deps.scratchDir, `compact-${randomBytes(6).toString('hex')}`);
  const options = deps.memoryLimit === undefined ? { store: deps.store, workDir } : { store: deps.store, workDir, memoryLimit: deps.memoryLimit };
  const { sourceKeys, ...rest } = await compactUnit(unit, options);
  return { ...rest, sourceObjects: sourceKeys.length };
}

let lambdaStore: ObjectStore | undefined;

/** The Lambda handler: the bucket comes from the BUCKET environment variable, credentials from the role. */
export async function handler(event: unknown): Promise<CompactionSummary> {
  const bucket = process.env['BUCKET'];
  if (bucket === undefined || bucket === '') throw new Error('BUCKET environment variable is not set');
  lambdaStore ??= new S3ObjectStore({ client: new S3Client({}), bucket });
  return compactHandler(event, { store: lambdaStore, scratchDir: tmpdir(), memoryLimit: process.env['DUCKDB_MEMORY_LIMIT'] ?? '2GB' });
}
