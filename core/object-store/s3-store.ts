/**
 * The object store on S3 (or an S3-compatible server). The client is passed in: how it is built, and with which
 * credentials, is open-store.ts's business (or a test's), never this file's.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
  type PutOptions,
  TaggingNotSupportedError,
  validateKey,
  validateMetadata,
  validatePrefix,
  validateTags,
} from './object-store.ts';

const MiB = 1024 * 1024;
/** putFile switches from one PutObject to a multipart upload at this size. */
export const MULTIPART_THRESHOLD_BYTES = 16 * MiB;
export const MULTIPART_PART_SIZE_BYTES = 8 * MiB;
/** Parts in flight at once per multipart upload. */
export const MULTIPART_QUEUE_SIZE = 4;
/** The most keys one ListObjectsV2 page or one DeleteObjects call may carry. */
export const S3_MAX_KEYS_PER_REQUEST = 1000;

export interface S3ObjectStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Prepended to every key: '' or a prefix ending in '/'. @default '' */
  readonly prefix?: string;
  /** MaxKeys of each ListObjectsV2 page, 1..1000. @default 1000 */
  readonly listPageSize?: number;
}

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly listPageSize: number;

  constructor(options: S3ObjectStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.listPageSize = options.listPageSize ?? S3_MAX_KEYS_PER_REQUEST;
    this.description = `s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix}`}`;
    if (this.bucket === '') throw new ObjectStoreError('S3 object store: bucket is empty');
    if (this.prefix !== '' && !this.prefix.endsWith('/')) {
      throw this.error(`prefix ${JSON.stringify(this.prefix)} must be empty or end with '/'`);
    }
    validatePrefix(this.prefix);
    if (!Number.isInteger(this.listPageSize) || this.listPageSize < 1 || this.listPageSize > S3_MAX_KEYS_PER_REQUEST) {
      throw this.error(`listPageSize ${this.listPageSize} outside 1..${S3_MAX_KEYS_PER_REQUEST}`);
    }
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    const objectKey = this.objectKey(key);
    if (options?.metadata !== undefined) validateMetadata(options.metadata);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: body,
          ContentLength: body.byteLength,
          // The server checks the bytes it stored against this (BadDigest otherwise), on AWS and S3-compatibles alike.
          ContentMD5: createHash('md5').update(body).digest('base64'),
          ...putHeaders(options),
        }),
      );
    } catch (err) {
      throw this.failure('PUT', key, err);
    }
  }

  async putFile(key: string, filePath: string, options?: PutOptions): Promise<void> {
    const objectKey = this.objectKey(key);
    if (options?.metadata !== undefined) validateMetadata(options.metadata);
    let small: Buffer | undefined;
    try {
      // Small enough to hold: one request, with a Content-MD5 the server verifies.
      if ((await stat(filePath)).size < MULTIPART_THRESHOLD_BYTES) small = await readFile(filePath);
    } catch (err) {
      throw this.error(`cannot read ${filePath} to put ${JSON.stringify(key)}: ${messageOf(err)}`, err);
    }
    if (small !== undefined) {
      await this.put(key, small, options);
      return;
    }
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: objectKey, Body: createReadStream(filePath), ...putHeaders(options) },
        partSize: MULTIPART_PART_SIZE_BYTES,
        queueSize: MULTIPART_QUEUE_SIZE,
        // An upload that fails is aborted, so its parts do not linger (and bill) in the bucket.
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      throw this.failure(`multipart upload of ${filePath} to`, key, err);
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const objectKey = this.objectKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      if (out.Body === undefined) throw new Error('response has no body');
      const bytes = await out.Body.transformToByteArray();
      if (out.ContentLength !== undefined && bytes.byteLength !== out.ContentLength) {
        throw new Error(`body truncated at ${bytes.byteLength} of ${out.ContentLength} bytes`);
      }
      return bytes;
    } catch (err) {
      const { name, status } = sdkErrorOf(err);
      if (name === 'NoSuchKey' || (status === 404 && name !== 'NoSuchBucket')) {
        throw new ObjectNotFoundError(this.description, key, { cause: err });
      }
      throw this.failure('GET', key, err);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const objectKey = this.objectKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return { key, sizeBytes: out.ContentLength ?? 0, metadata: out.Metadata ?? {} };
    } catch (err) {
      // HEAD responses have no body, so a missing bucket is a plain 404 too: both mean "no such object here".
      if (sdkErrorOf(err).status === 404) return undefined;
      throw this.failure('HEAD', key, err);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    let continuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.listPageSize,
            ContinuationToken: continuationToken,
          }),
        );
      } catch (err) {
        throw this.failure('LIST', prefix, err);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.startsWith(this.prefix)) continue;
        yield { key: object.Key.slice(this.prefix.length), sizeBytes: object.Size ?? 0 };
      }
      continuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      if (page.IsTruncated === true && continuationToken === undefined) {
        throw this.error(`LIST ${JSON.stringify(prefix)}: truncated page without a continuation token`);
      }
    } while (continuationToken !== undefined);
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      throw this.failure('DELETE', key, err);
    }
  }

  /** Deletes many objects, up to 1000 per request; absent ones are not an error. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    const objectKeys = keys.map((k) => this.objectKey(k));
    for (let start = 0; start < objectKeys.length; start += S3_MAX_KEYS_PER_REQUEST) {
      const batch = objectKeys.slice(start, start + S3_MAX_KEYS_PER_REQUEST);
      const command = new DeleteObjectsCommand({
        Bucket: this.bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      });
      addContentMd5(command);
      let out;
      try {
        out = await this.client.send(command);
      } catch (err) {
        throw this.failure('DELETE (batch)', keys[start] ?? '', err);
      }
      const errors = out.Errors ?? [];
      if (errors.length > 0) {
        const shown = errors.slice(0, 5).map((e) => `${e.Key ?? '?'} (${e.Code ?? '?'}: ${e.Message ?? ''})`);
        throw this.error(`DeleteObjects failed for ${errors.length} of ${batch.length} keys: ${shown.join(', ')}`);
      }
    }
  }

  async putTags(key: string, tags: Readonly<Record<string, string>>): Promise<void> {
    const objectKey = this.objectKey(key);
    validateTags(tags);
    const command = new PutObjectTaggingCommand({
      Bucket: this.bucket,
      Key: objectKey,
      Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
    });
    addContentMd5(command);
    try {
      await this.client.send(command);
    } catch (err) {
      throw this.taggingFailure('PUT tagging of', key, err);
    }
  }

  async getTags(key: string): Promise<Record<string, string>> {
    const objectKey = this.objectKey(key);
    try {
      const out = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: objectKey }));
      const tags: Record<string, string> = {};
      for (const tag of out.TagSet ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
      return tags;
    } catch (err) {
      throw this.taggingFailure('GET tagging of', key, err);
    }
  }

  private taggingFailure(op: string, key: string, err: unknown): ObjectStoreError {
    const { name, status } = sdkErrorOf(err);
    if (name === 'NotImplemented' || status === 501) {
      return new TaggingNotSupportedError(`${this.description}: object tagging is not supported by this server (${op} ${JSON.stringify(key)} answered ${name})`, { cause: err });
    }
    if (name === 'NoSuchKey' || (status === 404 && name !== 'NoSuchBucket')) return new ObjectNotFoundError(this.description, key, { cause: err });
    return this.failure(op, key, err);
  }

  private objectKey(key: string): string {
    return this.prefix + validateKey(key);
  }

  private failure(op: string, key: string, err: unknown): ObjectStoreError {
    const { name, status } = sdkErrorOf(err);
    const detail = `${name}${status === undefined ? '' : ` (HTTP ${status})`}: ${messageOf(err)}`;
    return new ObjectStoreError(`${op} s3://${this.bucket}/${this.prefix}${key} failed: ${detail}`, { cause: err });
  }

  private error(what: string, cause?: unknown): ObjectStoreError {
    return new ObjectStoreError(`${this.description}: ${what}`, cause === undefined ? undefined : { cause });
  }
}

function putHeaders(options: PutOptions | undefined): { Metadata?: Record<string, string>; ContentType?: string } {
  return {
    ...(options?.metadata === undefined ? {} : { Metadata: { ...options.metadata } }),
    ...(options?.contentType === undefined ? {} : { ContentType: options.contentType }),
  };
}

/**
 * Sends Content-MD5 on a command whose body the SDK would otherwise check only with its newer checksums: S3
 * requires one of them or Content-MD5 (DeleteObjects, PutObjectTagging), and S3-compatible servers (Swift among
 * them) accept only Content-MD5. The body is final after serialization, so the header is computed at 'build'.
 */
function addContentMd5(command: DeleteObjectsCommand | PutObjectTaggingCommand): void {
  // The middleware touches only the serialized HTTP request, which has the same shape for every command.
  const stack = command.middlewareStack as DeleteObjectsCommand['middlewareStack'];
  stack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const body = request.body;
      if (request.headers !== undefined && (typeof body === 'string' || body instanceof Uint8Array)) {
        request.headers['content-md5'] = createHash('md5').update(body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'tickvaultContentMd5' },
  );
}

/** The error code (`NoSuchKey`, `AccessDenied`, ...) and HTTP status of an SDK error, as far as it has them. */
function sdkErrorOf(err: unknown): { name: string; status: number | undefined } {
  if (!(err instanceof Error)) return { name: 'Error', status: undefined };
  const status = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  return { name: err.name, status: typeof status === 'number' ? status : undefined };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
