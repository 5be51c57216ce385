/**
 * The app's configuration: every CDK context key tickvault reads, its default, its validation, and how it maps
 * onto the stack's props. This is the only place context is read. Values come from `cdk -c key=value` (always
 * strings), from the "context" block of cdk.json or ~/.cdk.json (any JSON type), or from the defaults here, which
 * equal the constructs' own defaults (test/cdk-config.test.ts checks both that and docs/deploy.md's table).
 */
import { Duration, Size, TimeZone } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { COLD_STORAGE_CLASSES, type ColdStorageClass } from './constructs/data-bucket.ts';
import { checkAgentIds, checkCaCertificate } from './constructs/edge-access.ts';
import { InfraConfigError } from './errors.ts';
import type { LinuxArchitecture } from './native-packages.ts';
import type { TickvaultStackProps } from './tickvault-stack.ts';

/** One context key: how to read it and what it defaults to. */
interface Setting<T> {
  /** What the key sets, for docs/deploy.md. */
  readonly doc: string;
  readonly default: T;
  /** Parses a raw context value; throws a plain Error saying what was expected (the caller names the key). */
  readonly parse: (raw: unknown) => T;
}

const setting = <T>(doc: string, defaultValue: T, parse: (raw: unknown) => T): Setting<T> => ({ doc, default: defaultValue, parse });

/** An integer from min to max, given as a number or a decimal string. */
function integer(min: number, max: number, unit: string) {
  return (raw: unknown): number => {
    const value = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`expected an integer from ${min} to ${max} ${unit}`);
    }
    return value;
  };
}

function text(pattern: RegExp, expected: string) {
  return (raw: unknown): string => {
    if (typeof raw !== 'string' || !pattern.test(raw)) throw new Error(`expected ${expected}`);
    return raw;
  };
}

function oneOf<const V extends string>(values: readonly V[]) {
  return (raw: unknown): V => {
    if (typeof raw !== 'string' || !(values as readonly string[]).includes(raw)) throw new Error(`expected one of ${values.join(', ')}`);
    return raw as V;
  };
}

/** A list of strings: a JSON array, or (from the command line) a comma-separated or JSON-array string. */
function stringList(raw: unknown): string[] {
  let value = raw;
  if (typeof raw === 'string') {
    const trimmed = raw.trim();
    value = trimmed.startsWith('[') ? parseJson(trimmed) : trimmed.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error('expected a list of strings (a JSON array, or comma-separated on the command line)');
  }
  return value;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    throw new Error('expected a JSON array');
  }
}

function optional<T>(parse: (raw: unknown) => T) {
  return (raw: unknown): T | undefined => (raw === '' ? undefined : parse(raw));
}

/** An EventBridge Scheduler expression: cron with six fields, or rate. */
function scheduleExpression(raw: unknown): string {
  if (typeof raw === 'string') {
    const cron = /^cron\((.+)\)$/.exec(raw.trim());
    if (cron !== null && (cron[1] ?? '').trim().split(/\s+/).length === 6) return raw.trim();
    if (/^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$/.test(raw.trim())) return raw.trim();
  }
  throw new Error("expected an EventBridge Scheduler expression: 'cron(min hour day-of-month month day-of-week year)' or 'rate(N unit)'");
}

function timeZone(raw: unknown): string {
  if (typeof raw === 'string' && /^[A-Za-z_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(raw)) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: raw });
      return raw;
    } catch {
      // fall through to the error below
    }
  }
  throw new Error("expected an IANA time zone name, e.g. 'Etc/UTC' or 'America/New_York'");
}

function agentIdList(raw: unknown): string[] {
  const ids = stringList(raw);
  checkAgentIds(ids, 'agent ids');
  return ids;
}

function caCertificate(raw: unknown): string {
  if (typeof raw !== 'string') throw new Error('expected the PEM text of one CA certificate');
  const pem = raw.replaceAll('\\n', '\n');
  checkCaCertificate(pem, 'CA certificate');
  return pem;
}

const LOG_RETENTION_DAYS = Object.values(logs.RetentionDays).filter((v): v is logs.RetentionDays => typeof v === 'number' && v > 0);

/** One of the retention periods CloudWatch Logs offers, in days. */
function logRetention(raw: unknown): logs.RetentionDays {
  const days = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
  const allowed: readonly number[] = LOG_RETENTION_DAYS;
  if (typeof days !== 'number' || !allowed.includes(days)) {
    throw new Error(`expected one of CloudWatch Logs' retention periods in days: ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  return days as logs.RetentionDays;
}

const ISO_DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/**
 * Every context key, in the order docs/deploy.md lists them. Defaults equal the construct defaults they feed.
 */
export const SETTINGS = {
  stackName: setting('CloudFormation stack name', 'Tickvault', text(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'a stack name: a letter, then letters, digits and -, at most 128')),
  agentIds: setting<readonly string[]>('edge agents that may upload: one IAM role each, one heartbeat alarm each', ['edge-1'], agentIdList),
  rolesAnywhereCaCertificatePem: setting<string | undefined>(
    'PEM of the CA that issues the agents\' certificates; when set, an IAM Roles Anywhere trust anchor and profile are created',
    undefined, optional(caCertificate)),
  warmExpiryDaysAfterCompaction: setting('days a compacted warm object is kept (retention Lambda: after compaction; lifecycle backstop: after upload, once tagged)', 7, integer(1, 3650, 'days')),
  coldTransitionDays: setting('days after which cold objects move to coldStorageClass', 90, integer(1, 36500, 'days')),
  coldStorageClass: setting<ColdStorageClass>('storage class cold objects move to (only classes Athena reads without a restore)', 'GLACIER_IR',
    oneOf(Object.keys(COLD_STORAGE_CLASSES) as ColdStorageClass[])),
  noncurrentVersionExpirationDays: setting('days an overwritten or deleted object version is kept', 30, integer(1, 3650, 'days')),
  abortIncompleteMultipartUploadDays: setting('days before an unfinished multipart upload is aborted', 7, integer(1, 365, 'days')),
  queryResultsExpirationDays: setting('days Athena query results are kept', 30, integer(1, 3650, 'days')),
  accessLogsExpirationDays: setting('days S3 server access logs are kept', 365, integer(1, 36500, 'days')),
  glueDatabaseName: setting('Glue database name', 'tickvault', text(/^[a-z][a-z0-9_]{0,254}$/, 'a lower-case Glue database name: a letter, then letters, digits and _')),
  athenaWorkgroupName: setting('Athena workgroup name', 'tickvault', text(/^[A-Za-z0-9._-]{1,128}$/, 'an Athena workgroup name: 1 to 128 of letters, digits, . _ -')),
  athenaBytesScannedCutoffGiB: setting('largest scan of one Athena query, GiB', 10, integer(1, 1_000_000, 'GiB')),
  warmProjectionFirstDate: setting('first day the warm tables project (yyyy-MM-dd)', '2020-01-01', text(ISO_DATE, 'a date yyyy-MM-dd')),
  coldProjectionFirstYear: setting('first year the cold tables project', 2000, integer(1970, 2999, '')),
  coldProjectionLastYear: setting('last year the cold tables project', 2100, integer(1970, 2999, '')),
  compactionSchedule: setting('when the daily archival run starts (EventBridge Scheduler expression)', 'cron(15 2 * * ? *)', scheduleExpression),
  retentionSchedule: setting('when the retention Lambda runs (EventBridge Scheduler expression)', 'cron(45 3 * * ? *)', scheduleExpression),
  scheduleTimeZone: setting('time zone of both schedules (IANA name)', 'Etc/UTC', timeZone),
  compactionMaxConcurrency: setting('compactions run at once by the archival run', 8, integer(1, 1000, '')),
  compactorArchitecture: setting<LinuxArchitecture>('compactor instruction set (arm64 fetches DuckDB\'s arm64 binary at synth; see docs)', 'arm64', oneOf(['arm64', 'x86_64'] as const)),
  compactorMemoryMiB: setting('compactor memory, MiB', 3008, integer(1024, 10240, 'MiB')),
  compactorTimeoutMinutes: setting('compactor timeout, minutes', 15, integer(1, 15, 'minutes')),
  compactorEphemeralStorageGiB: setting('compactor /tmp size, GiB', 10, integer(1, 10, 'GiB')),
  logRetentionDays: setting('days Lambda and Step Functions logs are kept', logs.RetentionDays.THREE_MONTHS, logRetention),
  maxCompactionLagDays: setting('compaction lag, days, above which the lag alarm fires', 3, integer(0, 365, 'days')),
  agentHeartbeatTimeoutMinutes: setting('minutes without an agent heartbeat before its alarm fires', 15, integer(1, 1440, 'minutes')),
  alarmEmail: setting<string | undefined>('an e-mail address subscribed to the alarm topic', undefined, optional(text(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an e-mail address'))),
} as const;

export type ContextKey = keyof typeof SETTINGS;
export type TickvaultConfig = { readonly [K in ContextKey]: (typeof SETTINGS)[K]['default'] };

export const CONTEXT_KEYS = Object.keys(SETTINGS) as ContextKey[];

/** Reads and validates every key; throws an InfraConfigError naming the first bad key, its value and what it wants. */
export function readConfig(node: Node): TickvaultConfig {
  // Plain camelCase keys are ours (CDK's own use ':' or '@'); an unknown one is most likely a misspelt one of ours.
  const context = node.getAllContext() as Record<string, unknown>;
  for (const key of Object.keys(context)) {
    if (/^[a-z][A-Za-z0-9]*$/.test(key) && !(CONTEXT_KEYS as string[]).includes(key)) {
      throw new InfraConfigError(`unknown context key ${key}; tickvault reads ${CONTEXT_KEYS.join(', ')}`);
    }
  }
  const config: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const spec = SETTINGS[key] as Setting<unknown>;
    const raw: unknown = node.tryGetContext(key);
    if (raw === undefined || raw === null) {
      config[key] = spec.default;
      continue;
    }
    try {
      config[key] = spec.parse(raw);
    } catch (cause) {
      const shown = JSON.stringify(raw) ?? String(raw);
      throw new InfraConfigError(
        `context key ${key}: ${(cause as Error).message}, got ${shown.length > 80 ? `${shown.slice(0, 80)}…` : shown} `
        + `(set it with cdk -c ${key}=VALUE or in cdk.json's "context"; default ${showDefault(key)})`,
        { cause },
      );
    }
  }
  const result = config as TickvaultConfig;
  if (result.coldProjectionFirstYear > result.coldProjectionLastYear) {
    throw new InfraConfigError(`context keys coldProjectionFirstYear (${result.coldProjectionFirstYear}) and coldProjectionLastYear (${result.coldProjectionLastYear}): the first year is after the last`);
  }
  if ((result.coldStorageClass === 'STANDARD_IA' || result.coldStorageClass === 'ONEZONE_IA') && result.coldTransitionDays < 30) {
    throw new InfraConfigError(`context key coldTransitionDays: S3 moves objects to ${result.coldStorageClass} no sooner than 30 days after creation, got ${result.coldTransitionDays}`);
  }
  return result;
}

/** A default as docs/deploy.md shows it. */
export function showDefault(key: ContextKey): string {
  const value: unknown = SETTINGS[key].default;
  if (value === undefined) return '(none)';
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** The stack props a configuration stands for. */
export function stackProps(config: TickvaultConfig): TickvaultStackProps {
  const logRetention = config.logRetentionDays;
  return {
    stackName: config.stackName,
    dataBucket: {
      warmExpiryAfterCompaction: Duration.days(config.warmExpiryDaysAfterCompaction),
      coldTransitionAfter: Duration.days(config.coldTransitionDays),
      coldStorageClass: config.coldStorageClass,
      noncurrentVersionExpiration: Duration.days(config.noncurrentVersionExpirationDays),
      abortIncompleteMultipartUploadAfter: Duration.days(config.abortIncompleteMultipartUploadDays),
      queryResultsExpiration: Duration.days(config.queryResultsExpirationDays),
      accessLogsExpiration: Duration.days(config.accessLogsExpirationDays),
    },
    catalog: {
      databaseName: config.glueDatabaseName,
      projectionRange: {
        warmFirstDate: config.warmProjectionFirstDate,
        coldFirstYear: config.coldProjectionFirstYear,
        coldLastYear: config.coldProjectionLastYear,
      },
    },
    queries: {
      workgroupName: config.athenaWorkgroupName,
      bytesScannedCutoffPerQuery: Size.gibibytes(config.athenaBytesScannedCutoffGiB),
    },
    compaction: {
      architecture: config.compactorArchitecture,
      memoryMiB: config.compactorMemoryMiB,
      timeout: Duration.minutes(config.compactorTimeoutMinutes),
      ephemeralStorage: Size.gibibytes(config.compactorEphemeralStorageGiB),
      logRetention,
    },
    planner: { logRetention },
    retention: { schedule: config.retentionSchedule, scheduleTimeZone: TimeZone.of(config.scheduleTimeZone), logRetention },
    archival: {
      schedule: config.compactionSchedule,
      scheduleTimeZone: TimeZone.of(config.scheduleTimeZone),
      maxConcurrency: config.compactionMaxConcurrency,
      logRetention,
    },
    edgeAccess: {
      agentIds: config.agentIds,
      ...(config.rolesAnywhereCaCertificatePem !== undefined && { caCertificatePem: config.rolesAnywhereCaCertificatePem }),
    },
    monitoring: {
      agentIds: config.agentIds,
      maxCompactionLagDays: config.maxCompactionLagDays,
      heartbeatTimeout: Duration.minutes(config.agentHeartbeatTimeoutMinutes),
      ...(config.alarmEmail !== undefined && { alarmEmail: config.alarmEmail }),
    },
  };
}
