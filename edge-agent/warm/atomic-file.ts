/** Durable, atomic file replacement: temp file, fsync, rename, fsync the directory. */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes bytes to path so that a crash leaves either no file or the whole file, never a part. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomicWith(path, async (temp) => {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
    } finally {
      await handle.close();
    }
  });
}

/**
 * The same guarantee for a file something else writes (an encoder that takes a path): `write` creates the
 * temporary file it is given; it is then fsynced, renamed to path, and the directory fsynced. Returns what `write`
 * returns. A failure anywhere removes the temporary file.
 */
export async function writeFileAtomicWith<T>(path: string, write: (tempPath: string) => Promise<T>): Promise<T> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  // Named .NAME.tmp-HEX like every temporary file here: the agent removes any a crash left in the warm directory.
  const temp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  let result: T;
  try {
    result = await write(temp);
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dir);
  return result;
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
