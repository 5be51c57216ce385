/** Structured JSON logs on stderr (stdout is kept for command output). Secrets are redacted by path. */
import { pino } from 'pino';

export type LogLevel = 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export function createLogger(name: string, level = process.env['TICKVAULT_LOG_LEVEL'] ?? 'info'): LogFn {
  const logger = pino(
    {
      name,
      level,
      redact: { paths: ['secret', 'key', '*.secret', '*.key', '*.alpacaSecretKey', '*.alpacaKeyId', 'alpacaSecretKey', 'alpacaKeyId', '*.authorization'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
  return (lvl, msg, fields) => logger[lvl](fields ?? {}, msg);
}

export const silentLog: LogFn = () => {};
