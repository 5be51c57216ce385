/**
 * The gap log: a JSON-lines file `<dataDir>/gaps.jsonl` recording every stretch of market data the stream client
 * missed (the connection dropped after it had been subscribed), so `tickvault backfill` can fetch it from the
 * historical API later. Append-only: a gap is one `gap` line, filling it appends a `filled` line naming its id; the
 * current state is the fold of all lines. Every append is fsynced (and the directory, when the file is new), so a
 * recorded gap survives a crash. A torn last line from a crash mid-write is skipped on read and fenced off with a
 * newline before the next append.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { EpochNs } from '../../core/column-types.ts';
import { symbolProblem } from '../../core/symbols.ts';
import { formatRfc3339Nanos } from '../../core/rfc3339.ts';
import type { LogFn } from '../log.ts';
import { STREAM_CHANNELS, type StreamChannel } from './alpaca-messages.ts';

export const GAP_LOG_FILE = 'gaps.jsonl';

export class GapLogError extends Error {
  override readonly name = 'GapLogError';
}

/** What the stream client knows about an outage. */
export interface GapInput {
  /** The last event time (or last message wall time) before the drop. */
  readonly fromNs: EpochNs;
  /** The first event time after the resubscription. */
  readonly toNs: EpochNs;
  /** The symbols subscribed (for a '*' subscription: those seen on the stream before the drop). */
  readonly symbols: readonly string[];
  readonly channels: readonly StreamChannel[];
  /** Why the connection dropped, e.g. "no pong within 5000 ms". */
  readonly reason: string;
}

export interface Gap extends GapInput {
  readonly id: string;
  /** When the gap was recorded, ISO 8601. */
  readonly recordedAt: string;
  readonly filled: boolean;
  /** When the gap was marked filled, ISO 8601. */
  readonly filledAt?: string;
}

/** Where the stream client records gaps; GapLog is the durable one. */
export interface GapRecorder {
  record(gap: GapInput): Promise<Gap>;
}

const nsString = z.string().regex(/^-?\d{1,20}$/);
const GapLine = z.object({
  type: z.literal('gap'),
  id: z.string().min(1).max(100),
  fromNs: nsString,
  toNs: nsString,
  symbols: z.array(z.string().refine((s) => symbolProblem(s) === undefined, 'invalid symbol')),
  channels: z.array(z.enum(STREAM_CHANNELS)),
  reason: z.string(),
  recordedAt: z.string(),
});
const FilledLine = z.object({ type: z.literal('filled'), id: z.string().min(1), filledAt: z.string() });
const Line = z.discriminatedUnion('type', [GapLine, FilledLine]);

export class GapLog implements GapRecorder {
  private writing: Promise<unknown> = Promise.resolve();

  /** @param path the gap log file; see GapLog.inDataDir for the agent's. */
  constructor(
    readonly path: string,
    private readonly log?: LogFn,
  ) {}

  /** The agent's gap log, `<dataDir>/gaps.jsonl`. */
  static inDataDir(dataDir: string, log?: LogFn): GapLog {
    return new GapLog(join(dataDir, GAP_LOG_FILE), log);
  }

  /** Appends a gap durably and returns it with its id. */
  async record(input: GapInput): Promise<Gap> {
    if (input.toNs < input.fromNs) {
      throw new GapLogError(`gap log ${this.path}: gap ends (${input.toNs} ns) before it starts (${input.fromNs} ns)`);
    }
    const gap: Gap = {
      id: `gap-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`,
      fromNs: input.fromNs,
      toNs: input.toNs,
      symbols: [...input.symbols],
      channels: [...input.channels],
      reason: input.reason,
      recordedAt: new Date().toISOString(),
      filled: false,
    };
    await this.append({
      type: 'gap',
      id: gap.id,
      fromNs: gap.fromNs.toString(),
      toNs: gap.toNs.toString(),
      // For people reading the file; the exact values are fromNs/toNs.
      from: formatRfc3339Nanos(gap.fromNs),
      to: formatRfc3339Nanos(gap.toNs),
      symbols: gap.symbols,
      channels: gap.channels,
      reason: gap.reason,
      recordedAt: gap.recordedAt,
    });
    return gap;
  }

  /** Every recorded gap in recording order, with its filled state. A missing file holds no gaps. */
  async list(): Promise<Gap[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new GapLogError(`gap log ${this.path}: cannot read (${(e as Error).message})`, { cause: e });
    }
    const gaps = new Map<string, Gap>();
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      let parsed: z.infer<typeof Line>;
      try {
        parsed = Line.parse(JSON.parse(line));
      } catch {
        // The last line may be torn by a crash mid-append; anything else is damage worth a warning.
        if (index !== lines.length - 1) this.log?.('warn', 'gap log line unreadable; skipped', { file: this.path, line: index + 1 });
        return;
      }
      if (parsed.type === 'gap') {
        gaps.set(parsed.id, {
          id: parsed.id,
          fromNs: BigInt(parsed.fromNs),
          toNs: BigInt(parsed.toNs),
          symbols: parsed.symbols,
          channels: parsed.channels,
          reason: parsed.reason,
          recordedAt: parsed.recordedAt,
          filled: false,
        });
      } else {
        const gap = gaps.get(parsed.id);
        if (gap !== undefined) gaps.set(parsed.id, { ...gap, filled: true, filledAt: parsed.filledAt });
      }
    });
    return [...gaps.values()];
  }

  /** Gaps not yet filled, oldest first. */
  async unfilled(): Promise<Gap[]> {
    return (await this.list()).filter((g) => !g.filled);
  }

  /** Records durably that a gap was filled. Throws a GapLogError for an id the log does not hold. */
  async markFilled(id: string): Promise<void> {
    const gap = (await this.list()).find((g) => g.id === id);
    if (gap === undefined) throw new GapLogError(`gap log ${this.path}: no gap with id ${JSON.stringify(id)}`);
    if (gap.filled) return;
    await this.append({ type: 'filled', id, filledAt: new Date().toISOString() });
  }

  private append(line: Record<string, unknown>): Promise<void> {
    const done = this.writing.then(() => this.appendNow(`${JSON.stringify(line)}\n`));
    this.writing = done.catch(() => {});
    return done;
  }

  private async appendNow(text: string): Promise<void> {
    const dir = dirname(this.path);
    try {
      await mkdir(dir, { recursive: true });
      const handle = await open(this.path, 'a+');
      let created = false;
      try {
        const { size } = await handle.stat();
        created = size === 0;
        let prefix = '';
        if (size > 0) {
          const last = Buffer.alloc(1);
          await handle.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) prefix = '\n'; // fence off a torn line
        }
        await handle.appendFile(prefix + text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (created) {
        // The new directory entry must be durable too, or a crash can lose the whole file.
        const dirHandle = await open(dir, 'r');
        try {
          await dirHandle.sync();
        } finally {
          await dirHandle.close();
        }
      }
    } catch (e) {
      throw new GapLogError(`gap log ${this.path}: append failed (${(e as Error).message})`, { cause: e });
    }
  }
}
