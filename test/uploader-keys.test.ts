/** Store keys of uploaded warm files and manifests: deterministic, per agent, reversible; agent ids validated. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT_ID_MAX_LENGTH,
  LayoutError,
  defaultAgentId,
  parseWarmFilePath,
  parseWarmManifestKey,
  parseWarmObjectKey,
  validateAgentId,
  warmFilePath,
  warmManifestKey,
  warmMonthObjectPrefix,
  warmObjectKey,
  type WarmFileRef,
} from '../core/layout.ts';
import { AgentIdError, resolveAgentId } from '../edge-agent/sync/agent-id.ts';
import { backoffMs, classifyFailure } from '../edge-agent/sync/upload-failure.ts';
import { decodeWarmManifest, encodeWarmManifest, WarmManifestError } from '../edge-agent/sync/warm-manifest.ts';

const scratch: string[] = [];
afterAll(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

describe('warm object keys', () => {
  const ref: WarmFileRef = { dataset: 'trades', date: '2024-07-01', symbol: 'ESU4', part: 3 };

  it('puts the agent id after the part number, under warm/', () => {
    expect(warmObjectKey(ref, 'edge-1')).toBe('warm/trades/date=2024-07-01/symbol=ESU4/part-00003-edge-1.parquet');
    expect(warmObjectKey({ dataset: 'bars_1m', date: '2025-10-14', symbol: 'BTC/USD', part: 0 }, 'a'))
      .toBe('warm/bars/timeframe=1m/date=2025-10-14/symbol=BTC%2FUSD/part-00000-a.parquet');
  });

  it('is deterministic and differs between agents', () => {
    expect(warmObjectKey(ref, 'host-a')).toBe(warmObjectKey({ ...ref }, 'host-a'));
    expect(warmObjectKey(ref, 'host-a')).not.toBe(warmObjectKey(ref, 'host-b'));
  });

  it('parses every key it builds back to the same file and agent', () => {
    const refs: WarmFileRef[] = [
      ref,
      { dataset: 'quotes', date: '2024-02-29', symbol: 'SPY', part: 99999 },
      { dataset: 'bars_5m', date: '2024-12-31', symbol: 'ETH/BTC', part: 12 },
      { dataset: 'trade_events', date: '2023-01-01', symbol: 'BRK.B', part: 0 },
    ];
    for (const r of refs) {
      for (const agentId of ['a', '0', 'edge-1', 'x'.repeat(AGENT_ID_MAX_LENGTH), 'ab-12-cd']) {
        expect(parseWarmObjectKey(warmObjectKey(r, agentId))).toEqual({ ref: r, agentId });
      }
    }
  });

  it('rejects keys outside the layout, naming the key', () => {
    for (const key of [
      'trades/date=2024-07-01/symbol=ESU4/part-00003-edge-1.parquet', // no warm/ prefix
      'warm/trades/date=2024-07-01/symbol=ESU4/part-00003.parquet', // a local path form: no agent
      'warm/trades/date=2024-07-01/symbol=ESU4/part-00003-Edge.parquet',
      'warm/trades/date=2024-07-01/symbol=ESU4/part-00003--x.parquet',
      'warm/trades/date=2024-13-01/symbol=ESU4/part-00003-a.parquet',
      'warm/trades/date=2024-07-01/_manifest-a.json',
      'warm/nope/date=2024-07-01/symbol=ESU4/part-00003-a.parquet',
      `warm/trades/date=2024-07-01/symbol=ESU4/part-00003-${'x'.repeat(AGENT_ID_MAX_LENGTH + 1)}.parquet`,
    ]) {
      expect(() => parseWarmObjectKey(key), key).toThrow(LayoutError);
      expect(() => parseWarmObjectKey(key), key).toThrow(JSON.stringify(key));
    }
  });

  it('leaves parseWarmFilePath for local paths as it was', () => {
    expect(parseWarmFilePath(warmFilePath(ref))).toEqual(ref);
    expect(() => parseWarmFilePath('trades/date=2024-07-01/symbol=ESU4/part-00003-edge-1.parquet')).toThrow(LayoutError);
  });

  it('builds and recognizes manifest keys, which are never data keys', () => {
    const key = warmManifestKey('bars_1m', '2024-07-01', 'edge-1');
    expect(key).toBe('warm/bars/timeframe=1m/date=2024-07-01/_manifest-edge-1.json');
    expect(parseWarmManifestKey(key)).toEqual({ dataset: 'bars_1m', date: '2024-07-01', agentId: 'edge-1' });
    expect(key.startsWith(warmMonthObjectPrefix('bars_1m', '2024-07'))).toBe(true);
    expect(parseWarmManifestKey(warmObjectKey(ref, 'edge-1'))).toBeUndefined();
    expect(parseWarmManifestKey('warm/trades/date=2024-07-01/manifest-a.json')).toBeUndefined();
    expect(parseWarmManifestKey('warm/trades/date=2024-02-30/_manifest-a.json')).toBeUndefined();
  });
});

describe('agent ids', () => {
  it('accepts 1 to 32 characters of [a-z0-9-] starting with a letter or digit', () => {
    for (const id of ['a', '7', 'edge-1', 'a-', 'x'.repeat(32)]) expect(validateAgentId(id)).toBe(id);
  });

  it('rejects anything else with an error that names the id', () => {
    for (const id of ['', '-a', 'A', 'edge_1', 'edge.1', 'a/b', 'é', 'x'.repeat(33), 'a b']) {
      expect(() => validateAgentId(id), id).toThrow(LayoutError);
      expect(() => validateAgentId(id), id).toThrow(`invalid agent id ${JSON.stringify(id)}`);
    }
  });

  it('derives a valid id from any hostname, never empty', () => {
    expect(defaultAgentId('Trading-Box-01')).toBe('trading-box-01');
    expect(defaultAgentId('ip-10-0-1-17.ec2.internal')).toBe('ip-10-0-1-17-ec2-internal');
    expect(defaultAgentId('__weird__Host__')).toBe('weird-host');
    expect(defaultAgentId('')).toBe('agent');
    expect(defaultAgentId('...')).toBe('agent');
    expect(defaultAgentId('ÜBER')).toBe('ber');
    for (const host of ['', '-', 'a'.repeat(300), 'Ω', 'x.y.z', `${'long-host-name-'.repeat(5)}1`, `${'long-host-name-'.repeat(5)}2`]) {
      const id = defaultAgentId(host);
      expect(validateAgentId(id)).toBe(id);
    }
  });

  it('keeps long hostnames apart when it shortens them', () => {
    const a = defaultAgentId(`${'rack-07-node-'.repeat(4)}a.example.com`);
    const b = defaultAgentId(`${'rack-07-node-'.repeat(4)}b.example.com`);
    expect(a.length).toBeLessThanOrEqual(AGENT_ID_MAX_LENGTH);
    expect(a).not.toBe(b);
    expect(a.slice(0, 10)).toBe('rack-07-no');
  });

  it('records the id in the data directory and refuses a different one later', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tickvault-agent-id-'));
    scratch.push(dataDir);
    expect(await resolveAgentId({ dataDir, hostname: 'Box.One' })).toBe('box-one');
    expect((await readFile(join(dataDir, 'agent-id'), 'utf8')).trim()).toBe('box-one');
    // The hostname changed: the recorded id still wins, so pending files keep their keys.
    expect(await resolveAgentId({ dataDir, hostname: 'renamed' })).toBe('box-one');
    expect(await resolveAgentId({ dataDir, configured: 'box-one' })).toBe('box-one');
    await expect(resolveAgentId({ dataDir, configured: 'other' })).rejects.toThrow(AgentIdError);
    await expect(resolveAgentId({ dataDir, configured: 'Bad_Id' })).rejects.toThrow('invalid agent id "Bad_Id"');
    await writeFile(join(dataDir, 'agent-id'), 'Not Valid\n');
    await expect(resolveAgentId({ dataDir })).rejects.toThrow(/agent id file .*agent-id: invalid agent id/);
  });
});

describe('manifest format', () => {
  const object = {
    key: 'warm/trades/date=2024-07-01/symbol=ESU4/part-00000-a.parquet', symbol: 'ESU4', part: 0, rows: 10, bytes: 999,
    minTsNs: '1719792000000000000', maxTsNs: '1719792000000000999', sha256: 'q83vEjRWeJA=', schemaVersion: 1,
  };
  const header = { dataset: 'trades' as const, date: '2024-07-01', agentId: 'a', updatedAtMs: 1 };
  const key = warmManifestKey('trades', '2024-07-01', 'a');

  it('round-trips, sorted by key, one entry per key', () => {
    const second = { ...object, key: object.key.replace('part-00000', 'part-00001'), part: 1 };
    const bytes = encodeWarmManifest(header, [second, object, { ...object, rows: 11 }]);
    const m = decodeWarmManifest(key, bytes);
    expect(m.objects.map((o) => o.key)).toEqual([object.key, second.key]);
    expect(m.objects[0]?.rows).toBe(11);
    expect(m).toMatchObject({ format: 'tickvault-warm-manifest', version: 1, dataset: 'trades', date: '2024-07-01', agentId: 'a' });
  });

  it('rejects malformed manifests and ones filed under another key, naming the key', () => {
    const good = encodeWarmManifest(header, [object]);
    expect(() => decodeWarmManifest(key, new TextEncoder().encode('{'))).toThrow(WarmManifestError);
    expect(() => decodeWarmManifest(key, new TextEncoder().encode('{"format":"x"}'))).toThrow(key);
    expect(() => decodeWarmManifest(warmManifestKey('trades', '2024-07-02', 'a'), good)).toThrow('does not match its key');
  });
});

describe('failure kinds and backoff', () => {
  const sdkError = (name: string, status?: number, code?: string): Error =>
    Object.assign(new Error(name), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }), ...(code === undefined ? {} : { code }) });

  it('classifies through the cause chain', () => {
    const wrapped = (inner: Error): Error => new Error('PUT s3://b/k failed', { cause: inner });
    expect(classifyFailure(wrapped(sdkError('SlowDown', 503)))).toBe('slow-down');
    expect(classifyFailure(wrapped(sdkError('ServiceUnavailable', 503)))).toBe('slow-down');
    expect(classifyFailure(wrapped(sdkError('InternalError', 500)))).toBe('server-error');
    expect(classifyFailure(wrapped(sdkError('TimeoutError')))).toBe('timeout');
    expect(classifyFailure(wrapped(sdkError('Error', undefined, 'ECONNREFUSED')))).toBe('network');
    expect(classifyFailure(wrapped(new Error('socket hang up')))).toBe('network');
    expect(classifyFailure(wrapped(sdkError('AccessDenied', 403)))).toBe('client-error');
    expect(classifyFailure(new Error('?'))).toBe('other');
  });

  it('backs off with full jitter under a cap, and longer on slow-down', () => {
    const policy = { initialBackoffMs: 100, maxBackoffMs: 10_000 };
    expect(backoffMs(1, 'network', policy, () => 0.999)).toBeLessThanOrEqual(100);
    expect(backoffMs(4, 'network', policy, () => 0.999)).toBeLessThanOrEqual(800);
    expect(backoffMs(4, 'network', policy, () => 0)).toBe(0);
    expect(backoffMs(50, 'network', policy, () => 0.999)).toBeLessThanOrEqual(10_000);
    expect(backoffMs(1, 'slow-down', policy, () => 0)).toBe(200);
    expect(backoffMs(50, 'slow-down', policy, () => 0)).toBe(5_000);
  });
});
