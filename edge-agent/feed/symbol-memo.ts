/** Symbol checks for feed messages: core/symbols.ts's rules, remembered for the valid symbols a stream repeats endlessly. */
import { symbolProblem } from '../../core/symbols.ts';

const validSymbols = new Set<string>();
const MAX_REMEMBERED_SYMBOLS = 50_000;

/** Why `symbol` breaks the symbol rules, or undefined when it is valid (remembered, so the next check is one lookup). */
export function feedSymbolProblem(symbol: string): string | undefined {
  if (validSymbols.has(symbol)) return undefined;
  const problem = symbolProblem(symbol);
  if (problem !== undefined) return problem;
  if (validSymbols.size >= MAX_REMEMBERED_SYMBOLS) validSymbols.clear();
  validSymbols.add(symbol);
  return undefined;
}
