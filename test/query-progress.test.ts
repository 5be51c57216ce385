/** The progress line: drawn only on a terminal, only after its delay, erased at the end. */
import { describe, expect, it } from 'vitest';
import { terminalProgress } from '../query/progress.ts';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { written: string[] } {
  const written: string[] = [];
  return { isTTY, columns: 40, written, write: (chunk: string) => { written.push(chunk); return true; } } as unknown as NodeJS.WriteStream & { written: string[] };
}

describe('terminalProgress', () => {
  it('draws one line in place on a terminal and erases it when done', () => {
    const stream = fakeStream(true);
    const progress = terminalProgress(stream, { delayMs: 0, intervalMs: 0 });
    progress.update('athena running 1.0 s, 12.0 MB scanned, and a long tail that does not fit the terminal');
    progress.update('athena running 2.0 s');
    progress.done();
    expect(stream.written).toHaveLength(3);
    const ERASE = '\r\u001b[2K';
    expect(stream.written[0]?.startsWith(ERASE)).toBe(true);
    expect(stream.written[0]?.slice(ERASE.length)).toMatch(/^\| \d+\.\d s {2}athena running 1\.0 s/);
    expect((stream.written[0] ?? '').length).toBeLessThanOrEqual('\r\x1b[2K'.length + 39);
    expect(stream.written[1]?.slice(ERASE.length)).toMatch(/^\/ /);
    expect(stream.written[2]).toBe('\r\x1b[2K');
  });

  it('writes nothing when stderr is not a terminal, or before the delay', () => {
    const pipe = fakeStream(false);
    const p1 = terminalProgress(pipe, { delayMs: 0, intervalMs: 0 });
    p1.update('x');
    p1.done();
    expect(pipe.written).toEqual([]);
    const tty = fakeStream(true);
    const p2 = terminalProgress(tty, { delayMs: 60_000 });
    p2.update('x');
    p2.done();
    expect(tty.written).toEqual([]);
  });
});
