/** Locates the real market-data samples in ../shared/data (beside the repository), or fails naming where it looked. */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function sharedDataDir(): string {
  const dir = process.env['TICKVAULT_SHARED_DATA'] ?? join(REPO_ROOT, '..', 'shared', 'data');
  if (!existsSync(dir)) throw new Error(`shared market data not found at ${dir} (set TICKVAULT_SHARED_DATA)`);
  return dir;
}

export function sharedCsvFiles(): string[] {
  const dir = sharedDataDir();
  return readdirSync(dir).filter((f) => f.endsWith('.csv')).sort().map((f) => join(dir, f));
}
