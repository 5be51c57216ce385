/**
 * Logging for the Lambdas and the commands that share their code. In Lambda (and in `tickvault compact`) the logger
 * is AWS Lambda Powertools' Logger: one JSON object per line (level, message, service, timestamp, the Lambda context
 * once added, then the fields), bigints as decimal strings, errors as {name, message, stack}. The handlers depend only
 * on the small `Logger` interface below, so tests pass a memory logger instead.
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';

export type { PowertoolsLogger };

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

/** What the handlers call: a message, then objects whose keys become the line's fields (Powertools' signature). */
export interface Logger {
  debug(message: string, ...fields: LogFields[]): void;
  info(message: string, ...fields: LogFields[]): void;
  warn(message: string, ...fields: LogFields[]): void;
  error(message: string, ...fields: LogFields[]): void;
}

/**
 * A Powertools Logger for `service`. Debug and info lines go to stdout, warn and error to stderr (both reach
 * CloudWatch Logs in Lambda; a command keeps its stdout for results by logging at 'warn' or above).
 */
export function powertoolsLogger(service: string, level: LogLevel = 'info'): PowertoolsLogger {
  return new PowertoolsLogger({ serviceName: service, logLevel: level.toUpperCase() as Uppercase<LogLevel> });
}

/** The fields of the Lambda runtime's context object that every log line then carries (Logger.addContext). */
export interface LambdaContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
}

/** Discards everything (tests that do not look at logs). */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** A logger that keeps its entries, for tests. */
export function memoryLogger(): Logger & { readonly entries: { level: LogLevel; message: string; fields: LogFields }[] } {
  const entries: { level: LogLevel; message: string; fields: LogFields }[] = [];
  const log = (level: LogLevel) => (message: string, ...fields: LogFields[]): void => {
    entries.push({ level, message, fields: Object.assign({}, ...fields) as LogFields });
  };
  return { entries, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
