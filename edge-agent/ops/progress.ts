/**
 * Progress bars for long operator commands: plain text on stderr, redrawn in place, and only on a terminal (a log
 * file or a pipe gets nothing, so scripted runs stay clean). stdout is left to the command's output.
 */

export interface Progress {
  /** Counts n more items done. */
  tick(n?: number): void;
  /** Ends the bar (its last state stays on screen). */
  done(): void;
}

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

const WIDTH = 30;
const REDRAW_MS = 100;

/** A bar when the total is known, a running count when it is not. */
export function progress(label: string, total: number | undefined, stream: ProgressStream = process.stderr): Progress {
  if (stream.isTTY !== true) return { tick: () => undefined, done: () => undefined };
  let count = 0;
  let lastDrawMs = 0;
  let finished = false;
  const draw = (): void => {
    lastDrawMs = Date.now();
    if (total === undefined || total <= 0) {
      stream.write(`\r${label} ${count}`);
      return;
    }
    const share = Math.min(1, count / total);
    const filled = Math.round(share * WIDTH);
    stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${String(Math.floor(share * 100)).padStart(3)}% ${count}/${total}`);
  };
  draw();
  return {
    tick(n = 1) {
      count += n;
      if (Date.now() - lastDrawMs >= REDRAW_MS) draw();
    },
    done() {
      if (finished) return;
      finished = true;
      draw();
      stream.write('\n');
    },
  };
}
