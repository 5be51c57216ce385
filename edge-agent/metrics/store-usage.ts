/**
 * What the object store holds under `warm/` and `cold/`: objects and bytes, data files (Parquet) apart from the
 * manifests beside them. A listing costs one request per 1000 objects on S3, so the agent's metrics rescan at most
 * once per interval, in the background, and always answer with the last complete scan.
 */
import { COLD_PREFIX, WARM_PREFIX } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';

export interface PrefixUsage {
  readonly objects: number;
  readonly bytes: number;
  /** `.parquet` objects only. */
  readonly dataObjects: number;
  readonly dataBytes: number;
}

export interface StoreUsage {
  readonly store: string;
  readonly warm: PrefixUsage;
  readonly cold: PrefixUsage;
  /** When the scan finished, epoch milliseconds. */
  readonly scannedAtMs: number;
  readonly durationMs: number;
}

export const STORE_TIERS = { warm: WARM_PREFIX, cold: COLD_PREFIX } as const;
export type StoreTier = keyof typeof STORE_TIERS;

/** Lists both prefixes once; onObject is called per object (progress). */
export async function scanStoreUsage(store: ObjectStore, onObject?: (tier: StoreTier) => void, nowMs: () => number = Date.now): Promise<StoreUsage> {
  const started = nowMs();
  const usage = {} as Record<StoreTier, PrefixUsage>;
  for (const tier of Object.keys(STORE_TIERS) as StoreTier[]) {
    const u = { objects: 0, bytes: 0, dataObjects: 0, dataBytes: 0 };
    for await (const info of store.list(STORE_TIERS[tier])) {
      u.objects++;
      u.bytes += info.sizeBytes;
      if (info.key.endsWith('.parquet')) {
        u.dataObjects++;
        u.dataBytes += info.sizeBytes;
      }
      onObject?.(tier);
    }
    usage[tier] = u;
  }
  const finished = nowMs();
  return { store: store.description, warm: usage.warm, cold: usage.cold, scannedAtMs: finished, durationMs: finished - started };
}

export interface StoreUsageMonitorOptions {
  readonly store: ObjectStore;
  /** Least time between the starts of two scans. @default 600_000 (10 minutes) */
  readonly intervalMs?: number;
  /** Told of a failed scan (the last good one stays). */
  readonly onError?: (error: Error) => void;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** Rescans in the background when the last scan is older than the interval; never makes a caller wait. */
export class StoreUsageMonitor {
  private last: StoreUsage | undefined;
  private lastStartMs = -Infinity;
  private running: Promise<void> | undefined;
  private failures = 0;
  private readonly intervalMs: number;
  private readonly nowMs: () => number;

  constructor(private readonly options: StoreUsageMonitorOptions) {
    this.intervalMs = options.intervalMs ?? 600_000;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** The last complete scan (undefined until the first one finishes); starts a new scan when one is due. */
  current(): { usage: StoreUsage | undefined; failures: number } {
    if (this.running === undefined && this.nowMs() - this.lastStartMs >= this.intervalMs) {
      this.lastStartMs = this.nowMs();
      this.running = scanStoreUsage(this.options.store, undefined, this.nowMs)
        .then((usage) => { this.last = usage; })
        .catch((error: unknown) => {
          this.failures++;
          this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
        })
        .finally(() => { this.running = undefined; });
    }
    return { usage: this.last, failures: this.failures };
  }

  /** Resolves when the scan in progress (if any) has finished. */
  async settled(): Promise<void> {
    await this.running;
  }
}
