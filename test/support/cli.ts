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
