/**
 * Where the query client's settings come from, in one place. Each setting: the command-line flag, else the
 * environment, else the project's configuration (the Athena names from the CDK context in ./cdk.json, the hot tier
 * from the agent's config file), else the default, which equals the CDK app's (lib/config.ts). Validated here; a
 * bad value names its source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readConfigFile } from '../edge-agent/config.ts';
import { QueryInputError } from './errors.ts';
import { parseHotUrl } from './hot-client.ts';

/** The CDK app's defaults (lib/config.ts: athenaWorkgroupName, glueDatabaseName). */
export const DEFAULT_WORKGROUP = 'tickvault';
export const DEFAULT_DATABASE = 'tickvault';

const WORKGROUP = /^[A-Za-z0-9._-]{1,128}$/;
const DATABASE = /^[a-z][a-z0-9_]{0,254}$/;
const S3_URL = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/;

export interface AthenaSettings {
  readonly workgroup: string;
  readonly database: string;
  readonly outputLocation?: string;
}

export interface AthenaFlags {
  readonly workgroup?: string | undefined;
  readonly database?: string | undefined;
  readonly outputLocation?: string | undefined;
}

/** The CDK context of ./cdk.json (or the given file), or {} when there is none. */
export function cdkContext(path = 'cdk.json'): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { context?: unknown };
    return typeof parsed.context === 'object' && parsed.context !== null ? (parsed.context as Record<string, unknown>) : {};
  } catch (cause) {
    throw new QueryInputError('config', `${path}: not valid JSON (${(cause as Error).message})`, { cause });
  }
}

function pick(name: string, sources: readonly [string, unknown][], pattern: RegExp, expected: string): string | undefined {
  for (const [source, value] of sources) {
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string' || !pattern.test(value)) {
      throw new QueryInputError(name, `${source} ${JSON.stringify(value)}: expected ${expected}`);
    }
    return value;
  }
  return undefined;
}

/** The Athena workgroup, database and (optional) result location. */
export function resolveAthenaSettings(flags: AthenaFlags, env: NodeJS.ProcessEnv = process.env, context: Record<string, unknown> = cdkContext()): AthenaSettings {
  const workgroup = pick('workgroup', [
    ['--workgroup', flags.workgroup], ['TICKVAULT_ATHENA_WORKGROUP', env['TICKVAULT_ATHENA_WORKGROUP']], ['cdk.json context athenaWorkgroupName', context['athenaWorkgroupName']],
  ], WORKGROUP, 'an Athena workgroup name: 1 to 128 of letters, digits, . _ -') ?? DEFAULT_WORKGROUP;
  const database = pick('database', [
    ['--database', flags.database], ['TICKVAULT_GLUE_DATABASE', env['TICKVAULT_GLUE_DATABASE']], ['cdk.json context glueDatabaseName', context['glueDatabaseName']],
  ], DATABASE, 'a lower-case Glue database name: a letter, then letters, digits and _') ?? DEFAULT_DATABASE;
  const outputLocation = pick('output-location', [
    ['--output-location', flags.outputLocation], ['TICKVAULT_ATHENA_OUTPUT', env['TICKVAULT_ATHENA_OUTPUT']],
  ], S3_URL, 'an s3://bucket/prefix/ URL');
  return outputLocation === undefined ? { workgroup, database } : { workgroup, database, outputLocation };
}

/**
 * The read API URL of the hot tier: --hot, else the agent's config file (its httpHost and a fixed httpPort), else
 * TICKVAULT_HOT_URL; undefined when none names it (the hot tier is then not asked).
 */
export function resolveHotUrl(flag: string | undefined, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag !== undefined) return parseHotUrl(flag);
  if (configFile !== undefined) {
    let config: Record<string, unknown>;
    try {
      config = readConfigFile(configFile) as Record<string, unknown>;
    } catch (cause) {
      throw new QueryInputError('config', (cause as Error).message, { cause });
    }
    const port = config['httpPort'];
    const host = config['httpHost'] ?? '127.0.0.1';
    if (port !== undefined) {
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
        throw new QueryInputError('config', `config file ${configFile}: httpPort ${JSON.stringify(port)}: expected a fixed port 1-65535 to find the read API`);
      }
      if (typeof host !== 'string' || !/^[A-Za-z0-9.:-]+$/.test(host)) throw new QueryInputError('config', `config file ${configFile}: httpHost ${JSON.stringify(host)} is not a host name`);
      const listen = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
      return parseHotUrl(`http://${listen}:${port}`);
    }
  }
  const fromEnv = env['TICKVAULT_HOT_URL'];
  return fromEnv === undefined || fromEnv === '' ? undefined : parseHotUrl(fromEnv);
}
