/** Errors of the hot tier. Rejected events are counted, not thrown; these are for misuse and bad configuration. */

export class HotTierError extends Error {
  override readonly name: string = 'HotTierError';
}

/** An option is out of range, or the memory ceiling cannot hold even one symbol. Names the option. */
export class HotTierConfigError extends HotTierError {
  override readonly name = 'HotTierConfigError';
}
