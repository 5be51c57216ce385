/**
 * The file operations the write-ahead log needs, behind an interface so tests can inject ENOSPC, EIO and short
 * writes. The Node adapter is the default.
 */
import { mkdir, open, readdir, rm } from 'node:fs/promises';

/** 'read': read only. 'write': read and write an existing file. 'create': read and write, created empty (truncated). */
export type WalOpenMode = 'read' | 'write' | 'create';

export interface WalFile {
  /** Reads up to into.byteLength bytes at position; returns how many were read (0 at end of file). */
  read(into: Uint8Array, position: number): Promise<number>;
  /** Writes data at position; may write fewer bytes than asked (returns how many). */
  write(data: Uint8Array, position: number): Promise<number>;
  datasync(): Promise<void>;
  truncate(lengthBytes: number): Promise<void>;
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

export interface WalFileSystem {
  open(path: string, mode: WalOpenMode): Promise<WalFile>;
  /** Names of the entries in dir. */
  list(dir: string): Promise<string[]>;
  /** Removes a file; a file already gone is not an error. */
  remove(path: string): Promise<void>;
  makeDirectory(dir: string): Promise<void>;
  /** fsync of the directory itself, so created, renamed and removed entries survive a power loss. */
  syncDirectory(dir: string): Promise<void>;
}

const FLAGS: Record<WalOpenMode, string> = { read: 'r', write: 'r+', create: 'w+' };

export const nodeWalFileSystem: WalFileSystem = {
  async open(path, mode) {
    const handle = await open(path, FLAGS[mode]);
    return {
      read: async (into, position) => (await handle.read(into, 0, into.byteLength, position)).bytesRead,
      write: async (data, position) => (await handle.write(data, 0, data.byteLength, position)).bytesWritten,
      datasync: () => handle.datasync(),
      truncate: (lengthBytes) => handle.truncate(lengthBytes),
      sizeBytes: async () => (await handle.stat()).size,
      close: () => handle.close(),
    };
  },
  list: (dir) => readdir(dir),
  remove: (path) => rm(path, { force: true }),
  makeDirectory: async (dir) => {
    await mkdir(dir, { recursive: true });
  },
  async syncDirectory(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
