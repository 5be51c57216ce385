/**
 * Opens the object store a spec names: a directory path, or `s3://bucket[/prefix]`. The one place in core that
 * builds an S3 client; credentials come only from the SDK's default provider chain (environment, profile, role).
 */
import { resolve } from 'node:path';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { LocalDirectoryStore } from './local-directory-store.ts';
import { type ObjectStore, ObjectStoreError, validatePrefix } from './object-store.ts';
import { S3ObjectStore } from './s3-store.ts';

export type StoreSpec =
  | { readonly kind: 'local'; readonly dir: string }
  | { readonly kind: 's3'; readonly bucket: string; /** '' or ending in '/' */ readonly prefix: string };

export interface S3StoreOptions {
  /** Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:8080`. @default the AWS endpoint of the region */
  readonly endpoint?: string;
  /** @default AWS_REGION, else AWS_DEFAULT_REGION, else 'us-east-1' */
  readonly region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. @default false */
  readonly forcePathStyle?: boolean;
  /**
   * Checksums only where an operation requires one (requestChecksumCalculation and responseChecksumValidation
   * 'WHEN_REQUIRED'), for servers such as Swift that reject the SDK's aws-chunked checksum trailers.
   * @default false
   */
  readonly compatibilityMode?: boolean;
  /** Keys per ListObjectsV2 page, 1..1000. @default 1000 */
  readonly listPageSize?: number;
  /** A request with no answer for this long fails (and is retried by the caller). @default 60_000 */
  readonly requestTimeoutMs?: number;
  /** Connecting longer than this fails. @default 5_000 */
  readonly connectionTimeoutMs?: number;
}

/** An opened store, with the S3 client behind it when there is one (for multipart clean-up). */
export interface OpenedStore {
  readonly store: ObjectStore;
  readonly s3?: { readonly client: S3Client; readonly bucket: string; readonly prefix: string };
}

export const DEFAULT_REGION = 'us-east-1';

export class StoreConfigError extends ObjectStoreError {
  override readonly name = 'StoreConfigError';
}

const SPEC_FORMS = 'a directory path or s3://bucket[/prefix]';

/** Parses a store spec without touching the file system or the network. */
export function parseStoreSpec(spec: string): StoreSpec {
  const bad = (problem: string): StoreConfigError =>
    new StoreConfigError(`invalid store spec ${JSON.stringify(spec)}: ${problem}; expected ${SPEC_FORMS}`);
  if (spec.trim() === '') throw bad('empty');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(spec)?.[1];
  if (scheme === undefined) return { kind: 'local', dir: spec };
  if (scheme.toLowerCase() !== 's3') throw bad(`unsupported scheme ${scheme}://`);

  const rest = spec.slice(`${scheme}://`.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem !== undefined) throw bad(`bucket name ${JSON.stringify(bucket)} ${bucketProblem}`);

  const rawPrefix = slash === -1 ? '' : rest.slice(slash + 1);
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  try {
    validatePrefix(prefix);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw bad(`prefix ${JSON.stringify(rawPrefix)} is not a valid key prefix (${why})`);
  }
  return { kind: 's3', bucket, prefix };
}

/** Opens the store `spec` names; `options` apply to S3 only. */
export function openStore(spec: string, options: S3StoreOptions = {}): ObjectStore {
  return openStoreWithClient(spec, options).store;
}

/** Like openStore, also handing back the S3 client (the agent aborts its own incomplete multipart uploads with it). */
export function openStoreWithClient(spec: string, options: S3StoreOptions = {}): OpenedStore {
  const parsed = parseStoreSpec(spec);
  if (parsed.kind === 'local') return { store: new LocalDirectoryStore(resolve(parsed.dir)) };
  const client = new S3Client(s3ClientConfig(options));
  const store = new S3ObjectStore({
    client,
    bucket: parsed.bucket,
    prefix: parsed.prefix,
    ...(options.listPageSize === undefined ? {} : { listPageSize: options.listPageSize }),
  });
  return { store, s3: { client, bucket: parsed.bucket, prefix: parsed.prefix } };
}

/** The client settings openStore uses for an s3:// spec; throws StoreConfigError on a bad endpoint. */
export function s3ClientConfig(options: S3StoreOptions): S3ClientConfig {
  const { endpoint } = options;
  if (endpoint !== undefined && !isHttpUrl(endpoint)) {
    throw new StoreConfigError(`invalid S3 endpoint ${JSON.stringify(endpoint)}: expected an http:// or https:// URL`);
  }
  return {
    region:
      options.region ?? nonEmpty(process.env.AWS_REGION) ?? nonEmpty(process.env.AWS_DEFAULT_REGION) ?? DEFAULT_REGION,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(options.forcePathStyle === undefined ? {} : { forcePathStyle: options.forcePathStyle }),
    ...(options.compatibilityMode === true
      ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
      : {}),
    // Without these the SDK waits for ever on a server that accepted the connection and went silent.
    requestHandler: {
      requestTimeout: options.requestTimeoutMs ?? 60_000,
      connectionTimeout: options.connectionTimeoutMs ?? 5_000,
      throwOnRequestTimeout: true,
    },
  };
}

/** Why `name` is not a valid general-purpose S3 bucket name, or undefined when it is. */
function bucketNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may contain only lower-case letters, digits, \'.\' and \'-\'';
  if (!/^[a-z0-9].*[a-z0-9]$/.test(name)) return 'must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not contain \'..\'';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'must not look like an IP address';
  if (name.startsWith('xn--')) return 'must not start with \'xn--\'';
  return undefined;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
