/** Runs the real `tickvault` command in a child process, as a user would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './shared-data.ts';

export const CLI = join(REPO_ROOT, 'bin', 'tickvault.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child);
}

export interface RunningAgent {
  readonly child: ChildProcess;
  /** The agent's read API (127.0.0.1, a free port). */
  readonly url: string;
  /** Settles when the process has exited, with everything it printed. */
  readonly done: Promise<CliResult>;
}

/** Starts `tickvault agent` with its read API on a free loopback port and resolves once the API is up. */
export async function startAgentWithHttp(dataDir: string, args: readonly string[] = []): Promise<RunningAgent> {
  const child = spawn(process.execPath, [CLI, 'agent', '--data-dir', dataDir, '--http', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = collect(child);
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`agent printed no read API URL in 30 s; stderr: ${seen.slice(-2000)}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /tickvault: read API on (http:\/\/\S+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.on('exit', (code) => reject(new Error(`agent exited (${code}) before its read API was up; stderr: ${seen.slice(-2000)}`)));
  });
  return { child, url, done };
}

/** The JSON report line the agent prints when it stops. */
export function agentReport(stdout: string): Record<string, unknown> & {
  received: number;
  accepted: Record<string, number>;
  rejected: Record<string, number>;
  rowsWritten: Record<string, number>;
  filesWritten: number;
  filesUploaded: number;
} {
  const line = stdout.split('\n').find((l) => l.includes('"agent-stopped"'));
  if (line === undefined) throw new Error(`agent printed no report; stdout was: ${stdout.slice(0, 500)}`);
  return JSON.parse(line);
}
