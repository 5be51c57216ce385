/** Structured JSON logs on stderr (stdout is kept for command output). Secrets are redacted by path. */
import { pino } from 'pino';

export type LogLevel = 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export function createLogger(name: string, level = process.env['TICKVAULT_LOG_LEVEL'] ?? 'info'): LogFn {
  const logger = pino(
    {
      name,
      level,
      redact: {
        paths: [
          'secret', 'key', '*.secret', '*.key', '*.alpacaSecretKey', '*.alpacaKeyId', 'alpacaSecretKey', 'alpacaKeyId',
          '*.authorization', '*.Authorization', 'headers.authorization', 'headers.Authorization',
          '*.headers.authorization', '*.headers.Authorization', 'req.headers.authorization',
          '*["apca-api-key-id"]', '*["apca-api-secret-key"]', '*["APCA-API-KEY-ID"]', '*["APCA-API-SECRET-KEY"]',
          '*.headers["apca-api-key-id"]', '*.headers["apca-api-secret-key"]',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
  return (lvl, msg, fields) => logger[lvl](fields ?? {}, msg);
}

export const silentLog: LogFn = () => {};
