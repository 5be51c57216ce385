/** Where the query client's settings come from: flag, else environment, else the project's config, else the CDK app's default. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../lib/config.ts';
import { QueryInputError } from '../query/errors.ts';
import { DEFAULT_DATABASE, DEFAULT_WORKGROUP, cdkContext, resolveAthenaSettings, resolveHotUrl } from '../query/query-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'tv-query-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Athena settings', () => {
  it('default to the CDK app\'s workgroup and database names', () => {
    expect(DEFAULT_WORKGROUP).toBe(SETTINGS.athenaWorkgroupName.default);
    expect(DEFAULT_DATABASE).toBe(SETTINGS.glueDatabaseName.default);
    expect(resolveAthenaSettings({}, {}, {})).toEqual({ workgroup: 'tickvault', database: 'tickvault' });
  });

  it('take the flag over the environment over the cdk.json context', () => {
    const context = { athenaWorkgroupName: 'from-context', glueDatabaseName: 'ctx_db' };
    const env = { TICKVAULT_ATHENA_WORKGROUP: 'from-env', TICKVAULT_ATHENA_OUTPUT: 's3://results-bucket/athena/' };
    expect(resolveAthenaSettings({}, {}, context)).toEqual({ workgroup: 'from-context', database: 'ctx_db' });
    expect(resolveAthenaSettings({}, env, context)).toEqual({ workgroup: 'from-env', database: 'ctx_db', outputLocation: 's3://results-bucket/athena/' });
    expect(resolveAthenaSettings({ workgroup: 'analysts', database: 'other_db' }, env, context)).toMatchObject({ workgroup: 'analysts', database: 'other_db' });
  });

  it('refuse bad names, naming where they came from', () => {
    expect(() => resolveAthenaSettings({ database: 'Bad-Name' }, {}, {})).toThrow(/--database "Bad-Name": expected a lower-case Glue database name/);
    expect(() => resolveAthenaSettings({}, {}, { athenaWorkgroupName: 'a b' })).toThrow(/cdk\.json context athenaWorkgroupName "a b"/);
    expect(() => resolveAthenaSettings({ outputLocation: 'https://x' }, {}, {})).toThrow(QueryInputError);
  });

  it('read the context block of a cdk.json', () => {
    const path = join(dir, 'cdk.json');
    writeFileSync(path, JSON.stringify({ app: 'x', context: { glueDatabaseName: 'prod_tickvault' } }));
    expect(resolveAthenaSettings({}, {}, cdkContext(path)).database).toBe('prod_tickvault');
    expect(cdkContext(join(dir, 'missing.json'))).toEqual({});
  });
});

describe('the hot tier URL', () => {
  it('comes from --hot, else the agent config\'s fixed read API port, else TICKVAULT_HOT_URL, else nowhere', () => {
    const config = join(dir, 'agent.json');
    writeFileSync(config, JSON.stringify({ httpPort: 8123 }));
    expect(resolveHotUrl('http://127.0.0.1:9000/', config, {})).toBe('http://127.0.0.1:9000');
    expect(resolveHotUrl(undefined, config, { TICKVAULT_HOT_URL: 'http://10.0.0.1:1' })).toBe('http://127.0.0.1:8123');
    expect(resolveHotUrl(undefined, undefined, { TICKVAULT_HOT_URL: 'http://10.0.0.1:1' })).toBe('http://10.0.0.1:1');
    expect(resolveHotUrl(undefined, undefined, {})).toBeUndefined();
    const anyAddress = join(dir, 'any.json');
    writeFileSync(anyAddress, JSON.stringify({ httpPort: 8124, httpHost: '0.0.0.0' }));
    expect(resolveHotUrl(undefined, anyAddress, {})).toBe('http://127.0.0.1:8124');
  });

  it('refuses a port the client cannot find (0 picks a free one at start) and a non-HTTP URL', () => {
    const zero = join(dir, 'zero.json');
    writeFileSync(zero, JSON.stringify({ httpPort: 0 }));
    expect(() => resolveHotUrl(undefined, zero, {})).toThrow(/httpPort 0: expected a fixed port/);
    expect(() => resolveHotUrl('file:///etc/passwd', undefined, {})).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
    expect(() => resolveHotUrl(undefined, join(dir, 'nope.json'), {})).toThrow(/cannot read/);
  });
});
