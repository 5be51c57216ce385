/**
 * On-disk format of the write-ahead log.
 *
 * A segment file holds records back to back, nothing else (no file header, so a segment is valid from byte 0 and an
 * empty file is an empty segment). A record is a 16-byte little-endian header then the payload:
 *
 *   offset 0   u32  payload length in bytes
 *   offset 4   u32  CRC32C of bytes 8 .. 16 + length (the sequence number and the payload)
 *   offset 8   u64  sequence number (strictly increasing by one across segments)
 *   offset 16  payload
 *
 * Segments are named by the sequence number of their first record, 20 decimal digits: `00000000000000000001.wal`.
 * Sequence numbers are JS numbers inside the log (bigint at its API): 2^53 is 285 years at a million records a second.
 */
import { crc32cOf } from './checksum.ts';

export const RECORD_HEADER_BYTES = 16;
/** Largest payload a record may carry; a length field above it is damage, not a record. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

const TWO_32 = 4294967296;
const SEGMENT_NAME = /^(\d{20})\.wal$/;

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.wal`;
}

/** The first sequence number a segment file name declares, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = SEGMENT_NAME.exec(name);
  if (match === null) return undefined;
  const seq = Number(match[1]);
  return seq >= 1 && seq <= MAX_SEQ ? seq : undefined;
}

/** Encodes one record into `into` at `offset` (the caller made room); returns the bytes written. */
export function encodeRecord(into: Buffer, offset: number, seq: number, payload: Uint8Array): number {
  const length = payload.byteLength;
  into.writeUInt32LE(length, offset);
  into.writeUInt32LE(seq % TWO_32, offset + 8);
  into.writeUInt32LE(Math.floor(seq / TWO_32), offset + 12);
  into.set(payload, offset + RECORD_HEADER_BYTES);
  const end = offset + RECORD_HEADER_BYTES + length;
  into.writeUInt32LE(crc32cOf(into, offset + 8, end), offset + 4);
  return RECORD_HEADER_BYTES + length;
}

/** The sequence field of the header at `offset`; values past MAX_SEQ come back imprecise but still above it. */
export function readSeq(bytes: Buffer, offset: number): number {
  return bytes.readUInt32LE(offset + 12) * TWO_32 + bytes.readUInt32LE(offset + 8);
}

/** Whether the record at `offset` (whose length field said `length`, all bytes present) passes its CRC. */
export function recordChecksumMatches(bytes: Buffer, offset: number, length: number): boolean {
  return crc32cOf(bytes, offset + 8, offset + RECORD_HEADER_BYTES + length) === bytes.readUInt32LE(offset + 4);
}
