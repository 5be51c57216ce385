/**
 * Liveness and readiness, as GET /healthz and GET /readyz answer them.
 *
 * - Liveness: the process is up and its event loop answers. A request that is answered at all proves most of it; a
 *   loop that stalled for longer than maxEventLoopDelaySeconds in the last 10 to 20 s fails it, so a supervisor
 *   restarts an agent that is wedged in fits and starts.
 * - Readiness: the agent is doing its job: the feed is connected, the write-ahead log is taking writes, the disk has
 *   room, and the upload backlog is under its limits. Each check says its value, its limit, and why it failed.
 */
import type { OperatorObservation } from './agent-observer.ts';

export interface HealthLimits {
  /** Readiness fails when more warm files than this wait for upload. @default 1000 */
  readonly maxUploadBacklogFiles: number;
  /** Readiness fails when the oldest file waiting for upload is older than this. @default 3600 (one hour) */
  readonly maxUploadBacklogAgeSeconds: number;
  /** Liveness fails when the event loop stalled longer than this. @default 10 */
  readonly maxEventLoopDelaySeconds: number;
}

export const DEFAULT_HEALTH_LIMITS: HealthLimits = {
  maxUploadBacklogFiles: 1000,
  maxUploadBacklogAgeSeconds: 3600,
  maxEventLoopDelaySeconds: 10,
};

export const READINESS_CHECKS = ['feed_connected', 'log_writable', 'disk_free', 'upload_backlog_files', 'upload_backlog_age'] as const;
export type ReadinessCheckName = (typeof READINESS_CHECKS)[number];

export interface HealthCheck<Name extends string = string> {
  readonly name: Name;
  readonly ok: boolean;
  readonly value: number | boolean | string | null;
  /** The bound the value is held to, when there is one. */
  readonly limit?: number | boolean;
  /** Why it failed (absent when ok). */
  readonly reason?: string;
}

export interface HealthReport<Name extends string = string> {
  readonly status: 'ok' | 'fail';
  readonly checks: readonly HealthCheck<Name>[];
}

function check<Name extends string>(name: Name, ok: boolean, value: HealthCheck['value'], limit: HealthCheck['limit'], reason: () => string): HealthCheck<Name> {
  return { name, ok, value, ...(limit === undefined ? {} : { limit }), ...(ok ? {} : { reason: reason() }) };
}

function report<Name extends string>(checks: HealthCheck<Name>[]): HealthReport<Name> {
  return { status: checks.every((c) => c.ok) ? 'ok' : 'fail', checks };
}

/** Readiness from one observation. */
export function readiness(o: OperatorObservation, limits: HealthLimits = DEFAULT_HEALTH_LIMITS): HealthReport<ReadinessCheckName> {
  const { feed, wal, disk, upload } = o.agent;
  const ageSeconds = upload.oldestAgeMs / 1000;
  return report<ReadinessCheckName>([
    check('feed_connected', feed.connected, feed.connected, true, () => `feed ${feed.kind} is not connected`),
    check('log_writable', wal.stalledBy === undefined, wal.stalledBy?.message ?? null, undefined,
      () => `write-ahead log writes are failing (${wal.pendingBytes} bytes waiting): ${wal.stalledBy?.message ?? ''}`),
    disk === undefined
      ? check('disk_free', false, null, o.agent.diskWarnFreeRatio, () => 'free disk space not measured yet')
      : check('disk_free', disk.freeRatio >= o.agent.diskWarnFreeRatio, round(disk.freeRatio, 4), o.agent.diskWarnFreeRatio,
        () => `free disk ${(disk.freeRatio * 100).toFixed(1)}% (${disk.freeBytes} bytes) is below the ${(o.agent.diskWarnFreeRatio * 100).toFixed(1)}% threshold`),
    check('upload_backlog_files', upload.files <= limits.maxUploadBacklogFiles, upload.files, limits.maxUploadBacklogFiles,
      () => `${upload.files} warm files wait for upload, over the limit of ${limits.maxUploadBacklogFiles}`),
    check('upload_backlog_age', ageSeconds <= limits.maxUploadBacklogAgeSeconds, round(ageSeconds, 3), limits.maxUploadBacklogAgeSeconds,
      () => `the oldest warm file waiting for upload was sealed ${Math.round(ageSeconds)} s ago, over the limit of ${limits.maxUploadBacklogAgeSeconds} s`),
  ]);
}

/** Liveness: answered means up; a long event-loop stall in the recent past fails it. */
export function liveness(eventLoopDelayMaxSeconds: number, uptimeSeconds: number, limits: HealthLimits = DEFAULT_HEALTH_LIMITS): HealthReport<'event_loop' | 'uptime'> {
  return report<'event_loop' | 'uptime'>([
    check('event_loop', eventLoopDelayMaxSeconds <= limits.maxEventLoopDelaySeconds, round(eventLoopDelayMaxSeconds, 3), limits.maxEventLoopDelaySeconds,
      () => `the event loop stalled for ${eventLoopDelayMaxSeconds.toFixed(1)} s, over the limit of ${limits.maxEventLoopDelaySeconds} s`),
    check('uptime', true, round(uptimeSeconds, 1), undefined, () => ''),
  ]);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
