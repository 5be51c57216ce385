import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import { type ParsedFrame, parseJsonFrame } from '../edge-agent/feed/alpaca-messages.ts';
import { type FileLine, LineReader, ReplayFileError, readLines, replayFormatOf } from '../edge-agent/feed/replay-files.ts';
import { type ReplayClock, ReplayPacer } from '../edge-agent/feed/replay-pacing.ts';
import {
  type BadLine,
  ReplayError,
  type ReplayPosition,
  type ReplayResult,
  ReplaySource,
  type ReplaySourceOptions,
} from '../edge-agent/feed/replay-source.ts';
import { silentLog } from '../edge-agent/log.ts';
import { Prng } from '../edge-agent/simulator/prng.ts';
import { REPO_ROOT, sharedCsvFiles } from './support/shared-data.ts';

const JSONL_FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'alpaca-stream-sample.jsonl');
const CSV_FILES = sharedCsvFiles();
const byName = (fragment: string): string => {
  const file = CSV_FILES.find((f) => basename(f).includes(fragment));
  if (file === undefined) throw new Error(`no shared CSV named like ${fragment}`);
  return file;
};

const scratch = mkdtempSync(join(tmpdir(), 'tv-replay-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let scratchCount = 0;
const scratchFile = (content: string | Buffer, name = `f${scratchCount++}.csv`): string => {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
};

async function allLines(path: string, from?: { byteOffset: number; line: number }, chunkBytes?: number): Promise<FileLine[]> {
  const out: FileLine[] = [];
  for await (const line of readLines(path, from, chunkBytes === undefined ? {} : { chunkBytes })) out.push(line);
  return out;
}

interface Run {
  readonly frames: ParsedFrame[];
  readonly positions: ReplayPosition[];
  readonly bad: BadLine[];
  readonly result: ReplayResult;
  readonly source: ReplaySource;
}

/** Starts a replay that records everything it reports; `control` sees each frame (to stop it, say). */
async function startReplay(
  options: Omit<ReplaySourceOptions, 'onFrame' | 'log'> & { log?: ReplaySourceOptions['log'] },
  control?: (source: ReplaySource, frames: number) => void,
): Promise<{ source: ReplaySource; done: Promise<Run> }> {
  const frames: ParsedFrame[] = [];
  const positions: ReplayPosition[] = [];
  const bad: BadLine[] = [];
  const source: ReplaySource = new ReplaySource({
    log: silentLog,
    ...options,
    onFrame: (frame) => {
      frames.push(frame);
      control?.(source, frames.length);
    },
    onPosition: (position) => positions.push(position),
    onBadLine: (line) => bad.push(line),
  });
  await source.start();
  const done = source.finished.then((result) => {
    expect(result.stats.linesRead).toBe(result.stats.framesDelivered + result.stats.badLines);
    expect(result.stats.framesDelivered).toBe(frames.length);
    expect(result.stats.badLines).toBe(bad.length);
    return { frames, positions, bad, result, source };
  });
  return { source, done };
}

/** Runs a replay to its end (or until `control` stops it). */
async function replay(
  options: Omit<ReplaySourceOptions, 'onFrame' | 'log'> & { log?: ReplaySourceOptions['log'] },
  control?: (source: ReplaySource, frames: number) => void,
): Promise<Run> {
  return (await startReplay(options, control)).done;
}

const rowsOf = (frames: readonly ParsedFrame[]): unknown[] => frames.flatMap((f) => f.events.map((e) => ('row' in e ? e.row : e)));

describe('LineReader', () => {
  it('splits on newlines with exact byte offsets: CRLF, a BOM, empty lines, a last line without newline', async () => {
    const bytes = Buffer.from('\ufeffts_ns,a\r\nsecond line\n\n€ and 😀\nlast', 'utf8');
    const path = scratchFile(bytes);
    const lines = await allLines(path);
    expect(lines.map((l) => l.text)).toEqual(['ts_ns,a', 'second line', '', '€ and 😀', 'last']);
    expect(lines.map((l) => l.line)).toEqual([1, 2, 3, 4, 5]);
    expect(lines[0]?.byteOffset).toBe(0);
    for (const [k, line] of lines.entries()) {
      const raw = bytes.subarray(line.byteOffset, line.nextOffset).toString('utf8');
      expect(raw.replace(/\r?\n$/, '').replace(/^\ufeff/, '')).toBe(line.text);
      expect(line.nextOffset).toBe(lines[k + 1]?.byteOffset ?? bytes.length);
      expect(line.overlong).toBe(false);
    }
  });

  it('reads the same lines whatever the chunk size, multi-byte characters split across chunks', async () => {
    const prng = new Prng(17);
    const pieces = ['a', 'b', ',', '1', 'é', '€', '😀', '\r', ' '];
    const lines = Array.from({ length: 200 }, () => Array.from({ length: prng.int(30) }, () => prng.pick(pieces)).join('').replace(/\r/g, ''));
    const path = scratchFile(`${lines.join('\n')}\n`);
    for (const chunkBytes of [1, 2, 3, 5, 7, 64, 4096]) {
      const read = await allLines(path, undefined, chunkBytes);
      expect(read.map((l) => l.text), `chunkBytes ${chunkBytes}`).toEqual(lines);
    }
  });

  it('resumes at every line start with the rest of the file, and refuses a position that is not one', async () => {
    const path = byName('trades_databento');
    const lines = await allLines(path);
    for (const [k, line] of lines.entries()) {
      const rest = await allLines(path, { byteOffset: line.nextOffset, line: line.line + 1 }, 512);
      expect(rest).toEqual(lines.slice(k + 1));
    }
    const size = readFileSync(path).length;
    await expect(LineReader.open(path, { byteOffset: 5, line: 2 })).rejects.toThrow(/byteOffset=5 is not the start of a line/);
    await expect(LineReader.open(path, { byteOffset: size + 1, line: 2 })).rejects.toThrow(/past the end/);
    await expect(LineReader.open(path, { byteOffset: 0, line: 3 })).rejects.toThrow(/must be line 1/);
    await expect(LineReader.open(join(scratch, 'missing.csv'))).rejects.toThrow(ReplayFileError);
  });

  it('reports an overlong line without holding it, and carries on after it', async () => {
    const long = 'x'.repeat(10_000);
    const path = scratchFile(`short\n${long}\nafter\n${long}`);
    const lines = await allLines(path, undefined, 256);
    const reader = await LineReader.open(path, undefined, { chunkBytes: 256, maxLineBytes: 1000 });
    const bounded: FileLine[] = [];
    for await (const line of reader.lines()) bounded.push(line);
    await reader.close();
    expect(bounded.map((l) => [l.text, l.overlong])).toEqual([['short', false], ['', true], ['after', false], ['', true]]);
    expect(bounded.map((l) => [l.byteOffset, l.nextOffset])).toEqual(lines.map((l) => [l.byteOffset, l.nextOffset]));
  });
});

describe('replay file formats', () => {
  it('tells CSV trades, CSV quotes and JSONL apart, and names a file that is neither', async () => {
    await expect(replayFormatOf(byName('trades_tardis'))).resolves.toEqual({ kind: 'csv', csv: 'trades' });
    await expect(replayFormatOf(byName('quotes_truefx'))).resolves.toEqual({ kind: 'csv', csv: 'quotes' });
    await expect(replayFormatOf(JSONL_FIXTURE)).resolves.toEqual({ kind: 'jsonl' });
    await expect(replayFormatOf(scratchFile('[{"T":"t"}]\n', 'frames.txt'))).resolves.toEqual({ kind: 'jsonl' });
    const odd = scratchFile('time,sym,px\n1,A,2\n', 'odd.csv');
    await expect(replayFormatOf(odd)).rejects.toThrow(new RegExp(`${odd}: unrecognised CSV header`));
    await expect(replayFormatOf(scratchFile('', 'empty.csv'))).rejects.toThrow(/empty file/);
  });
});

describe('ReplaySource over the shared CSV files', () => {
  it.each(CSV_FILES.map((f) => [basename(f), f]))('replays %s at max: every row once, equal to parseMarketCsv', async (_name, file) => {
    const expected = parseMarketCsv(readFileSync(file, 'utf8'), file);
    const run = await replay({ files: [file], speed: 'max' });
    expect(run.result.completed).toBe(true);
    expect(run.frames.every((f) => f.events.length === 1 && f.rejects.length === 0 && f.messageCount === 1)).toBe(true);
    expect(run.frames.every((f) => f.events[0]?.kind === (expected.kind === 'trades' ? 'trade' : 'quote'))).toBe(true);
    expect(rowsOf(run.frames)).toEqual(expected.records.map((r) => r.row));
    expect(run.bad.map((b) => b.line)).toEqual(expected.errors.map((e) => e.line));
    expect(run.result.stats).toMatchObject({ filesDone: 1, headerLines: 1, linesRead: expected.records.length + expected.errors.length });
    expect(run.positions.at(-1)).toEqual({ file, byteOffset: readFileSync(file).length, line: run.positions.length + 1 });
    expect(run.source.positions()).toEqual([run.positions.at(-1)]);
    expect(run.source.connected).toBe(false);
  });

  it('counts and reports bad CSV lines with their numbers and reasons, as parseMarketCsv does', async () => {
    const text = [
      'ts_ns,symbol,trade_id,price,size,exchange',
      '1719878281218218853,ESU4,1,5528.75,2,GLBX',
      '1719878281218218854,ESU4,2,abc,2,GLBX',
      '',
      '1719878281218218855,../x,3,5528.75,2,GLBX',
      '1719878281218218856,ESU4,4,5528.75',
      '1719878281218218857,ESU4,5,5528.5,-1,GLBX',
      '1719878281218218858,ESU4,6,5528.5,1,GLBX',
    ].join('\n');
    const file = scratchFile(text);
    const expected = parseMarketCsv(text, file);
    const run = await replay({ files: [file], speed: 'max' });
    expect(rowsOf(run.frames)).toEqual(expected.records.map((r) => r.row));
    expect(run.bad.map((b) => b.line)).toEqual([3, 4, 5, 6, 7]);
    expect(run.bad.map((b) => b.reason)).toEqual(expected.errors.map((e) => (e.line === 4 ? 'empty line' : e.reason)));
    expect(run.bad[0]?.reason).toMatch(/price "abc" is not a number/);
    expect(run.bad.every((b) => b.file === file && b.byteOffset > 0)).toBe(true);
    expect(run.result.stats).toMatchObject({ linesRead: 7, framesDelivered: 2, badLines: 5 });
  });

  it('stops at random points and resumes from the last position: every row exactly once (seeded)', async () => {
    const prng = new Prng(2024);
    for (const file of [byName('trades_tardis'), byName('quotes_databento'), byName('quotes_truefx')]) {
      const expected = parseMarketCsv(readFileSync(file, 'utf8'), file).records.map((r) => r.row);
      // Fifteen stops inside the callback at seeded row counts; some sessions also get a timer that stops them
      // wherever the replay happens to be at that moment.
      const stopPoints = [...new Set(Array.from({ length: 15 }, () => 1 + prng.int(expected.length - 1)))].sort((x, y) => x - y);
      const delivered: unknown[] = [];
      let startAt: ReplayPosition[] = [];
      let stops = 0;
      for (;;) {
        const already = delivered.length;
        const target = stopPoints.find((p) => p > already);
        const { source, done: running } = await startReplay(
          { files: [file], speed: 'max', startAt, yieldEveryLines: 1 + prng.int(400) },
          (s, frames) => {
            if (already + frames === target) void s.stop();
          },
        );
        const timer = prng.chance(0.3) ? setTimeout(() => void source.stop(), prng.int(5)) : undefined;
        const done = await running;
        clearTimeout(timer);
        delivered.push(...rowsOf(done.frames));
        if (done.result.completed) break;
        stops++;
        const last = done.positions.at(-1);
        if (last !== undefined) startAt = [last];
        expect(stops).toBeLessThan(500);
      }
      expect(delivered).toEqual(expected);
      expect(stops).toBeGreaterThanOrEqual(stopPoints.length);
    }
  });
});

describe('ReplaySource positions across files', () => {
  it('replays files in order and resumes in a later file from its position alone, skipping the files before it', async () => {
    const files = [byName('trades_databento'), byName('quotes_truefx'), byName('quotes_databento')];
    const expected = files.flatMap((f) => parseMarketCsv(readFileSync(f, 'utf8'), f).records.map((r) => r.row));
    const whole = await replay({ files, speed: 'max' });
    expect(rowsOf(whole.frames)).toEqual(expected);
    expect(whole.result.stats.filesDone).toBe(3);
    // A position names its file by path, so a file may be listed once only.
    expect(() => new ReplaySource({ files: [files[0] ?? '', files[0] ?? ''], speed: 'max', onFrame: () => {}, log: silentLog })).toThrow(
      /lists .* twice/,
    );

    const prng = new Prng(5);
    for (let trial = 0; trial < 20; trial++) {
      const cut = 1 + prng.int(expected.length - 1);
      const first = await replay({ files, speed: 'max' }, (s, n) => {
        if (n === cut) void s.stop();
      });
      expect(first.result.completed).toBe(false);
      const last = first.positions.at(-1);
      if (last === undefined) throw new Error('no position reported');
      const second = await replay({ files, speed: 'max', startAt: [last] });
      expect([...rowsOf(first.frames), ...rowsOf(second.frames)]).toHaveLength(expected.length);
      expect([...rowsOf(first.frames), ...rowsOf(second.frames)]).toEqual(expected);
      // positions() of the stopped source resumes the same way.
      const again = await replay({ files, speed: 'max', startAt: first.source.positions() });
      expect(rowsOf(again.frames)).toEqual(rowsOf(second.frames));
    }
  });

  it('resumes a file at its end with nothing left to deliver', async () => {
    const file = byName('trades_databento');
    const end: ReplayPosition = { file, byteOffset: readFileSync(file).length, line: 122 };
    const run = await replay({ files: [file], speed: 'max', startAt: [end] });
    expect(run.frames).toHaveLength(0);
    expect(run.result.completed).toBe(true);
  });

  it('refuses bad files and positions at start, naming them', async () => {
    const file = byName('trades_databento');
    const other = byName('quotes_truefx');
    const start = (options: Partial<ReplaySourceOptions>): Promise<void> =>
      new ReplaySource({ files: [file], speed: 'max', onFrame: () => {}, log: silentLog, ...options }).start();
    await expect(start({ startAt: [{ file: other, byteOffset: 0, line: 1 }] })).rejects.toThrow(
      new RegExp(`startAt names ${other}, which is not among the files`),
    );
    await expect(start({ startAt: [{ file, byteOffset: 7, line: 2 }] })).rejects.toThrow(/byteOffset=7 is not the start of a line/);
    await expect(start({ files: [join(scratch, 'nope.csv')] })).rejects.toThrow(/nope\.csv: cannot open for replay/);
    await expect(start({ files: [scratchFile('a,b\n1,2\n')] })).rejects.toThrow(/unrecognised CSV header/);
    expect(() => new ReplaySource({ files: [], speed: 'max', onFrame: () => {}, log: silentLog })).toThrow(ReplayError);
    expect(() => new ReplaySource({ files: [file], speed: 0, onFrame: () => {}, log: silentLog })).toThrow(/speed must be 'max' or a positive number/);
    const source = new ReplaySource({ files: [file], speed: 'max', onFrame: () => {}, log: silentLog });
    await source.start();
    await expect(source.start()).rejects.toThrow(/start\(\) called twice/);
    await source.stop();
  });

  it('stops when the consumer throws, without reporting the position of the frame that failed', async () => {
    const file = byName('trades_databento');
    const positions: ReplayPosition[] = [];
    let frames = 0;
    const source = new ReplaySource({
      files: [file],
      speed: 'max',
      log: silentLog,
      onFrame: () => {
        if (++frames === 10) throw new Error('disk full');
      },
      onPosition: (p) => positions.push(p),
    });
    await source.start();
    await expect(source.finished).rejects.toThrow('disk full');
    // The header and nine rows: the tenth row will be delivered again on resume.
    expect(positions.at(-1)?.line).toBe(11);
  });
});

describe('ReplaySource on JSONL frames', () => {
  const lines = readFileSync(JSONL_FIXTURE, 'utf8').split('\n').slice(0, -1);
  const isFrame = (line: string): boolean => {
    try {
      return Array.isArray(JSON.parse(line));
    } catch {
      return false;
    }
  };

  it('delivers every frame line through the live parser and counts the bad lines', async () => {
    const run = await replay({ files: [JSONL_FIXTURE], speed: 'max' });
    const good = lines.filter(isFrame);
    // The live parser's frames also carry their source text; a replayed frame's position goes into the log instead.
    expect(run.frames).toEqual(good.map((line) => {
      const { text: _text, ...frame } = parseJsonFrame(line);
      return frame;
    }));
    expect(run.bad.map((b) => b.line)).toEqual(lines.flatMap((line, k) => (isFrame(line) ? [] : [k + 1])));
    expect(run.bad.map((b) => b.reason)).toEqual([
      'not a JSON array (a frame is an array of messages)',
      expect.stringMatching(/^not JSON/),
      'empty line',
      expect.stringMatching(/^not JSON/),
    ]);
    const rejects = run.frames.flatMap((f) => f.rejects.map((r) => r.reason));
    expect(rejects).toEqual(['bad_symbol', 'crossed_quote']);
    expect(run.result.stats).toMatchObject({
      linesRead: lines.length,
      headerLines: 0,
      framesDelivered: good.length,
      badLines: 4,
      messagesRejected: 2,
      eventsDelivered: run.frames.reduce((sum, f) => sum + f.events.length, 0),
    });
    expect(run.frames.slice(0, 3).every((f) => f.controls.length === 1 && f.events.length === 0)).toBe(true);
    expect(new Set(run.frames.flatMap((f) => f.events.map((e) => e.kind)))).toEqual(new Set(['trade', 'quote', 'bar', 'trade_event', 'status']));
  });

  it('resumes at every line of the fixture, bad lines included, with the rest of it', async () => {
    const whole = await replay({ files: [JSONL_FIXTURE], speed: 'max' });
    for (const [k, position] of whole.positions.entries()) {
      const rest = await replay({ files: [JSONL_FIXTURE], speed: 'max', startAt: [position] });
      expect(rest.result.stats.linesRead).toBe(lines.length - k - 1);
      expect(rest.frames).toEqual(whole.frames.slice(whole.frames.length - rest.frames.length));
    }
  });
});

describe('replay pacing', () => {
  /** A clock that only moves when the replay sleeps, so pacing is checked exactly and instantly. */
  function fakeClock(): ReplayClock & { slept: number[] } {
    let now = 0;
    const slept: number[] = [];
    return {
      slept,
      nowMs: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    };
  }

  it('waits the gaps between event times divided by the speed, never for time running backwards', () => {
    let now = 0;
    const pacer = new ReplayPacer(10, () => now);
    const NS = 1_000_000n;
    expect(pacer.delayMs(1_000n * NS)).toBe(0);
    expect(pacer.delayMs(1_500n * NS)).toBe(50);
    now = 50;
    expect(pacer.delayMs(1_200n * NS)).toBe(0); // earlier than the last event: due at once
    expect(pacer.delayMs(1_205n * NS)).toBe(0); // half a millisecond: carried, not slept
    expect(pacer.delayMs(1_220n * NS)).toBeCloseTo(2, 9);
    now = 5_000; // stalled far behind: the schedule moves instead of bursting
    expect(pacer.delayMs(1_230n * NS)).toBe(0);
    expect(pacer.delayMs(1_330n * NS)).toBe(0);
    expect(new ReplayPacer('max', () => now).delayMs(5n)).toBe(0);
  });

  it.each([1, 10, 1000])('sleeps the file\'s time span divided by speed %s in total (fake clock)', async (speed) => {
    const file = byName('quotes_databento');
    const rows = parseMarketCsv(readFileSync(file, 'utf8'), file).records.map((r) => r.row.ts);
    let positiveGapsNs = 0n;
    for (let k = 1; k < rows.length; k++) {
      const gap = (rows[k] ?? 0n) - (rows[k - 1] ?? 0n);
      if (gap > 0n) positiveGapsNs += gap;
    }
    const clock = fakeClock();
    const run = await replay({ files: [file], speed, clock });
    expect(run.frames).toHaveLength(rows.length);
    const total = clock.slept.reduce((a, b) => a + b, 0);
    const expectedMs = Number(positiveGapsNs) / 1e6 / speed;
    expect(total).toBeLessThanOrEqual(expectedMs + 1e-6);
    expect(total).toBeGreaterThan(expectedMs - 1);
    expect(clock.slept.every((ms) => ms >= 1)).toBe(true);
  });

  it('roughly honours speed 10 in real time: a 2-second span takes between 0.1 s and 2 s', async () => {
    const file = byName('quotes_tardis');
    const text = readFileSync(file, 'utf8').split('\n');
    const first = BigInt(text[1]?.split(',')[0] ?? '0');
    const span = text.slice(1).filter((line) => line !== '' && BigInt(line.split(',')[0] ?? '0') - first <= 2_500_000_000n);
    const last = BigInt(span.at(-1)?.split(',')[0] ?? '0');
    expect(Number(last - first) / 1e9).toBeGreaterThanOrEqual(2);
    const path = scratchFile([text[0], ...span].join('\n'));
    const started = performance.now();
    const run = await replay({ files: [path], speed: 10 });
    const seconds = (performance.now() - started) / 1000;
    expect(run.frames).toHaveLength(span.length);
    expect(seconds).toBeGreaterThan(0.1);
    expect(seconds).toBeLessThan(2);
  });

  it('stops promptly in the middle of a long wait', async () => {
    const path = scratchFile('ts_ns,symbol,trade_id,price,size,exchange\n1000000000,A,1,1,1,X\n3601000000000,A,2,1,1,X\n');
    const { source, done } = await startReplay({ files: [path], speed: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(source.connected).toBe(true);
    const started = performance.now();
    await source.stop();
    expect(performance.now() - started).toBeLessThan(1000);
    const run = await done;
    expect(run.result.completed).toBe(false);
    expect(run.frames).toHaveLength(1);
    expect(run.positions.at(-1)?.line).toBe(3);
  });
});
