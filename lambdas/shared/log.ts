/**
 * A small structured logger for the Lambdas and the commands that share their code: one JSON object per line, the
 * shape AWS Lambda Powertools' Logger writes (level, message, service, timestamp, then the fields), so switching to
 * `@aws-lambda-powertools/logger` later changes no call site.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface JsonLoggerOptions {
  readonly service: string;
  /** Lowest level written. @default 'info' */
  readonly level?: LogLevel;
  /** Where each line goes. @default process.stdout (CloudWatch Logs in Lambda) */
  readonly write?: (line: string) => void;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export function jsonLogger(options: JsonLoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? 'info');
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const now = options.now ?? (() => new Date());
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const entry = { level: level.toUpperCase(), message, service: options.service, timestamp: now().toISOString(), ...fields };
    write(`${JSON.stringify(entry, jsonSafe)}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Discards everything (tests that do not look at logs). */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** A logger that keeps its entries, for tests. */
export function memoryLogger(): Logger & { readonly entries: { level: LogLevel; message: string; fields: LogFields }[] } {
  const entries: { level: LogLevel; message: string; fields: LogFields }[] = [];
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}): void => {
    entries.push({ level, message, fields });
  };
  return { entries, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Bigints as decimal strings, errors as {name, message}: JSON.stringify handles neither. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
