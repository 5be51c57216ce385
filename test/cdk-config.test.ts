/**
 * Configuration through CDK context (lib/config.ts): defaults equal the constructs' own, values arrive as strings
 * from `cdk -c`, every bad value is refused with a message naming its key, docs/deploy.md lists every key with its
 * default, and the app itself fails fast on a bad key before building anything.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, SETTINGS, readConfig, showDefault, stackProps } from '../lib/config.ts';
import { InfraConfigError } from '../lib/errors.ts';
import { TickvaultStack } from '../lib/tickvault-stack.ts';

const REPO = new URL('../', import.meta.url);
const CDK_CONTEXT = (JSON.parse(readFileSync(new URL('cdk.json', REPO), 'utf8')) as { context: Record<string, unknown> }).context;
/** Bundling skipped: these stacks are compared and inspected, never deployed. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBnjCCAUWgAwIBAgIUI6VWKXjVSiyYZOOvZ7aP24MKRA4wCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRdGlja3ZhdWx0IHRlc3QgQ0EwIBcNMjYxMTI2MDgyNTI2WhgP
MjEyNjExMDIwODI1MjZaMBwxGjAYBgNVBAMMEXRpY2t2YXVsdCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtSEf0K+dhwb6q0CJy2Y+hJCu1x6aEwML
IW0cbMnYu7zcF1PxYhEZiBMYXL7WZb3RIWDLveLbjNBLZsYyY6nTnaNjMGEwHQYD
VR0OBBYEFLygA6lBpOAZQt8yqW3fJ6jnp7ntMB8GA1UdIwQYMBaAFLygA6lBpOAZ
Qt8yqW3fJ6jnp7ntMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoG
CCqGSM49BAMCA0cAMEQCIG0RSbfKsPWVz3+awxaHtg3Zw8MIcN/bdVo64B8L3XgP
AiB6ibJgO7qcUo+Xs2/lnYk+CPN1XJULGTqp4UBBb0ayNA==
-----END CERTIFICATE-----`;

/** A certificate whose basicConstraints say CA:FALSE (an agent's, say). */
const LEAF_PEM = `-----BEGIN CERTIFICATE-----
MIIBdzCCARygAwIBAgIUBaZuEaKijRa8t5T8enN286tV6LcwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGZWRnZS0xMCAXDTI2MTEyNjA4MjUyNloYDzIxMjYxMTAyMDgy
NTI2WjARMQ8wDQYDVQQDDAZlZGdlLTEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQhjBaFwdx7QXme2Vn/z6y+8qlLHyL4mnaIdbKxhgWeZDqQXo0SfgLHTs3+Y68c
fpT4S3qQ1Gknw1Ezk0GKN+wro1AwTjAdBgNVHQ4EFgQUDtrGzYsZwm2YZt3HCFg1
ZYlgv/UwHwYDVR0jBBgwFoAUDtrGzYsZwm2YZt3HCFg1ZYlgv/UwDAYDVR0TAQH/
BAIwADAKBggqhkjOPQQDAgNJADBGAiEA0JiBdr1o+xOfGG6qCZmVWftpmXkz6+TH
XowMhBE9x0QCIQC8gkMcpewSRVisnUihe9w2Y9xqgiqSNcml+tTiCKcV/Q==
-----END CERTIFICATE-----`;

const configWith = (context: Record<string, unknown>) => readConfig(new App({ context: { ...CDK_CONTEXT, ...context } }).node);

describe('context configuration', () => {
  it('defaults every key when none is set', () => {
    expect(configWith({})).toEqual(Object.fromEntries(CONTEXT_KEYS.map((k) => [k, SETTINGS[k].default])));
  });

  it('with its defaults, synthesizes exactly the stack the construct defaults give', () => {
    const fromConfig = new App({ context: { ...CDK_CONTEXT, ...NO_BUNDLING } });
    const a = new TickvaultStack(fromConfig, 'Tickvault', stackProps(readConfig(fromConfig.node)));
    const b = new TickvaultStack(new App({ context: { ...CDK_CONTEXT, ...NO_BUNDLING } }), 'Tickvault');
    expect(Template.fromStack(a).toJSON()).toEqual(Template.fromStack(b).toJSON());
  });

  it('reads command-line strings and cdk.json values alike', () => {
    const fromStrings = configWith({
      agentIds: 'edge-1, tokyo-2', compactorMemoryMiB: '4096', coldStorageClass: 'STANDARD_IA', coldTransitionDays: '30',
      scheduleTimeZone: 'America/New_York', compactionSchedule: 'rate(12 hours)', logRetentionDays: '365', alarmEmail: 'ops@example.com',
      rolesAnywhereCaCertificatePem: TEST_CA_PEM.replaceAll('\n', '\\n'),
    });
    expect(fromStrings).toMatchObject({
      agentIds: ['edge-1', 'tokyo-2'], compactorMemoryMiB: 4096, coldStorageClass: 'STANDARD_IA', coldTransitionDays: 30,
      scheduleTimeZone: 'America/New_York', compactionSchedule: 'rate(12 hours)', logRetentionDays: 365, alarmEmail: 'ops@example.com',
      rolesAnywhereCaCertificatePem: TEST_CA_PEM,
    });
    expect(configWith({ agentIds: ['edge-1', 'tokyo-2'], compactorMemoryMiB: 4096 })).toMatchObject({ agentIds: ['edge-1', 'tokyo-2'], compactorMemoryMiB: 4096 });
    expect(configWith({ agentIds: '["a-1","b-2"]' }).agentIds).toEqual(['a-1', 'b-2']);
    expect(configWith({ alarmEmail: '' }).alarmEmail).toBeUndefined();
  });

  it('carries each value into the stack', () => {
    const app = new App({ context: { ...CDK_CONTEXT, ...NO_BUNDLING, compactorMemoryMiB: '4096', compactorArchitecture: 'x86_64', compactionMaxConcurrency: '3',
      warmExpiryDaysAfterCompaction: '10', athenaBytesScannedCutoffGiB: '2', maxCompactionLagDays: '5', agentHeartbeatTimeoutMinutes: '30',
      alarmEmail: 'ops@example.com', stackName: 'TickvaultDev', glueDatabaseName: 'tickvault_dev', compactionSchedule: 'cron(0 4 * * ? *)' } });
    const stack = new TickvaultStack(app, 'Tickvault', stackProps(readConfig(app.node)));
    const t = Template.fromStack(stack);
    expect(stack.stackName).toBe('TickvaultDev');
    t.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 4096, Architectures: ['x86_64'] });
    t.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-compacted-warm-objects', ExpirationInDays: 10 })]) } });
    t.hasResourceProperties('AWS::Athena::WorkGroup', { WorkGroupConfiguration: { BytesScannedCutoffPerQuery: 2 * 1024 ** 3 } });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'CompactionLagDays', Threshold: 5 });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'AgentHeartbeat', EvaluationPeriods: 30 });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: Match.objectLike({ Name: 'tickvault_dev' }) });
    t.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 4 * * ? *)' });
    t.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: { WARM_EXPIRY_DAYS_AFTER_COMPACTION: '10' } } });
    expect(JSON.stringify(t.toJSON())).toContain('\\"MaxConcurrency\\":3');
  });

  it.each([
    ['compactorMemoryMiB', 'lots', /^context key compactorMemoryMiB: expected an integer from 1024 to 10240 MiB, got "lots"/],
    ['compactorMemoryMiB', 512, /compactorMemoryMiB: expected an integer from 1024/],
    ['compactorTimeoutMinutes', '16', /compactorTimeoutMinutes: expected an integer from 1 to 15 minutes/],
    ['compactorEphemeralStorageGiB', '1.5', /compactorEphemeralStorageGiB: expected an integer/],
    ['compactorArchitecture', 'aarch64', /compactorArchitecture: expected one of arm64, x86_64/],
    ['agentIds', 'edge-1,Edge_2', /agentIds: agent ids: invalid agent id "Edge_2"/],
    ['agentIds', 'edge-1,edge1', /agentIds: agent ids: agent ids "edge-1" and "edge1" differ only in '-'/],
    ['agentIds', '', /agentIds: agent ids: at least one agent id is needed/],
    ['agentIds', '[1,2]', /agentIds: expected a list of strings/],
    ['compactionSchedule', 'cron(15 2 * * *)', /compactionSchedule: expected an EventBridge Scheduler expression/],
    ['retentionSchedule', 'daily', /retentionSchedule: expected an EventBridge Scheduler expression/],
    ['scheduleTimeZone', 'Mars/Olympus_Mons', /scheduleTimeZone: expected an IANA time zone name/],
    ['coldStorageClass', 'GLACIER', /coldStorageClass: expected one of GLACIER_IR, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING/],
    ['logRetentionDays', '17', /logRetentionDays: expected one of CloudWatch Logs' retention periods in days: 1, 3, 5, 7/],
    ['warmProjectionFirstDate', '2020-13-01', /warmProjectionFirstDate: expected a date yyyy-MM-dd/],
    ['glueDatabaseName', 'Tick-Vault', /glueDatabaseName: expected a lower-case Glue database name/],
    ['stackName', '1stack', /stackName: expected a stack name/],
    ['alarmEmail', 'ops', /alarmEmail: expected an e-mail address/],
    ['maxCompactionLagDays', '-1', /maxCompactionLagDays: expected an integer from 0 to 365 days/],
    ['rolesAnywhereCaCertificatePem', 'not a certificate', /rolesAnywhereCaCertificatePem: CA certificate: expected one PEM certificate/],
    ['rolesAnywhereCaCertificatePem', LEAF_PEM, /rolesAnywhereCaCertificatePem: CA certificate: certificate CN=edge-1 is not a CA/],
    ['rolesAnywhereCaCertificatePem', `${TEST_CA_PEM}\n${TEST_CA_PEM}`, /expected one PEM certificate .* found 2/],
  ] as const)('refuses %s=%j, naming the key', (key, value, message) => {
    expect(() => configWith({ [key]: value })).toThrow(InfraConfigError);
    expect(() => configWith({ [key]: value })).toThrow(message);
    expect(() => configWith({ [key]: value })).toThrow(/\(set it with cdk -c \w+=VALUE or in cdk\.json's "context"; default /);
  });

  it('refuses a misspelt key, and checks keys that depend on each other', () => {
    expect(() => configWith({ agentId: 'edge-2' })).toThrow(/^unknown context key agentId; tickvault reads stackName, agentIds, /);
    expect(() => configWith({ coldProjectionFirstYear: '2050', coldProjectionLastYear: '2040' })).toThrow(/coldProjectionFirstYear \(2050\) and coldProjectionLastYear \(2040\)/);
    expect(() => configWith({ coldStorageClass: 'STANDARD_IA', coldTransitionDays: '10' })).toThrow(/coldTransitionDays: S3 moves objects to STANDARD_IA no sooner than 30 days/);
    // CDK's own keys pass through.
    expect(() => configWith({ 'aws:cdk:enable-path-metadata': true, '@aws-cdk/core:newStyleStackSynthesis': true })).not.toThrow();
  });

  it('is documented in docs/deploy.md: every key, with its default, and no other', () => {
    const doc = readFileSync(new URL('docs/deploy.md', REPO), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Context keys\n'), doc.indexOf('\n## ', doc.indexOf('\n## Context keys\n') + 1));
    const rows = [...section.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)].map((m) => [m[1] ?? '', (m[2] ?? '').trim()] as const);
    expect(rows.map(([key]) => key)).toEqual(CONTEXT_KEYS);
    for (const [key, shown] of rows) {
      const expected = showDefault(key as (typeof CONTEXT_KEYS)[number]);
      expect([key, shown]).toEqual([key, expected === '(none)' ? '(none)' : `\`${expected}\``]);
    }
  });

  it('makes the app fail fast on a bad key, naming it, before anything is built', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'tv-cdk-out-'));
    try {
      let stderr = '';
      try {
        execFileSync(process.execPath, ['bin/run-ts.js', 'bin/cdk-app.ts'], {
          cwd: new URL('.', REPO).pathname,
          env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify({ compactorMemoryMiB: 'lots' }) },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 60_000,
        });
      } catch (err) {
        stderr = String((err as { stderr?: Buffer }).stderr ?? '');
      }
      expect(stderr).toMatch(/InfraConfigError: context key compactorMemoryMiB: expected an integer from 1024 to 10240 MiB, got "lots"/);
      expect(stderr).not.toMatch(/Bundling asset/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 60_000);
});
