/**
 * A real S3-compatible server for tests: a single-node OpenStack Swift with its s3api middleware on 127.0.0.1
 * (see /work/shared/s3-test-server.md for why Swift). Each start gets a fresh temp directory (configs, rings,
 * data, one log per daemon) and fresh ports: a memcached, account/container/object servers and a proxy.
 *
 * The daemons run in the foreground as the current user, each in its own process group. stop() kills them; so do
 * a process 'exit' hook and, for a test process killed by a signal, a small shell watchdog that outlives it.
 *
 * Every Swift process also reads /etc/swift/swift.conf (hash path suffix, storage policies): Swift has no way to
 * point it elsewhere. The Debian `swift` package installs a working one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3TestServer {
  /** `http://127.0.0.1:PORT`, the proxy. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** The temp directory with configs, rings, data and `*.log`; removed by stop(). */
  readonly dir: string;
  /** How long start took, in milliseconds. */
  readonly startupMs: number;
  /** A new client with the settings Swift needs (path style, checksums only when required). */
  createClient(): S3Client;
  createBucket(name: string): Promise<void>;
  /** Kills every process this server started and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface S3ServerAvailability {
  readonly available: boolean;
  /** Why not, and how to fix it; or what will run. */
  readonly reason: string;
}

const ACCESS_KEY_ID = 'test:tester';
const SECRET_ACCESS_KEY = 'testing';
const REGION = 'us-east-1';
const SWIFT_CONF = '/etc/swift/swift.conf';
const DEBIAN_PACKAGES = 'swift swift-proxy swift-account swift-container swift-object memcached';
const BACKENDS = ['account', 'container', 'object'] as const;
type Backend = (typeof BACKENDS)[number];
const PROGRAMS = {
  proxy: 'swift-proxy-server',
  account: 'swift-account-server',
  container: 'swift-container-server',
  object: 'swift-object-server',
  ringBuilder: 'swift-ring-builder',
  memcached: 'memcached',
} as const;
type Program = keyof typeof PROGRAMS;

const PROXY_PIPELINE = [
  'catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth',
  'copy slo dlo versioned_writes symlink proxy-logging proxy-server',
].join(' ');
const STARTUP_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;
const POLL_INTERVAL_MS = 50;

let cachedAvailability: (S3ServerAvailability & { readonly paths?: Record<Program, string> }) | undefined;

/** Whether Swift can run here; tests use it with `describe.skipIf` and print `reason`. */
export function s3ServerAvailability(): S3ServerAvailability {
  cachedAvailability ??= probeAvailability();
  // CI installs Swift (.ci/run), so there a missing server is a failure, never a quiet skip.
  if (!cachedAvailability.available && process.env['CI'] === 'true') {
    throw new Error(`CI=true but the S3 test server cannot run: ${cachedAvailability.reason}`);
  }
  return { available: cachedAvailability.available, reason: cachedAvailability.reason };
}

function probeAvailability(): S3ServerAvailability & { readonly paths?: Record<Program, string> } {
  const fix = `install the Debian packages (apt-get install ${DEBIAN_PACKAGES}) or run .ci/run`;
  if (process.platform !== 'linux') {
    const reason = `OpenStack Swift runs on Linux only, this is ${process.platform}`;
    return { available: false, reason };
  }
  const paths: Partial<Record<Program, string>> = {};
  const missing: string[] = [];
  for (const [program, command] of Object.entries(PROGRAMS) as [Program, string][]) {
    const found = findExecutable(command);
    if (found === undefined) missing.push(command);
    else paths[program] = found;
  }
  if (!existsSync(SWIFT_CONF)) missing.push(SWIFT_CONF);
  if (missing.length > 0) {
    const reason = `OpenStack Swift not installed (missing ${missing.join(', ')}); ${fix}`;
    return { available: false, reason };
  }
  return { available: true, reason: `OpenStack Swift found (${paths.proxy})`, paths: paths as Record<Program, string> };
}

/** Starts a fresh Swift; throws with the daemons' log tails when it cannot. */
export async function startS3Server(): Promise<S3TestServer> {
  const availability = s3ServerAvailability();
  const paths = cachedAvailability?.paths;
  if (!availability.available || paths === undefined) throw new Error(availability.reason);
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const run = new SwiftRun(paths);
    try {
      await run.start();
      return run.server(Date.now() - started);
    } catch (err) {
      const logs = await run.logTails();
      await run.stop();
      // Ports are picked free, but another process can take one before a daemon binds it: start again.
      if (attempt < START_ATTEMPTS && /address already in use|could not bind/i.test(logs)) continue;
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`Swift did not start (attempt ${attempt}): ${why}\n${logs}`, { cause: err });
    }
  }
}

interface Ports {
  readonly proxy: number;
  readonly account: number;
  readonly container: number;
  readonly object: number;
  readonly memcached: number;
}

/** One start of the server: its directory, ports and processes. */
class SwiftRun {
  private dir = '';
  private ports: Ports | undefined;
  private readonly processes = new Map<string, ChildProcess>();
  private watchdog: ChildProcess | undefined;
  private stopped = false;
  private readonly onExit = (): void => this.killAllNow();

  constructor(private readonly paths: Record<Program, string>) {}

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'tickvault-swift-'));
    process.on('exit', this.onExit);
    const [proxy = 0, account = 0, container = 0, object = 0, memcached = 0] = await freePorts(5);
    const ports: Ports = { proxy, account, container, object, memcached };
    this.ports = ports;
    await mkdir(join(this.dir, 'srv', 'd1'), { recursive: true });
    const user = userInfo().username;
    for (const backend of BACKENDS) {
      await writeFile(join(this.dir, `${backend}-server.conf`), backendConf(backend, ports[backend], this.dir, user));
    }
    await writeFile(join(this.dir, 'proxy-server.conf'), proxyConf(ports, this.dir, user));

    // The backends and memcached need no rings to start, so they boot while the rings are built.
    this.spawnDaemon('memcached', this.paths.memcached, [
      '-l', '127.0.0.1', '-p', String(ports.memcached), '-U', '0', '-m', '64', '-t', '1',
      ...(process.getuid?.() === 0 ? ['-u', user] : []),
    ]);
    for (const backend of BACKENDS) {
      this.spawnDaemon(`${backend}-server`, this.paths[backend], [join(this.dir, `${backend}-server.conf`), '-v']);
    }
    await this.buildRings(ports);
    this.spawnDaemon('proxy-server', this.paths.proxy, [join(this.dir, 'proxy-server.conf'), '-v']);
    this.startWatchdog();

    await this.waitUntilReady(ports);
  }

  server(startupMs: number): S3TestServer {
    const ports = this.ports!;
    const endpoint = `http://127.0.0.1:${ports.proxy}`;
    const createClient = (): S3Client =>
      new S3Client({
        endpoint,
        region: REGION,
        forcePathStyle: true,
        credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    const admin = createClient();
    return {
      endpoint,
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
      region: REGION,
      dir: this.dir,
      startupMs,
      createClient,
      createBucket: async (name) => {
        await admin.send(new CreateBucketCommand({ Bucket: name }));
      },
      stop: async () => {
        admin.destroy();
        await this.stop();
      },
    };
  }

  /** The rings, one device each, exactly as `swift-ring-builder` makes them, from its own code in one process. */
  private async buildRings(ports: Ports): Promise<void> {
    const commands = BACKENDS.flatMap((backend) => [
      [`${backend}.builder`, 'create', '8', '1', '1'],
      [`${backend}.builder`, 'add', `r1z1-127.0.0.1:${ports[backend]}/d1`, '1'],
      [`${backend}.builder`, 'rebalance'],
    ]);
    // One interpreter instead of nine swift-ring-builder runs: Python start-up is most of each run's second.
    const script = [
      'import json, sys',
      'from swift.cli.ringbuilder import main',
      'for args in json.loads(sys.argv[1]):',
      '    try:',
      "        main(['swift-ring-builder'] + args)",
      '    except SystemExit as e:',
      '        if e.code not in (0, None):',
      "            sys.exit('swift-ring-builder %s exited with %s' % (' '.join(args), e.code))",
    ].join('\n');
    const [interpreter, ...interpreterArgs] = shebangOf(this.paths.ringBuilder);
    const log = join(this.dir, 'ring-builder.log');
    const code = await new Promise<number | null>((resolvePromise, reject) => {
      const fd = openSync(log, 'a');
      const child = spawn(interpreter!, [...interpreterArgs, '-c', script, JSON.stringify(commands)], {
        cwd: this.dir,
        env: childEnv(),
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      child.once('error', reject);
      child.once('exit', (exitCode) => resolvePromise(exitCode));
    });
    if (code !== 0) throw new Error(`building the rings failed (exit ${code}); see ${log}`);
  }

  private spawnDaemon(name: string, command: string, args: string[]): void {
    const fd = openSync(join(this.dir, `${name}.log`), 'a');
    // detached: its own process group, so stop() can kill it with anything it forks.
    const child = spawn(command, args, { cwd: this.dir, env: childEnv(), detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.on('error', () => undefined); // a failed spawn shows up as an exit, which start() reports
    child.unref();
    this.processes.set(name, child);
  }

  /** A shell that kills the daemons and removes the directory if this process dies without running its exit hook. */
  private startWatchdog(): void {
    const script = [
      'parent=$1; dir=$2; shift 2',
      'while kill -0 "$parent" 2>/dev/null; do sleep 1; done',
      'for pid in "$@"; do kill -s KILL -- "-$pid" 2>/dev/null; done',
      'rm -rf -- "$dir"',
    ].join('\n');
    const pids = [...this.processes.values()].flatMap((p) => (p.pid === undefined ? [] : [String(p.pid)]));
    this.watchdog = spawn('/bin/sh', ['-c', script, 'swift-watchdog', String(process.pid), this.dir, ...pids], {
      detached: true,
      stdio: 'ignore',
    });
    this.watchdog.on('error', () => undefined);
    this.watchdog.unref();
  }

  private async waitUntilReady(ports: Ports): Promise<void> {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    const pending = new Map<string, () => Promise<boolean>>([
      ['memcached', () => tcpOpen(ports.memcached)],
      ...BACKENDS.map((b): [string, () => Promise<boolean>] => [`${b}-server`, () => healthy(ports[b])]),
      ['proxy-server', () => healthy(ports.proxy)],
    ]);
    while (pending.size > 0) {
      for (const [name, child] of this.processes) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) during start-up`);
        }
      }
      for (const [name, check] of pending) {
        if (await check()) pending.delete(name);
      }
      if (pending.size === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`not ready after ${STARTUP_TIMEOUT_MS} ms: ${[...pending.keys()].join(', ')}`);
      }
      await sleep(POLL_INTERVAL_MS);
    }
  }

  async logTails(): Promise<string> {
    if (this.dir === '') return '';
    const names = ['ring-builder', 'memcached', ...BACKENDS.map((b) => `${b}-server`), 'proxy-server'];
    const tails = await Promise.all(
      names.map(async (name) => {
        const text = await readFile(join(this.dir, `${name}.log`), 'utf8').catch(() => '');
        const lines = text.trimEnd().split('\n').slice(-15).join('\n');
        return lines === '' ? '' : `--- ${name}.log\n${lines}`;
      }),
    );
    return tails.filter((t) => t !== '').join('\n');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const running = [...this.processes.values()].filter(
      (p) => p.pid !== undefined && p.exitCode === null && p.signalCode === null,
    );
    const exited = running.map((p) => new Promise<void>((done) => p.once('exit', () => done())));
    for (const p of running) killGroup(p.pid!, 'SIGTERM');
    const timedOut = await Promise.race([Promise.all(exited).then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
    if (timedOut) for (const p of running) killGroup(p.pid!, 'SIGKILL');
    if (this.watchdog?.pid !== undefined) killGroup(this.watchdog.pid, 'SIGKILL');
    process.off('exit', this.onExit);
    if (this.dir !== '') await rm(this.dir, { recursive: true, force: true });
  }

  /** The exit hook: nothing asynchronous runs any more, so kill hard and clean up synchronously. */
  private killAllNow(): void {
    for (const p of this.processes.values()) if (p.pid !== undefined) killGroup(p.pid, 'SIGKILL');
    if (this.watchdog?.pid !== undefined) killGroup(this.watchdog.pid, 'SIGKILL');
    if (this.dir !== '') rmSync(this.dir, { recursive: true, force: true });
  }
}

function backendConf(backend: Backend, port: number, dir: string, user: string): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
bind_timeout = 2
mount_check = false
disable_fallocate = true
devices = ${join(dir, 'srv')}
swift_dir = ${dir}
user = ${user}
log_name = ${backend}-server
# No syslog here: a missing socket makes Swift fall back to UDP, and -v copies every line to the log file.
log_address = ${join(dir, 'no-syslog')}

[pipeline:main]
pipeline = healthcheck ${backend}-server

[app:${backend}-server]
use = egg:swift#${backend}

[filter:healthcheck]
use = egg:swift#healthcheck
`;
}

function proxyConf(ports: Ports, dir: string, user: string): string {
  const filters = {
    catch_errors: 'catch_errors',
    gatekeeper: 'gatekeeper',
    healthcheck: 'healthcheck',
    'proxy-logging': 'proxy_logging',
    listing_formats: 'listing_formats',
    bulk: 'bulk',
    copy: 'copy',
    slo: 'slo',
    dlo: 'dlo',
    versioned_writes: 'versioned_writes',
    symlink: 'symlink',
  };
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${ports.proxy}
workers = 0
bind_timeout = 2
swift_dir = ${dir}
user = ${user}
log_name = proxy-server
log_address = ${join(dir, 'no-syslog')}

[pipeline:main]
pipeline = ${PROXY_PIPELINE}

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}

[filter:s3api]
use = egg:swift#s3api
location = ${REGION}

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = ${SECRET_ACCESS_KEY} .admin
${Object.entries(filters).map(([name, egg]) => `\n[filter:${name}]\nuse = egg:swift#${egg}\n`).join('')}`;
}

/** Ports free right now: all held open together, so they are distinct, then released for the daemons. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolvePromise, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolvePromise(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
  return ports;
}

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthcheck`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolvePromise(false);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function findExecutable(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The interpreter a script's `#!` line names, e.g. ['/usr/bin/python3'] (the Python that has Swift installed). */
function shebangOf(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  if (!first.startsWith('#!')) throw new Error(`${script} has no #! line`);
  return first.slice(2).trim().split(/\s+/);
}

/** The environment minus what would point the system Python at another installation (pyenv, virtualenvs). */
function childEnv(): NodeJS.ProcessEnv {
  const { PYTHONPATH: _path, PYTHONHOME: _home, VIRTUAL_ENV: _venv, ...env } = process.env;
  return env;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
