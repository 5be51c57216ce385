/**
 * The native packages a Lambda bundle ships beside its JavaScript: DuckDB's N-API binding and the prebuilt
 * library for the function's architecture.
 *
 * npm installs only the platform package of the machine it runs on, so an x64 workstation or CI runner has
 * @duckdb/node-bindings-linux-x64 but not -linux-arm64. For an arm64 function the missing package is fetched once
 * with `npm pack` (the npm registry, or the project's configured one), checked against the sha512 integrity that
 * package-lock.json records for it, and kept in a cache under node_modules/.cache; later synths, online or not,
 * use the cache. Any failure names the package, the reason and the way out (a registry, or x86_64).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NativePackageError } from './errors.ts';

/** A package copied verbatim into the bundle's node_modules: `name` is the package name, `directory` its contents. */
export interface NativePackage {
  readonly name: string;
  readonly directory: string;
}

export type LinuxArchitecture = 'x86_64' | 'arm64';

/** DuckDB's JavaScript packages: the same files on every platform. detect-libc is node-bindings' one dependency. */
export const DUCKDB_JS_PACKAGES = ['@duckdb/node-api', '@duckdb/node-bindings', 'detect-libc'] as const;

/** DuckDB's platform package for a Lambda architecture (Lambda runs glibc, so never the -musl builds). */
export const DUCKDB_BINDING_PACKAGES = {
  x86_64: '@duckdb/node-bindings-linux-x64',
  arm64: '@duckdb/node-bindings-linux-arm64',
} as const satisfies Record<LinuxArchitecture, string>;

/** ELF e_machine of each architecture: a binding for the wrong one fails only when Lambda loads it. */
const ELF_MACHINE: Record<LinuxArchitecture, number> = { x86_64: 62, arm64: 183 };

/** The files of a DuckDB platform package that must be native code of the target architecture. */
const NATIVE_FILES = ['duckdb.node', 'libduckdb.so'] as const;

export interface DuckDbPackagesOptions {
  /** The project root: its node_modules and package-lock.json. */
  readonly repoRoot: string;
  /**
   * Where fetched platform packages are kept between synths.
   * @default `<repoRoot>/node_modules/.cache/tickvault-native`
   */
  readonly cacheDir?: string;
}

/**
 * The packages an ESM bundle that imports @duckdb/node-api needs at run time on `architecture`: the installed JS
 * packages and the platform package, installed or fetched. Throws NativePackageError when it cannot be had.
 */
export function duckdbPackages(architecture: LinuxArchitecture, options: DuckDbPackagesOptions): NativePackage[] {
  const installed = (name: string) => join(options.repoRoot, 'node_modules', name);
  const packages: NativePackage[] = DUCKDB_JS_PACKAGES.map((name) => {
    const directory = installed(name);
    if (!existsSync(join(directory, 'package.json'))) throw new NativePackageError(`${name} is not installed in ${options.repoRoot}/node_modules: run npm ci`);
    return { name, directory };
  });
  const version = packageVersion(installed('@duckdb/node-bindings'));
  const name = DUCKDB_BINDING_PACKAGES[architecture];
  const local = installed(name);
  const directory = existsSync(join(local, 'package.json')) && packageVersion(local) === version
    ? local
    : fetchPlatformPackage({
      name,
      version,
      integrity: lockedIntegrity(options.repoRoot, name, version),
      cacheDir: options.cacheDir ?? join(options.repoRoot, 'node_modules', '.cache', 'tickvault-native'),
      cwd: options.repoRoot,
    });
  checkNativeFiles(directory, name, architecture);
  return [...packages, { name, directory }];
}

export interface FetchPlatformPackageOptions {
  readonly name: string;
  readonly version: string;
  /** The expected `sha512-…` integrity of the tarball (from package-lock.json). */
  readonly integrity: string;
  readonly cacheDir: string;
  /** Where npm runs, so the project's .npmrc (registry, auth) applies. */
  readonly cwd: string;
  /**
   * Environment of the npm process.
   * @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
}

/** The unpacked package directory, from the cache or fetched with `npm pack` and verified against `integrity`. */
export function fetchPlatformPackage(options: FetchPlatformPackageOptions): string {
  const { name, version, integrity, cacheDir } = options;
  const spec = `${name}@${version}`;
  const entry = join(cacheDir, `${name.replace('/', '+')}@${version}`);
  const cached = (dir: string) => existsSync(join(dir, 'package', 'package.json')) && readIfExists(join(dir, 'integrity')) === integrity;
  if (cached(entry)) return join(entry, 'package');

  const advice = `The bundle needs ${spec}, which npm installs only on linux-${name.endsWith('arm64') ? 'arm64' : 'x64'} machines; `
    + `it is fetched once from the npm registry and cached in ${cacheDir}. Run the synth once where the registry is reachable, `
    + 'or build the compactor for x86_64 (cdk -c compactorArchitecture=x86_64).';
  mkdirSync(cacheDir, { recursive: true });
  const work = join(cacheDir, `.fetch-${randomBytes(6).toString('hex')}`);
  mkdirSync(work);
  try {
    let packed: string;
    try {
      packed = execFileSync('npm', ['pack', spec, '--pack-destination', work, '--prefer-offline', '--ignore-scripts', '--json', '--loglevel=error'], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 300_000,
      });
    } catch (cause) {
      throw new NativePackageError(`npm pack ${spec} failed: ${firstLine(failureText(cause))}. ${advice}`, { cause });
    }
    const filename = (JSON.parse(packed) as { filename?: string }[])[0]?.filename;
    if (filename === undefined) throw new NativePackageError(`npm pack ${spec} reported no tarball (output: ${firstLine(packed)}). ${advice}`);
    // npm names scoped tarballs without the '@' and with '/' as '-'; take the name npm reports.
    const tarball = join(work, filename.replace(/^@/, '').replace('/', '-'));
    const actual = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (actual !== integrity) {
      throw new NativePackageError(`${spec}: tarball integrity ${actual} does not match package-lock.json (${integrity}); refusing to ship it`);
    }
    try {
      execFileSync('tar', ['-xzf', tarball, '-C', work], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (cause) {
      throw new NativePackageError(`${spec}: cannot unpack ${tarball}: ${firstLine(failureText(cause))}`, { cause });
    }
    rmSync(tarball);
    const unpacked = join(work, 'package');
    const meta = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { name?: string; version?: string };
    if (meta.name !== name || meta.version !== version) {
      throw new NativePackageError(`${spec}: the tarball holds ${meta.name}@${meta.version}`);
    }
    // The marker goes in last: a cache entry without it is incomplete and is fetched again.
    writeFileSync(join(work, 'integrity'), integrity);
    // A complete entry is never removed (another synth may be copying from it); an incomplete one is a leftover.
    if (cached(entry)) return join(entry, 'package');
    rmSync(entry, { recursive: true, force: true });
    try {
      renameSync(work, entry);
    } catch (cause) {
      // Another synth (a parallel test worker) finished the same entry first; theirs is as good as ours.
      if (!cached(entry)) throw new NativePackageError(`${spec}: cannot move the package into ${entry}`, { cause });
    }
    return join(entry, 'package');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The integrity package-lock.json records for `name`, which must be locked at `version`. */
export function lockedIntegrity(repoRoot: string, name: string, version: string): string {
  const lockPath = join(repoRoot, 'package-lock.json');
  let lock: { packages?: Record<string, { version?: string; integrity?: string }> };
  try {
    lock = JSON.parse(readFileSync(lockPath, 'utf8')) as typeof lock;
  } catch (cause) {
    throw new NativePackageError(`cannot read ${lockPath} to verify ${name}: ${(cause as Error).message}`, { cause });
  }
  const locked = lock.packages?.[`node_modules/${name}`];
  if (locked?.integrity === undefined || locked.version !== version) {
    throw new NativePackageError(
      `${lockPath} locks ${name} at ${locked?.version ?? 'no version'}${locked?.integrity === undefined ? ' without an integrity' : ''}, `
      + `where the installed @duckdb/node-bindings needs ${version}; run npm install so the lockfile lists every platform package`,
    );
  }
  return locked.integrity;
}

/** Throws unless every native file of the package is an ELF object for `architecture`. */
export function checkNativeFiles(directory: string, name: string, architecture: LinuxArchitecture): void {
  for (const file of NATIVE_FILES) {
    const path = join(directory, file);
    const machine = elfMachine(path);
    if (machine !== ELF_MACHINE[architecture]) {
      throw new NativePackageError(`${name}: ${path} is ${machine === undefined ? 'not an ELF file' : `built for ELF machine ${machine}`}, not ${architecture}`);
    }
  }
}

/** The e_machine field of an ELF file, or undefined when the file is missing or not ELF. */
export function elfMachine(path: string): number | undefined {
  let header: Buffer;
  try {
    header = readFileSync(path).subarray(0, 20);
  } catch {
    return undefined;
  }
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  // EI_DATA (byte 5): 1 little-endian, 2 big-endian.
  return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
}

function packageVersion(directory: string): string {
  return (JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { version: string }).version;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function failureText(cause: unknown): string {
  if (typeof cause === 'object' && cause !== null) {
    const { stderr, message } = cause as { stderr?: unknown; message?: unknown };
    const text = typeof stderr === 'string' ? stderr : Buffer.isBuffer(stderr) ? stderr.toString('utf8') : '';
    if (text.trim() !== '') return text;
    if (typeof message === 'string') return message;
  }
  return String(cause);
}

/** The line that says what went wrong: npm's first error line when there is one, else the first line. */
function firstLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines.find((l) => /^npm (error|ERR!)/.test(l) && !/^npm (error|ERR!) (A complete log|code|errno|syscall)\b/.test(l)) ?? lines[0] ?? '(no output)';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
