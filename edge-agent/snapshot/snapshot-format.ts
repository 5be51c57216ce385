/**
 * Snapshot file format: a 44-byte little-endian header, then the payload.
 *
 *   offset 0   8 bytes  magic "TVSNAPSH"
 *   offset 8   u16      format version (1)
 *   offset 10  u16      header length in bytes (44)
 *   offset 12  u32      reserved, 0
 *   offset 16  u64      walSeq: the last write-ahead log record the snapshot includes
 *   offset 24  u64      createdAtMs: wall-clock time of the write, epoch milliseconds
 *   offset 32  u64      payload length in bytes
 *   offset 40  u32      CRC32C of bytes 0..40 followed by the payload
 *   offset 44  payload
 *
 * File names carry the walSeq (20 digits) and the UTC creation time, so that names sort oldest to newest:
 * `snapshot-00000000000000001234-20251126T074400123Z.snap`.
 */
import { crc32c } from '@node-rs/crc32';

export const SNAPSHOT_MAGIC = Buffer.from('TVSNAPSH', 'ascii');
export const SNAPSHOT_VERSION = 1;
export const SNAPSHOT_HEADER_BYTES = 44;
const CRC_OFFSET = 40;

/** Why a snapshot file was not used. */
export const SNAPSHOT_DEFECTS = {
  unreadable: 'could not be read',
  truncated: 'is shorter than its header and declared payload',
  'bad-magic': 'does not start with the snapshot magic',
  'unsupported-version': 'has a format version this build does not read',
  'length-mismatch': 'is longer than its header and declared payload',
  'crc-mismatch': 'fails its CRC32C check',
  'name-mismatch': 'carries a walSeq other than its file name says',
} as const;
export type SnapshotDefect = keyof typeof SNAPSHOT_DEFECTS;

export interface SnapshotHeader {
  readonly walSeq: bigint;
  readonly createdAtMs: number;
  readonly payloadBytes: number;
}

const NAME = /^snapshot-(\d{20})-(\d{8}T\d{9}Z)\.snap$/;

export function snapshotFileName(walSeq: bigint, createdAtMs: number): string {
  const stamp = new Date(createdAtMs).toISOString().replace(/[-:.]/g, '');
  return `snapshot-${walSeq.toString().padStart(20, '0')}-${stamp}.snap`;
}

/** The walSeq a snapshot file name declares, or undefined for any other file (temp files included). */
export function parseSnapshotFileName(name: string): bigint | undefined {
  const match = NAME.exec(name);
  return match === null ? undefined : BigInt(match[1]!);
}

/** The header bytes for a payload, CRC included. */
export function encodeSnapshotHeader(walSeq: bigint, createdAtMs: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
  SNAPSHOT_MAGIC.copy(header, 0);
  header.writeUInt16LE(SNAPSHOT_VERSION, 8);
  header.writeUInt16LE(SNAPSHOT_HEADER_BYTES, 10);
  header.writeBigUInt64LE(walSeq, 16);
  header.writeBigUInt64LE(BigInt(Math.trunc(createdAtMs)), 24);
  header.writeBigUInt64LE(BigInt(payload.byteLength), 32);
  header.writeUInt32LE(crc32c(payload, crc32c(header.subarray(0, CRC_OFFSET))), CRC_OFFSET);
  return header;
}

/** Validates a whole snapshot file; returns its header and a view of its payload, or the defect. */
export function decodeSnapshot(bytes: Uint8Array): { readonly header: SnapshotHeader; readonly payload: Uint8Array } | { readonly defect: SnapshotDefect } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < SNAPSHOT_HEADER_BYTES) return { defect: buf.length >= 8 && !buf.subarray(0, 8).equals(SNAPSHOT_MAGIC) ? 'bad-magic' : 'truncated' };
  if (!buf.subarray(0, 8).equals(SNAPSHOT_MAGIC)) return { defect: 'bad-magic' };
  if (buf.readUInt16LE(8) !== SNAPSHOT_VERSION || buf.readUInt16LE(10) !== SNAPSHOT_HEADER_BYTES) return { defect: 'unsupported-version' };
  const payloadBytes = buf.readBigUInt64LE(32);
  const available = BigInt(buf.length - SNAPSHOT_HEADER_BYTES);
  if (payloadBytes > available) return { defect: 'truncated' };
  if (payloadBytes < available) return { defect: 'length-mismatch' };
  const payload = buf.subarray(SNAPSHOT_HEADER_BYTES);
  if (crc32c(payload, crc32c(buf.subarray(0, CRC_OFFSET))) !== buf.readUInt32LE(CRC_OFFSET)) return { defect: 'crc-mismatch' };
  return {
    header: { walSeq: buf.readBigUInt64LE(16), createdAtMs: Number(buf.readBigUInt64LE(24)), payloadBytes: payload.length },
    payload,
  };
}
