/**
 * Exact money arithmetic for the portfolio. Prices and quantities enter as doubles and are quantized ONCE to integer
 * nano-units (1e-9) as bigint; notionals (price x quantity) are then exact integers of 1e-18 currency units. Sums of
 * cash, cost and realized P&L are therefore exact however many fills arrive: nothing drifts.
 *
 * Rounding, all of it:
 *  - quantize: a double becomes the nearest multiple of 1e-9 (ties away from zero), exactly, at any magnitude
 *    (the integer part and the fraction are converted separately);
 *  - a partial reduction removes cost * closed / held of the position's cost, rounded to the nearest 1e-18 (ties
 *    away from zero): at most 0.5e-18 per reduction, and a full close removes the exact remaining cost, so a flat
 *    position never carries a residue;
 *  - views (numbers handed out) are the exact values rounded once to the nearest double.
 */

/** 1e-9 units per unit (prices, quantities). */
export const NANO = 1_000_000_000n;
/** 1e-18 units per unit (notionals: cash, cost, P&L). */
export const ATTO = NANO * NANO;

/** The nearest multiple of 1e-9 to `x`, in 1e-9 units. `x` must be finite. */
export function toNano(x: number): bigint {
  const whole = Math.trunc(x);
  // x - whole is exact for doubles; the fraction times 1e9 is below 2^30, far inside a double's exact range.
  const fraction = x - whole;
  const scaled = fraction * 1e9;
  const rounded = scaled < 0 ? -Math.round(-scaled) : Math.round(scaled);
  return BigInt(whole) * NANO + BigInt(rounded);
}

/** `units` of 1/scale as the nearest double (integer and fractional parts converted apart, so precision holds). */
export function fromUnits(units: bigint, scale: bigint): number {
  const whole = units / scale;
  const rest = units % scale;
  return Number(whole) + Number(rest) / Number(scale);
}

/** a / b rounded to the nearest integer, ties away from zero. b must not be 0. */
export function divRound(a: bigint, b: bigint): bigint {
  const q = a / b;
  const r = a % b;
  const absR = r < 0n ? -r : r;
  const absB = b < 0n ? -b : b;
  if (2n * absR < absB) return q;
  return (a < 0n) !== (b < 0n) ? q - 1n : q + 1n;
}
