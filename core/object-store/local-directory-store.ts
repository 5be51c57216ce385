/**
 * The embedded object store: one file per object under a root directory.
 *
 * Writes are atomic and durable: the bytes go to a temp file in the object's own directory, are fsynced, and are
 * renamed over the object; then the directory is fsynced. Metadata lives in a hidden sidecar next to the object,
 * written (atomically too) before the data rename, so a reader never sees new bytes with old metadata.
 *
 * Tags (putTags) live in the same sidecar; a put replaces the sidecar and so clears them, as a PUT does on S3.
 *
 * Two kinds of names are reserved, and are rejected as key segments so that they can never hide a real object:
 *   `.tmp-<random>`        temp files of writes in flight (or of writes a crash cut short)
 *   `.<name>.meta.json`    the metadata sidecar of object `<name>`
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import {
  copyFile,
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  InvalidKeyError,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
  type PutOptions,
  validateKey,
  validateMetadata,
  validatePrefix,
  validateTags,
} from './object-store.ts';

const TEMP_PREFIX = '.tmp-';
const META_SUFFIX = '.meta.json';
/** Attempts to create a temp file when a concurrent delete keeps pruning its (empty) directory. */
const CREATE_TEMP_ATTEMPTS = 5;

interface Sidecar {
  readonly metadata: Record<string, string>;
  readonly contentType?: string;
  readonly tags?: Record<string, string>;
}

export class LocalDirectoryStore implements ObjectStore {
  readonly description: string;
  private readonly root: string;
  private readonly tagDirSyncs = new DirectorySyncs();

  constructor(rootDir: string) {
    this.root = resolve(rootDir);
    this.description = `local:${this.root}`;
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    await this.commit(key, options, async (handle) => {
      await handle.writeFile(body);
    });
  }

  async putFile(key: string, filePath: string, options?: PutOptions): Promise<void> {
    await this.commit(key, options, async (handle, tempPath) => {
      // copyFile lets the kernel move the bytes into the temp file's inode, which the handle holds open: the
      // handle's fsync covers them, and the open file keeps a concurrent delete from pruning the directory.
      try {
        await copyFile(filePath, tempPath);
      } catch (err) {
        throw this.error(`cannot copy ${filePath} to put ${JSON.stringify(key)}: ${messageOf(err)}`, err);
      }
    });
  }

  async get(key: string): Promise<Uint8Array> {
    const file = this.pathOf(key);
    try {
      const bytes = await readFile(file);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      if (isNotAnObject(err)) throw new ObjectNotFoundError(this.description, key, { cause: err });
      throw this.failure('get', key, err);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key);
    let sizeBytes: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) return undefined;
      sizeBytes = st.size;
    } catch (err) {
      if (isNotAnObject(err)) return undefined;
      throw this.failure('head', key, err);
    }
    const sidecar = await this.readSidecar(key, file);
    return { key, sizeBytes, metadata: sidecar?.metadata ?? {} };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const cut = prefix.lastIndexOf('/');
    const dirKey = prefix.slice(0, cut + 1);
    if (dirKey !== '') this.checkReserved(dirKey.slice(0, -1), prefix);
    yield* this.walk(dirKey, prefix.slice(cut + 1));
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      // Data first: a reader then sees the object whole or not at all. A sidecar a crash leaves behind is hidden,
      // and the next put of the key replaces or removes it.
      const removed = await removeIfObject(file);
      await removeIfObject(sidecarPath(file));
      // A concurrent delete may have pruned the emptied directory already: nothing left to make durable then.
      if (removed) await fsyncDir(dirname(file)).catch((e: unknown) => {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      });
    } catch (err) {
      throw this.failure('delete', key, err);
    }
    await this.pruneEmptyDirs(dirname(file));
  }

  async putTags(key: string, tags: Readonly<Record<string, string>>): Promise<void> {
    const file = this.pathOf(key);
    validateTags(tags);
    await this.requireObject('put tags of', key, file);
    const sidecar = await this.readSidecar(key, file);
    const { tags: _old, ...rest } = sidecar ?? { metadata: {} };
    const next: Sidecar = Object.keys(tags).length === 0 ? rest : { ...rest, tags: { ...tags } };
    try {
      await writeFileAtomically(dirname(file), sidecarPath(file), JSON.stringify(next));
      // Tagging many objects of one directory at once (the compactor tags a month's warm objects) shares the
      // directory fsyncs: each call still returns only after an fsync that began after its rename.
      await this.tagDirSyncs.sync(dirname(file));
    } catch (err) {
      throw this.failure('put tags of', key, err);
    }
    // A delete that ran meanwhile leaves a sidecar without data: hidden, and cleared by the next put of the key.
    await this.requireObject('put tags of', key, file);
  }

  async getTags(key: string): Promise<Record<string, string>> {
    const file = this.pathOf(key);
    await this.requireObject('get tags of', key, file);
    return { ...(await this.readSidecar(key, file))?.tags };
  }

  private async requireObject(op: string, key: string, file: string): Promise<void> {
    try {
      if ((await stat(file)).isFile()) return;
    } catch (err) {
      if (!isNotAnObject(err)) throw this.failure(op, key, err);
    }
    throw new ObjectNotFoundError(this.description, key);
  }

  /**
   * The file that holds a key's object, for readers that open objects in place instead of copying them (the
   * query engine). Read-only use only: writing it directly would bypass the atomic commit. Throws on invalid keys.
   */
  localPathOf(key: string): string | undefined {
    return this.pathOf(key);
  }

  /** The absolute path of a key's file; rejects keys that are invalid or use a reserved name. */
  private pathOf(key: string): string {
    validateKey(key);
    this.checkReserved(key, key);
    return join(this.root, ...key.split('/'));
  }

  private checkReserved(keyPart: string, shown: string): void {
    const reserved = keyPart.split('/').find(isReservedName);
    if (reserved !== undefined) {
      throw new InvalidKeyError(
        `invalid object key ${JSON.stringify(shown)}: segment ${JSON.stringify(reserved)} is reserved ` +
          'by the local store for its temp and metadata files',
      );
    }
  }

  /**
   * Writes a temp file with `write`, fsyncs it, writes or removes the metadata sidecar, renames the temp file over
   * the object and fsyncs every directory whose entries changed.
   */
  private async commit(
    key: string,
    options: PutOptions | undefined,
    write: (handle: FileHandle, tempPath: string) => Promise<void>,
  ): Promise<void> {
    const file = this.pathOf(key);
    if (options?.metadata !== undefined) validateMetadata(options.metadata);
    const dir = dirname(file);
    const { handle, tempPath, dirsToSync } = await this.createTemp(key, dir);
    let renamed = false;
    try {
      await write(handle, tempPath);
      await handle.sync();
      await handle.close();
      const sidecar = sidecarOf(options);
      if (sidecar === undefined) await unlinkIfPresent(sidecarPath(file));
      else await writeFileAtomically(dir, sidecarPath(file), JSON.stringify(sidecar));
      await rename(tempPath, file);
      renamed = true;
      for (const d of dirsToSync) await fsyncDir(d);
    } catch (err) {
      await handle.close().catch(() => undefined);
      if (!renamed) await unlinkIfPresent(tempPath).catch(() => undefined);
      if (err instanceof ObjectStoreError) throw err;
      if (isErrno(err, 'EISDIR')) {
        throw this.error(`cannot put ${JSON.stringify(key)}: a directory of other objects has that name`, err);
      }
      throw this.failure('put', key, err);
    }
  }

  /** Creates `dir` (and parents) and an exclusive temp file in it, and names the directories to fsync after. */
  private async createTemp(
    key: string,
    dir: string,
  ): Promise<{ handle: FileHandle; tempPath: string; dirsToSync: string[] }> {
    for (let attempt = 1; ; attempt++) {
      let firstCreated: string | undefined;
      try {
        firstCreated = await mkdir(dir, { recursive: true });
      } catch (err) {
        if (isErrno(err, 'ENOTDIR') || isErrno(err, 'EEXIST')) {
          throw this.error(`cannot put ${JSON.stringify(key)}: a prefix of the key is itself an object`, err);
        }
        throw this.failure('put', key, err);
      }
      const tempPath = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
      try {
        const handle = await open(tempPath, 'wx', 0o644);
        // New directories are durable only once the entry in their parent is: sync from the first one's parent down.
        const dirsToSync =
          firstCreated === undefined ? [dir] : [dirname(firstCreated), ...pathsBetween(firstCreated, dir)];
        return { handle, tempPath, dirsToSync };
      } catch (err) {
        // A concurrent delete pruned the empty directory between mkdir and open: make it again.
        if (isErrno(err, 'ENOENT') && attempt < CREATE_TEMP_ATTEMPTS) continue;
        throw this.failure('put', key, err);
      }
    }
  }

  private async readSidecar(key: string, file: string): Promise<Sidecar | undefined> {
    let text: string;
    try {
      text = await readFile(sidecarPath(file), 'utf8');
    } catch (err) {
      if (isNotAnObject(err)) return undefined;
      throw this.failure('head', key, err);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (!isSidecar(parsed)) throw new Error('not a {metadata} object of strings');
      return parsed;
    } catch (err) {
      throw this.error(`metadata of ${JSON.stringify(key)} unreadable (${sidecarPath(file)}): ${messageOf(err)}`, err);
    }
  }

  /** Yields the objects under `dirKey` whose first name starts with `partial`, in UTF-8 byte order of their keys. */
  private async *walk(dirKey: string, partial: string): AsyncGenerator<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(join(this.root, ...dirKey.split('/')), { withFileTypes: true });
    } catch (err) {
      if (isNotAnObject(err)) return;
      throw this.error(`cannot list ${JSON.stringify(dirKey)}: ${messageOf(err)}`, err);
    }
    // Sorting a directory's entries with a '/' after each subdirectory's name puts every key below it exactly where
    // a sort of the full keys would: no file name contains '/', so no sibling can sort between its keys.
    const children = entries
      .filter((e) => e.name.startsWith(partial) && !isReservedName(e.name) && (e.isFile() || e.isDirectory()))
      .map((e) => ({ name: e.name, isDir: e.isDirectory() }))
      .map((e) => ({ ...e, sortKey: Buffer.from(e.isDir ? `${e.name}/` : e.name) }))
      .sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
    for (const child of children) {
      const key = dirKey + child.name;
      if (!isValidKey(key)) continue; // a file some other program dropped here, which no key can name
      if (child.isDir) {
        yield* this.walk(`${key}/`, '');
        continue;
      }
      try {
        const st = await stat(join(this.root, ...key.split('/')));
        if (st.isFile()) yield { key, sizeBytes: st.size };
      } catch (err) {
        if (!isNotAnObject(err)) throw this.failure('list', key, err); // else deleted while we listed
      }
    }
  }

  /** Removes directories a delete left empty, up to (not including) the root. Best effort: a busy one stops it. */
  private async pruneEmptyDirs(start: string): Promise<void> {
    for (let dir = start; isStrictlyInside(this.root, dir); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        return;
      }
    }
  }

  private failure(op: string, key: string, err: unknown): ObjectStoreError {
    return this.error(`${op} ${JSON.stringify(key)} failed: ${messageOf(err)}`, err);
  }

  private error(what: string, cause: unknown): ObjectStoreError {
    return new ObjectStoreError(`${this.description}: ${what}`, { cause });
  }
}

function isReservedName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) || (name.startsWith('.') && name.endsWith(META_SUFFIX));
}

function sidecarPath(file: string): string {
  return join(dirname(file), `.${basename(file)}${META_SUFFIX}`);
}

function sidecarOf(options: PutOptions | undefined): Sidecar | undefined {
  const metadata = { ...options?.metadata };
  const contentType = options?.contentType;
  if (Object.keys(metadata).length === 0 && contentType === undefined) return undefined;
  return contentType === undefined ? { metadata } : { metadata, contentType };
}

function isSidecar(value: unknown): value is Sidecar {
  if (typeof value !== 'object' || value === null) return false;
  const { metadata, contentType, tags } = value as { metadata?: unknown; contentType?: unknown; tags?: unknown };
  return (
    isStringRecord(metadata) &&
    (contentType === undefined || typeof contentType === 'string') &&
    (tags === undefined || isStringRecord(tags))
  );
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
}

async function writeFileAtomically(dir: string, target: string, text: string): Promise<void> {
  const tempPath = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  const handle = await open(tempPath, 'wx', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
    await handle.close();
    await rename(tempPath, target);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlinkIfPresent(tempPath).catch(() => undefined);
    throw err;
  }
}

/**
 * Group commit of directory fsyncs: a caller whose rename is done joins the next fsync of that directory to start
 * (the one queued behind the fsync in flight, which may predate the rename), so concurrent callers share one.
 */
class DirectorySyncs {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly next = new Map<string, Promise<void>>();

  sync(dir: string): Promise<void> {
    const queued = this.next.get(dir);
    if (queued !== undefined) return queued;
    const running = this.inFlight.get(dir);
    if (running === undefined) return this.start(dir);
    const after = running.then(() => undefined, () => undefined).then(() => {
      this.next.delete(dir);
      return this.start(dir);
    });
    this.next.set(dir, after);
    return after;
  }

  private start(dir: string): Promise<void> {
    const run = fsyncDir(dir).finally(() => {
      if (this.inFlight.get(dir) === run) this.inFlight.delete(dir);
    });
    this.inFlight.set(dir, run);
    return run;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

/** Unlinks a file; false when there is none (a directory of that name is not an object either). */
async function removeIfObject(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (isNotAnObject(err)) return false;
    throw err;
  }
}

/** `from` and each directory below it down to `to` (inclusive); `from` must be an ancestor of, or equal to, `to`. */
function pathsBetween(from: string, to: string): string[] {
  const rest = relative(from, to);
  const paths = [from];
  if (rest === '') return paths;
  let current = from;
  for (const segment of rest.split(sep)) {
    current = join(current, segment);
    paths.push(current);
  }
  return paths;
}

function isStrictlyInside(root: string, dir: string): boolean {
  const rel = relative(root, dir);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

/** ENOENT, ENOTDIR (a prefix is a file) and EISDIR (the key names a directory) all mean "no such object". */
function isNotAnObject(err: unknown): boolean {
  return isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'EISDIR');
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
