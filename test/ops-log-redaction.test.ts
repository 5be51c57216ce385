/**
 * Logs are structured JSON (pino) with levels on stderr, and never carry a secret: the agent run end to end with
 * real credentials against a simulator that checks them (and one that refuses them, the path where clients are
 * most tempted to log what they sent), and the logger itself given the credential fields of the config and HTTP
 * authorization headers in the shapes the code logs them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startSimulator } from '../edge-agent/simulator/simulator-server.ts';
import { CLI, collect, runCli } from './support/cli.ts';
import { REPO_ROOT } from './support/shared-data.ts';

const KEY_ID = 'PKTESTKEYID0REDACTME';
const SECRET = 'sEcReT-9f8e7d6c5b4a-do-not-log';

function jsonLines(stderr: string): Record<string, unknown>[] {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Runs a few log calls in a child process (the logger writes to fd 2 synchronously) and returns what it wrote. */
async function logged(calls: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tv-log-'));
  const script = join(dir, 'log-calls.mts');
  writeFileSync(script, `import { createLogger } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'edge-agent', 'log.ts')).href)};
const log = createLogger('redaction-test');
const SECRET = ${JSON.stringify(SECRET)};
${calls}
`);
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'run-ts.js'), script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const result = await collect(child);
  expect(result.code, result.stderr).toBe(0);
  return result.stderr;
}

describe('log redaction', () => {
  it('keeps credentials out of every line of a real agent run, accepted and refused, in JSON lines with levels', async () => {
    const accepting = await startSimulator({ symbols: ['AAPL'], messagesPerSecond: 100, keyId: KEY_ID, secretKey: SECRET });
    const refusing = await startSimulator({ symbols: ['AAPL'], messagesPerSecond: 100, keyId: KEY_ID, secretKey: 'another-secret' });
    const dir = mkdtempSync(join(tmpdir(), 'tv-log-agent-'));
    try {
      const configOf = (url: string, name: string): string => {
        const path = join(dir, `${name}.json`);
        writeFileSync(path, JSON.stringify({ feed: 'alpaca', alpacaUrl: url, symbols: ['AAPL'], alpacaKeyId: KEY_ID, alpacaSecretKey: SECRET, drainTimeoutSeconds: 1 }));
        return path;
      };
      const env = { ...process.env, APCA_API_KEY_ID: KEY_ID, APCA_API_SECRET_KEY: SECRET, TICKVAULT_LOG_LEVEL: 'info' };
      const accepted = runCli(['agent', '--config', configOf(accepting.url, 'accepting'), '--duration', '3', '--data-dir', join(dir, 'accepted')], { env });
      // Refused credentials end the feed for good; the process is stopped once it has said so.
      const child = spawn(process.execPath, [CLI, 'agent', '--config', configOf(refusing.url, 'refusing'), '--duration', '3', '--data-dir', join(dir, 'refused')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const refusedRun = collect(child);
      await new Promise<void>((resolve) => {
        let seen = '';
        const timer = setTimeout(resolve, 20_000);
        child.stderr?.on('data', (d: Buffer) => {
          seen += d.toString();
          if (seen.includes('auth failed')) { clearTimeout(timer); resolve(); }
        });
        child.on('exit', () => { clearTimeout(timer); resolve(); });
      });
      child.kill('SIGTERM');
      const runs = [await accepted, await refusedRun];
      expect(runs[1]?.stderr).toMatch(/server error 402 "auth failed"/);
      for (const run of runs) {
        expect(run.stderr).not.toContain(SECRET);
        expect(run.stderr).not.toContain(KEY_ID);
        expect(run.stdout).not.toContain(SECRET);
        const lines = jsonLines(run.stderr);
        expect(lines.length).toBeGreaterThan(3);
        for (const line of lines) {
          expect(typeof line['level']).toBe('number');
          expect(typeof line['msg']).toBe('string');
          expect(typeof line['time']).toBe('number');
        }
        const starting = lines.find((l) => l['msg'] === 'agent starting') as { config: Record<string, unknown> };
        expect(starting.config['alpacaSecretKey']).toBe('[redacted]');
        expect(starting.config['alpacaKeyId']).toBe('[redacted]');
      }
      // The accepted run really authenticated with the secret (the simulator checks it), the other was refused.
      expect(runs[0]?.code, runs[0]?.stderr.slice(-500)).toBe(0);
      expect(accepting.stats().validMessagesSent).toBeGreaterThan(0);
      expect(jsonLines(runs[1]?.stderr ?? '').some((l) => (l['level'] as number) >= 50)).toBe(true);
    } finally {
      await accepting.close();
      await refusing.close();
    }
  }, 60_000);

  it("redacts the config's credential fields and authorization headers wherever the code logs them", async () => {
    const out = await logged(`
log('info', 'config at the top level', { alpacaSecretKey: SECRET, alpacaKeyId: SECRET });
log('info', 'config nested', { config: { alpacaSecretKey: SECRET, alpacaKeyId: SECRET } });
log('warn', 'request headers', { headers: { authorization: 'Bearer ' + SECRET } });
log('error', 'auth message', { auth: { action: 'auth', key: SECRET, secret: SECRET } });
log('info', 'a secret field', { secret: SECRET, key: SECRET });
`);
    const lines = jsonLines(out);
    expect(lines.map((l) => l['level'])).toEqual([30, 30, 40, 50, 30]);
    expect(out).not.toContain(SECRET);
    expect(out.match(/\[redacted\]/g)?.length).toBe(9);
  });

  // A request logged whole (`req.headers`, as pino's HTTP serializers shape it), a header spelled `Authorization`,
  // and Alpaca's REST credential headers.
  it('redacts authorization headers of a request logged whole and Alpaca REST credential headers', async () => {
    const out = await logged(`
log('warn', 'request failed', { req: { headers: { authorization: 'Bearer ' + SECRET } } });
log('warn', 'request failed', { headers: { Authorization: 'Bearer ' + SECRET } });
log('warn', 'request failed', { headers: { 'apca-api-secret-key': SECRET } });
`);
    expect(out).not.toContain(SECRET);
  });
});
