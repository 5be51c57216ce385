/**
 * Symbol rules. A symbol reaches file paths, object keys and SQL, so anything that could escape a path or break a
 * Hive partition is rejected here, once, with an error that names it.
 *
 * Accepted: 1 to 32 bytes of letters, digits, '.', '-', '_', starting with a letter or digit; and crypto pairs
 * made of two such parts joined by a single '/' (BTC/USD). The path form percent-encodes '/' as '%2F', the way Hive
 * escapes partition values, so it is reversible and never contains a separator.
 */

export const MAX_SYMBOL_BYTES = 32;

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PATH_FORM = /^[A-Za-z0-9][A-Za-z0-9._-]*(%2F[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export class SymbolError extends Error {
  override readonly name = 'SymbolError';
}

/** Shows a hostile value safely inside an error message (control characters escaped, length capped). */
export function describeValue(value: string): string {
  const shown = JSON.stringify(value.length > 48 ? `${value.slice(0, 48)}…` : value);
  return shown;
}

/** Why `symbol` breaks the rules, or undefined when it is valid. */
export function symbolProblem(symbol: string): string | undefined {
  if (symbol.length === 0) return 'empty';
  const bytes = Buffer.byteLength(symbol, 'utf8');
  if (bytes > MAX_SYMBOL_BYTES) return `${bytes} bytes, over the ${MAX_SYMBOL_BYTES}-byte limit`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(symbol)) return 'contains a NUL or control character';
  if (symbol.includes('\\')) return "contains '\\'";
  if (symbol.includes('=')) return "contains '=' (breaks a Hive partition)";
  if (symbol.includes('..')) return "contains '..'";
  const parts = symbol.split('/');
  if (parts.length > 2) return "contains more than one '/' (only a pair like BTC/USD may)";
  for (const part of parts) {
    if (part.length === 0) return "has an empty side of '/'";
    if (!PART.test(part)) {
      return "has a character outside letters, digits, '.', '-', '_' or does not start with a letter or digit";
    }
  }
  return undefined;
}

export function isValidSymbol(symbol: string): boolean {
  return symbolProblem(symbol) === undefined;
}

/** Returns the symbol unchanged if it is valid; throws a SymbolError naming it otherwise. */
export function validateSymbol(symbol: string): string {
  const problem = symbolProblem(symbol);
  if (problem !== undefined) throw new SymbolError(`invalid symbol ${describeValue(symbol)}: ${problem}`);
  return symbol;
}

/** The path-safe form of a valid symbol: '/' becomes '%2F'. */
export function symbolToPath(symbol: string): string {
  return validateSymbol(symbol).replace('/', '%2F');
}

/** Inverse of symbolToPath; rejects anything symbolToPath could not have produced. */
export function symbolFromPath(pathForm: string): string {
  if (!PATH_FORM.test(pathForm)) {
    throw new SymbolError(`invalid symbol path component ${describeValue(pathForm)}`);
  }
  return validateSymbol(pathForm.replace('%2F', '/'));
}

/** Parses a comma-separated symbol list from the command line or config. */
export function parseSymbolList(list: string): string[] {
  const symbols = list.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (symbols.length === 0) throw new SymbolError(`symbol list ${describeValue(list)} names no symbol`);
  return [...new Set(symbols.map(validateSymbol))];
}
