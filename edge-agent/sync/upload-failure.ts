/**
 * What went wrong with an attempt to reach the store, and how long to wait before the next one.
 *
 * Errors arrive wrapped (ObjectStoreError around an SDK error around a socket error), so classification walks the
 * `cause` chain and looks at names, errno codes and HTTP statuses.
 */

export const FAILURE_KINDS = [
  /** 503 SlowDown, 429, throttling: the store asks us to back off harder. */
  'slow-down',
  /** Other 5xx answers. */
  'server-error',
  /** No answer in time (ours or the SDK's timeout). */
  'timeout',
  /** Refused, reset, unreachable: the store (or the way to it) is down. */
  'network',
  /** 4xx answers other than throttling: credentials, bucket, policy. Retried too (an operator can fix them). */
  'client-error',
  /** The store's copy, read back after the upload, is not the file (size or checksum metadata differs). */
  'verify-mismatch',
  /** Reading the local file, or writing the ledger, failed for a reason other than the file being gone or corrupt. */
  'local-io',
  'other',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

/** Kinds that say something about the store rather than about one file. */
export const STORE_WIDE_KINDS: ReadonlySet<FailureKind> = new Set<FailureKind>([
  'slow-down', 'server-error', 'timeout', 'network', 'client-error',
]);

export class UploadTimeoutError extends Error {
  override readonly name = 'UploadTimeoutError';
}

export class VerifyMismatchError extends Error {
  override readonly name = 'VerifyMismatchError';
}

export class LocalFileError extends Error {
  override readonly name = 'LocalFileError';
}

const TIMEOUT_NAMES = new Set(['UploadTimeoutError', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const THROTTLE_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);
const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EHOSTDOWN', 'ERR_STREAM_PREMATURE_CLOSE',
]);

interface ErrorFacts {
  readonly name: string;
  readonly code: string | undefined;
  readonly status: number | undefined;
  readonly message: string;
}

function factsOf(err: unknown): ErrorFacts[] {
  const facts: ErrorFacts[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (!(current instanceof Error)) {
      facts.push({ name: 'Error', code: undefined, status: undefined, message: String(current) });
      break;
    }
    const code = (current as { code?: unknown }).code;
    const status = (current as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
    facts.push({
      name: current.name,
      code: typeof code === 'string' ? code : undefined,
      status: typeof status === 'number' ? status : undefined,
      message: current.message,
    });
    current = (current as { cause?: unknown }).cause;
  }
  return facts;
}

/** The kind of failure an error from the store (or from the uploader's own checks) stands for. */
export function classifyFailure(err: unknown): FailureKind {
  const facts = factsOf(err);
  const any = (test: (f: ErrorFacts) => boolean): boolean => facts.some(test);
  if (any((f) => f.name === 'VerifyMismatchError')) return 'verify-mismatch';
  if (any((f) => f.name === 'LocalFileError')) return 'local-io';
  if (any((f) => THROTTLE_NAMES.has(f.name) || f.status === 503 || f.status === 429)) return 'slow-down';
  if (any((f) => TIMEOUT_NAMES.has(f.name) || f.code === 'ETIMEDOUT' || f.code === 'ESOCKETTIMEDOUT')) return 'timeout';
  if (any((f) => f.status !== undefined && f.status >= 500)) return 'server-error';
  if (any((f) => (f.code !== undefined && NETWORK_CODES.has(f.code)) || /socket hang up|ECONNRESET|ECONNREFUSED/i.test(f.message))) {
    return 'network';
  }
  if (any((f) => f.status !== undefined && f.status >= 400)) return 'client-error';
  return 'other';
}

export interface BackoffPolicy {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/**
 * The wait before the next attempt, after `failures` (1, 2, …) failures in a row. Full jitter: uniform in
 * [0, min(max, initial·2^(failures-1))), so many retrying clients spread out. A slow-down gets four times the
 * ceiling and "equal jitter" (at least half of it), so an asked-for pause is never skipped by a lucky draw.
 */
export function backoffMs(failures: number, kind: FailureKind, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 40);
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** exponent);
  if (kind === 'slow-down') {
    const slow = Math.min(policy.maxBackoffMs, ceiling * 4);
    return Math.round(slow / 2 + random() * (slow / 2));
  }
  return Math.round(random() * ceiling);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
