/** Errors of the write-ahead log. Each names the directory or segment file, the offset and the sequence involved. */

export class WalError extends Error {
  override readonly name: string = 'WalError';
}

/** Why a record was judged damaged. */
export const DAMAGE_REASONS = {
  'short-header': 'fewer than 16 bytes left for a record header',
  'length-too-large': 'length field above the 16 MiB record limit',
  'length-beyond-end': 'length field runs past the end of the segment',
  'crc-mismatch': 'fails its CRC32C check',
  'sequence-mismatch': 'carries the wrong sequence number',
  'missing-records': 'segment does not start where the previous one ended (records missing)',
  'sequence-overlap': 'segment starts before the previous one ended (overlapping segments)',
} as const;
export type DamageReason = keyof typeof DAMAGE_REASONS;

/**
 * A damaged record where damage cannot be a torn tail: in a segment before the last one (which was complete and
 * fsynced before the next segment was created), or a gap or overlap between segments.
 */
export class WalCorruptionError extends WalError {
  override readonly name = 'WalCorruptionError';

  constructor(
    /** Path of the segment file. */
    readonly file: string,
    /** Byte offset of the damaged record in that file. */
    readonly offset: number,
    /** Sequence number the damaged record should have carried. */
    readonly seq: bigint,
    readonly reason: DamageReason,
  ) {
    super(`write-ahead log segment ${file}: record at byte ${offset} (expected seq ${seq}) ${DAMAGE_REASONS[reason]}; `
      + `records from seq ${seq} on are not trusted (open with onCorruptRecord: 'skip' to skip damaged records and count them)`);
  }
}

export const WRITE_OPERATIONS = ['write', 'fsync', 'truncate', 'create-segment', 'sync-directory', 'remove-segment'] as const;
export type WriteOperation = (typeof WRITE_OPERATIONS)[number];

/** A failed disk operation (ENOSPC, EIO, ...). Pending records stay in memory and the write is retried. */
export class WalWriteError extends WalError {
  override readonly name = 'WalWriteError';
  /** The errno code of the underlying error when it has one: 'ENOSPC', 'EIO', 'EDQUOT', ... */
  readonly code: string | undefined;

  constructor(readonly operation: WriteOperation, readonly file: string, cause: unknown) {
    const code = errorCode(cause);
    super(`write-ahead log ${file}: ${operation} failed (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
    this.code = code;
  }
}

/** append() refused a record because too many bytes wait for the disk; the record was not appended. */
export class WalBackpressureError extends WalError {
  override readonly name = 'WalBackpressureError';

  constructor(
    readonly dir: string,
    readonly pendingBytes: number,
    readonly maxPendingBytes: number,
    /** The last failed disk write when writes are failing, undefined when the disk is merely slower than the appends. */
    readonly stalledBy: WalWriteError | undefined,
  ) {
    super(`write-ahead log ${dir}: ${pendingBytes} bytes wait for the disk (limit ${maxPendingBytes}); record not appended, `
      + (stalledBy === undefined ? 'appends outrun the disk' : `disk writes are failing: ${stalledBy.message}`), { cause: stalledBy });
  }
}

export class WalClosedError extends WalError {
  override readonly name = 'WalClosedError';

  constructor(readonly dir: string) {
    super(`write-ahead log ${dir} is closed`);
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
