/** Errors of the hot tier. Rejected events are counted, not thrown; these are for misuse and bad configuration. */

export class HotTierError extends Error {
  override readonly name: string = 'HotTierError';
}

/** An option is out of range, or the memory ceiling cannot hold even one symbol. Names the option. */
export class HotTierConfigError extends HotTierError {
  override readonly name = 'HotTierConfigError';
}

/** What is wrong with a hot-tier snapshot (hot-snapshot.ts). */
export const HOT_SNAPSHOT_DEFECTS = [
  /** Not a hot-tier snapshot, truncated, or content that breaks the format's rules. */
  'malformed',
  /** Written in a format version this build does not read. */
  'unknownVersion',
  /** Well formed, but the options passed to fromSnapshot cannot take its state (say, other indicator periods). */
  'incompatible',
] as const;
export type HotSnapshotDefect = (typeof HOT_SNAPSHOT_DEFECTS)[number];

/** A snapshot payload could not be restored; `defect` says why, the message says where. */
export class HotSnapshotError extends HotTierError {
  override readonly name = 'HotSnapshotError';

  constructor(readonly defect: HotSnapshotDefect, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
