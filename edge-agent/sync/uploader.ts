/**
 * Copies sealed warm files to the object store under `warm/`, one at a time, retrying failures with exponential
 * backoff and jitter. Nothing is dropped: a file stays queued until the store has it.
 */
import { WARM_PREFIX } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import type { SealedFile } from '../warm/warm-writer.ts';

export interface UploaderOptions {
  readonly store: ObjectStore;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class Uploader {
  private readonly pending: SealedFile[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;
  readonly stats = { filesUploaded: 0, bytesUploaded: 0, failures: 0 };

  constructor(private readonly options: UploaderOptions) {}

  get backlog(): { files: number; bytes: number } {
    return { files: this.pending.length, bytes: this.pending.reduce((sum, f) => sum + f.bytes, 0) };
  }

  enqueue(file: SealedFile): void {
    this.pending.push(file);
    this.running ??= this.run().finally(() => { this.running = undefined; });
  }

  /** Resolves when every queued file is in the store. */
  async drain(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops retrying; files still queued are reported. */
  abandon(): SealedFile[] {
    this.stopped = true;
    return [...this.pending];
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (this.pending.length > 0 && !this.stopped) {
      const file = this.pending[0] as SealedFile;
      try {
        await this.options.store.putFile(`${WARM_PREFIX}${file.relPath}`, file.absPath, {
          metadata: {
            rows: String(file.rows),
            'min-ts-ns': file.minTsNs.toString(),
            'max-ts-ns': file.maxTsNs.toString(),
            'schema-version': String(file.schemaVersion),
            sha256: file.sha256,
          },
          contentType: 'application/vnd.apache.parquet',
        });
        this.pending.shift();
        this.stats.filesUploaded++;
        this.stats.bytesUploaded += file.bytes;
        attempt = 0;
      } catch (error) {
        this.stats.failures++;
        const ceiling = Math.min(this.options.maxBackoffMs ?? 30_000, (this.options.initialBackoffMs ?? 200) * 2 ** attempt);
        const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
        attempt++;
        this.options.log('warn', 'upload failed; will retry', {
          file: file.relPath, store: this.options.store.description, attempt, delayMs, error: (error as Error).message,
        });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }
}
