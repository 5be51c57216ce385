/**
 * A short run of the crash harness inside `npm test`: the real agent replaying real trades and quotes, SIGKILLed at
 * seeded random moments and restarted, ends with every row in the warm files exactly once and every sealed file in
 * the store exactly once, byte-equal. `npm run test:crash -- --iterations 200` runs the long version.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCrashScenario } from './crash/crash-harness.ts';
import { sharedDataDir } from './support/shared-data.ts';

it('loses and duplicates nothing across SIGKILLs at random moments', async () => {
  const data = sharedDataDir();
  const result = await runCrashScenario({
    files: [join(data, 'trades_tardis_binance-futures_BTCUSDT_20200222.csv'), join(data, 'quotes_tardis_binance-futures_BTCUSDT_20200222.csv')],
    kills: 6,
    seed: 20261126,
    speed: 1000,
    killWindowMs: [400, 4500],
  });
  expect(result.finalExitCode).toBe(0);
  expect(result.kills).toBeGreaterThanOrEqual(1); // how many land before the replay ends depends on the machine
  expect(result.warmRows).toEqual(result.expectedRows);
  expect(result.missing).toBe(0);
  expect(result.extra).toBe(0);
  expect(result.storeProblems).toEqual([]);
}, 240_000);

it('with retention deleting warm files as soon as they are safe, the store still ends with every row exactly once', async () => {
  const data = sharedDataDir();
  const result = await runCrashScenario({
    files: [join(data, 'trades_tardis_binance-futures_BTCUSDT_20200222.csv'), join(data, 'quotes_tardis_binance-futures_BTCUSDT_20200222.csv')],
    kills: 4,
    seed: 7,
    speed: 1500,
    killWindowMs: [400, 4500],
    retention: true,
  });
  expect(result.finalExitCode).toBe(0);
  // Retention did run: most warm files left the host once their copies were verified.
  expect(result.localWarmFiles).toBeLessThan(result.storedObjects);
  expect(result.warmRows).toEqual(result.expectedRows);
  expect(result.missing).toBe(0);
  expect(result.extra).toBe(0);
  expect(result.storeProblems).toEqual([]);
}, 240_000);
