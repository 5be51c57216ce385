/**
 * The object store of a Lambda: S3, the bucket from BUCKET (and an optional key prefix from BUCKET_PREFIX). The
 * client takes everything else from the SDK's own environment handling: credentials from the role (or
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), AWS_REGION, AWS_ENDPOINT_URL_S3 for an S3-compatible server, and
 * AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION. Path-style URLs, which S3-compatible
 * servers such as Swift need, have no SDK variable: S3_FORCE_PATH_STYLE=true turns them on.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { S3ObjectStore } from '../../core/object-store/s3-store.ts';
import { envBoolean, layoutPrefixes, readEnv } from './env.ts';

export const StoreEnvSchema = z.object({
  BUCKET: z.string({ message: 'is not set: the name of the data bucket' }).min(1, 'is empty: the name of the data bucket'),
  /** @default '' */
  BUCKET_PREFIX: z.string().regex(/^$|\/$/, "expected '' or a prefix ending in '/'").default(''),
  /** @default false */
  S3_FORCE_PATH_STYLE: envBoolean(false),
  ...layoutPrefixes,
});

export function storeFromEnv(env: Readonly<Record<string, string | undefined>>): ObjectStore {
  const config = readEnv(StoreEnvSchema, env);
  return new S3ObjectStore({
    client: new S3Client({ forcePathStyle: config.S3_FORCE_PATH_STYLE }),
    bucket: config.BUCKET,
    prefix: config.BUCKET_PREFIX,
  });
}
