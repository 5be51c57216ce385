/**
 * A one-line progress indicator on stderr for long queries: only when stderr is a terminal (never in pipes, logs or
 * tests), only once a query has run for a moment, and erased when it ends so the result stands alone.
 */

export interface Progress {
  update(text: string): void;
  /** Erases the line. */
  done(): void;
}

const FRAMES = ['|', '/', '-', '\\'];
const NOOP: Progress = { update: () => undefined, done: () => undefined };

export interface ProgressOptions {
  /** Nothing is shown before this. @default 500 */
  readonly delayMs?: number;
  /** Shortest time between redraws. @default 100 */
  readonly intervalMs?: number;
}

/** A progress line on `stream` if it is a terminal, else one that does nothing. */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, options: ProgressOptions = {}): Progress {
  if (stream.isTTY !== true) return NOOP;
  const started = Date.now();
  const delayMs = options.delayMs ?? 500;
  const intervalMs = options.intervalMs ?? 100;
  let lastDraw = 0;
  let frame = 0;
  let shown = false;
  return {
    update(text: string): void {
      const now = Date.now();
      if (now - started < delayMs || now - lastDraw < intervalMs) return;
      lastDraw = now;
      const elapsed = ((now - started) / 1000).toFixed(1);
      const width = Math.max(20, (stream.columns ?? 80) - 1);
      const line = `${FRAMES[frame++ % FRAMES.length] ?? ''} ${elapsed} s  ${text}`.slice(0, width);
      stream.write(`\r\x1b[2K${line}`);
      shown = true;
    },
    done(): void {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
