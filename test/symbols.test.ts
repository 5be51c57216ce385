import { describe, expect, it } from 'vitest';
import { SymbolError, parseSymbolList, symbolFromPath, symbolToPath, validateSymbol } from '../core/symbols.ts';

describe('symbol rules', () => {
  it.each(['AAPL', 'BRK.B', 'ESU4', 'BTCUSDT', 'BTC/USD', 'ETH/BTC', 'X', 'A-B_C.D', 'A'.repeat(32)])('accepts %s', (s) => {
    expect(validateSymbol(s)).toBe(s);
  });

  const hostile: [string, RegExp][] = [
    ['', /empty/],
    ['../etc/passwd', /'\.\.'|more than one/],
    ['..', /'\.\.'/],
    ['/AAPL', /empty side/],
    ['AAPL/', /empty side/],
    ['A/B/C', /more than one '\/'/],
    ['a\\b', /contains '\\'/],
    ['date=2024-01-01', /'='/],
    ['AA\u0000PL', /control/],
    ['AA\nPL', /control/],
    ['AAPL\u007f', /control/],
    ['A'.repeat(33), /33 bytes/],
    ['ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ', /34 bytes/],
    ['.hidden', /does not start with a letter or digit/],
    ["AAPL' OR 1=1 --", /'='|character/],
    ['AA PL', /character/],
    ['%2F', /character/],
    ['*', /character/],
  ];
  it.each(hostile)('rejects %j naming it and the reason', (s, reason) => {
    let error: unknown;
    try {
      validateSymbol(s);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SymbolError);
    const message = (error as Error).message;
    expect(message).toContain(JSON.stringify(s.length > 48 ? `${s.slice(0, 48)}…` : s));
    expect(message).toMatch(reason);
  });

  it('maps crypto pairs to a reversible path-safe form', () => {
    expect(symbolToPath('BTC/USD')).toBe('BTC%2FUSD');
    expect(symbolFromPath('BTC%2FUSD')).toBe('BTC/USD');
    for (const s of ['AAPL', 'BRK.B', 'ETH/BTC', 'A-B_C.D']) {
      const path = symbolToPath(s);
      expect(path).not.toMatch(/[/\\=]/);
      expect(symbolFromPath(path)).toBe(s);
    }
  });

  it('rejects path components symbolToPath could not produce', () => {
    for (const p of ['..', 'BTC/USD', 'BTC%2fUSD', 'A%2FB%2FC', '%2FA', 'A%20B', '']) {
      expect(() => symbolFromPath(p), p).toThrow(SymbolError);
    }
  });

  it('parses symbol lists, trimming and de-duplicating, rejecting any bad member', () => {
    expect(parseSymbolList(' AAPL, MSFT ,AAPL,BTC/USD')).toEqual(['AAPL', 'MSFT', 'BTC/USD']);
    expect(() => parseSymbolList('AAPL,../x')).toThrow(/invalid symbol "\.\.\/x"/);
    expect(() => parseSymbolList(' , ')).toThrow(/names no symbol/);
  });
});
