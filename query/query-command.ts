/**
 * `tickvault query`: one symbol over [from, to), from the store. Arguments are validated here; a bad one is a
 * UsageError (exit 2) naming it.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type DatasetName, parseDatasetName } from '../core/datasets.ts';
import { openStore } from '../core/object-store/open-store.ts';
import { validateSymbol } from '../core/symbols.ts';
import { parseIsoInstantNs } from '../core/time.ts';
import { queryRange } from './local-query.ts';
import { OUTPUT_FORMATS, type OutputFormat, formatResult } from './output-format.ts';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export async function runQueryCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        'data-dir': { type: 'string' }, store: { type: 'string' },
        symbol: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' },
        format: { type: 'string' }, timeframe: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  const [kind, ...extra] = positionals;
  if (kind === undefined || extra.length > 0) throw new UsageError('query takes one of: trades, quotes, bars');
  const dataset: DatasetName = kind === 'bars' ? parseDatasetName(`bars_${values.timeframe ?? '1m'}`)
    : kind === 'trades' || kind === 'quotes' ? kind
    : (() => { throw new UsageError(`query ${JSON.stringify(kind)}: expected trades, quotes or bars`); })();
  if (values.symbol === undefined || values.from === undefined || values.to === undefined) {
    throw new UsageError('query needs --symbol, --from and --to');
  }
  const format = (values.format ?? 'table') as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) throw new UsageError(`--format ${JSON.stringify(values.format)}: expected ${OUTPUT_FORMATS.join(', ')}`);
  const dataDir = resolve(values['data-dir'] ?? './data');
  const result = await queryRange(openStore(values.store ?? join(dataDir, 'store')), {
    dataset,
    symbol: validateSymbol(values.symbol),
    fromNs: parseIsoInstantNs(values.from),
    toNs: parseIsoInstantNs(values.to),
  });
  for (const line of formatResult(result, format)) process.stdout.write(`${line}\n`);
  return 0;
}
