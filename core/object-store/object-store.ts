/**
 * The object-store interface every tier writes through: a local directory (the embedded default) or S3.
 * Keys are '/'-separated relative paths built by layout.ts; validateKey keeps anything else out.
 */

export interface ObjectInfo {
  readonly key: string;
  readonly sizeBytes: number;
  /** User metadata stored with the object (lower-case keys), when the listing or HEAD returned it. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface PutOptions {
  /** Stored with the object; S3 sends these as x-amz-meta-* headers. Keys lower-case, values ASCII. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

export interface ObjectStore {
  /** Where the store points, for logs and errors, e.g. `local:/data/store` or `s3://bucket/prefix`. Never a secret. */
  readonly description: string;
  /** Writes the whole object atomically: a reader sees the old object, or the new one, never a part. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void>;
  /** Uploads a local file (streamed or multipart where the store supports it). */
  putFile(key: string, filePath: string, options?: PutOptions): Promise<void>;
  /** The whole object; throws ObjectNotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  /** Size and metadata, or undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with prefix, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; absent objects are not an error. */
  delete(key: string): Promise<void>;
  /**
   * Replaces the object's tags (S3 object tagging: at most 10, see validateTags). A later put of the key clears
   * them, as on S3. Throws ObjectNotFoundError when the object is absent, TaggingNotSupportedError when the store
   * cannot keep tags (S3-compatible servers such as Swift answer NotImplemented).
   */
  putTags(key: string, tags: Readonly<Record<string, string>>): Promise<void>;
  /** The object's tags ({} when it has none); throws like putTags. */
  getTags(key: string): Promise<Record<string, string>>;
}

export class ObjectStoreError extends Error {
  override readonly name: string = 'ObjectStoreError';
}

export class ObjectNotFoundError extends ObjectStoreError {
  override readonly name = 'ObjectNotFoundError';
  constructor(
    readonly store: string,
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`${store}: object ${JSON.stringify(key)} not found`, options);
  }
}

export class InvalidKeyError extends ObjectStoreError {
  override readonly name = 'InvalidKeyError';
}

export class InvalidMetadataError extends ObjectStoreError {
  override readonly name = 'InvalidMetadataError';
}

export class InvalidTagsError extends ObjectStoreError {
  override readonly name = 'InvalidTagsError';
}

/** The store has no object tagging (e.g. Swift's S3 API answers NotImplemented). Callers decide whether that matters. */
export class TaggingNotSupportedError extends ObjectStoreError {
  override readonly name = 'TaggingNotSupportedError';
}

/** S3's limits on object tags. */
export const MAX_TAGS_PER_OBJECT = 10;
const TAG_KEY_MAX_CHARS = 128;
const TAG_VALUE_MAX_CHARS = 256;
const TAG_CHARACTERS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** Rejects tags S3 would refuse: over 10, empty or over-long keys, over-long values, characters outside S3's set. */
export function validateTags(tags: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS_PER_OBJECT) {
    throw new InvalidTagsError(`${entries.length} tags, over S3's limit of ${MAX_TAGS_PER_OBJECT} per object`);
  }
  for (const [key, value] of entries) {
    const problem =
      key.length === 0 || key.length > TAG_KEY_MAX_CHARS ? `key must be 1 to ${TAG_KEY_MAX_CHARS} characters`
      : value.length > TAG_VALUE_MAX_CHARS ? `value over ${TAG_VALUE_MAX_CHARS} characters`
      : !TAG_CHARACTERS.test(key) || !TAG_CHARACTERS.test(value) ? "only letters, digits, spaces and _ . : / = + - @ are allowed"
      : key.startsWith('aws:') ? "the 'aws:' prefix is reserved"
      : undefined;
    if (problem !== undefined) throw new InvalidTagsError(`invalid tag ${JSON.stringify(key)}=${JSON.stringify(value)}: ${problem}`);
  }
  return tags;
}

/** Rejects keys that could escape the store's root or confuse a file system. Returns the key unchanged. */
export function validateKey(key: string): string {
  const problem =
    key.length === 0 ? 'empty'
    : key.length > 1024 ? 'over 1024 characters'
    : key.startsWith('/') ? "starts with '/'"
    : key.includes('\\') ? "contains '\\'"
    // eslint-disable-next-line no-control-regex
    : /[\u0000-\u001f\u007f]/.test(key) ? 'contains a control character'
    : key.split('/').some((s) => s === '' || s === '.' || s === '..') ? "has an empty, '.' or '..' segment"
    : undefined;
  if (problem !== undefined) throw new InvalidKeyError(`invalid object key ${JSON.stringify(key)}: ${problem}`);
  return key;
}

/** Validates a list prefix: like a key, but may be empty or end with '/' or a partial segment. */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  validateKey(prefix.endsWith('/') ? `${prefix}x` : prefix);
  return prefix;
}

/**
 * Rejects metadata that S3 would not hand back unchanged (it travels as HTTP headers, which lower-case names and
 * trim values): names of lower-case letters, digits, '-' and '_'; values of printable ASCII without leading or
 * trailing spaces. Returns the metadata unchanged.
 */
export function validateMetadata(metadata: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  for (const [name, value] of Object.entries(metadata)) {
    const problem =
      !/^[a-z0-9][a-z0-9_-]*$/.test(name) ? "name must be lower-case letters, digits, '-' or '_'"
      : !/^[\x20-\x7e]*$/.test(value) ? 'value must be printable ASCII'
      : value.trim() !== value ? 'value has leading or trailing spaces'
      : undefined;
    if (problem !== undefined) {
      throw new InvalidMetadataError(`invalid metadata ${JSON.stringify(name)}=${JSON.stringify(value)}: ${problem}`);
    }
  }
  return metadata;
}
