/**
 * The Glue tables against the files they read. Warm files are written the way the agent writes them
 * (ColumnarBatch + the DuckDB encoder), cold files the way the compactor writes them (its handler over a local store,
 * DuckDB inside); each file's schema is read back with hyparquet's parquetMetadata and compared with the
 * synthesized table: every Glue column present with its Parquet physical type (timestamp ↔ INT64 TIMESTAMP,
 * bigint ↔ INT64, double ↔ DOUBLE, string ↔ BYTE_ARRAY UTF8), every file column either a Glue column or a
 * partition key, and every partition key's projection producing exactly the directory the layout put the file in.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { type FileMetaData, type SchemaElement, parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { DuckDBParquetEncoder } from '../core/codec/duckdb-parquet-encoder.ts';
import { decodeParquet } from '../core/codec/parquet-file.ts';
import { type DatasetName, type RowOf, SCHEMA_VERSION, columnsOf } from '../core/datasets.ts';
import { COLD_PREFIX, WARM_PREFIX, coldFilePath, coldPeriodOf, warmFilePath, warmManifestKey, warmObjectKey } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { symbolFromPath } from '../core/symbols.ts';
import { type WarmManifestObject, encodeWarmManifest } from '../core/warm-manifest.ts';
import { compactHandler } from '../lambdas/compactor/handler.ts';
import { asIBucket } from '../lib/bucket-interface.ts';
import { COLD_DATASETS, Catalog, WARM_DATASETS } from '../lib/constructs/catalog.ts';

type Json = Record<string, unknown>;
interface GlueTable {
  readonly columns: { Name: string; Type: string }[];
  readonly partitionKeys: { Name: string; Type: string }[];
  readonly parameters: Record<string, unknown>;
  readonly location: string;
}

const BUCKET = 'tickvault-data-bucket';
const SYMBOL = 'BTC/USD';
const MONTH = '2024-07';
const DATE = '2024-07-01';
/** 2024-07-01T14:30:00.123456789Z, so millisecond rounding would show. */
const BASE_NS = 1_719_844_200_123_456_789n;

/** Three distinct rows of a dataset, one with every nullable column null. */
function sampleRows<D extends DatasetName>(dataset: D): RowOf<D>[] {
  return [0, 1, 2].map((i) => Object.fromEntries(columnsOf(dataset).map((c) => {
    if (c.nullable && i === 1) return [c.name, null];
    if (c.name === 'ts' || c.name === 'ts_ns') return [c.name, BASE_NS + BigInt(i) * 60_000_000_000n];
    if (c.name === 'symbol') return [c.name, SYMBOL];
    switch (c.type) {
      case 'timestamp_ns':
      case 'int64':
        return [c.name, BigInt(1000 + i)];
      case 'float64':
        return [c.name, 100.25 + i];
      case 'string':
        return [c.name, `v${i}`];
    }
  })) as RowOf<D>);
}

let encoder: Promise<DuckDBParquetEncoder> | undefined;
afterAll(async () => (await encoder)?.close());

async function warmFile<D extends DatasetName>(dataset: D): Promise<Uint8Array> {
  const batch = new ColumnarBatch(dataset);
  for (const row of sampleRows(dataset)) batch.append(row);
  encoder ??= DuckDBParquetEncoder.open();
  return (await encoder).encode(batch);
}

const metadataOf = (bytes: Uint8Array): FileMetaData => parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);

/** The Glue type a Parquet leaf column maps to, or a description of why it maps to none. */
function glueTypeOf(element: SchemaElement): string {
  const logical = element.logical_type;
  if (element.type === 'INT64') {
    if (logical?.type === 'TIMESTAMP' || element.converted_type === 'TIMESTAMP_MILLIS' || element.converted_type === 'TIMESTAMP_MICROS') return 'timestamp';
    if (logical === undefined || (logical.type === 'INTEGER' && logical.bitWidth === 64 && logical.isSigned)) return 'bigint';
  }
  if (element.type === 'DOUBLE' && logical === undefined) return 'double';
  if (element.type === 'BYTE_ARRAY' && (element.converted_type === 'UTF8' || logical?.type === 'STRING')) return 'string';
  return `no Glue type for ${element.type} ${JSON.stringify(logical ?? element.converted_type ?? null)}`;
}

/** The s3:// directory `template` names once the key's own partition values are put in. */
function projectedDirectory(table: GlueTable, key: string): { directory: string; values: Record<string, string> } {
  const values = Object.fromEntries(table.partitionKeys.map(({ Name }) => {
    const m = new RegExp(`/${Name}=([^/]+)/`).exec(key);
    if (m === null) throw new Error(`${key}: no ${Name}= directory`);
    return [Name, m[1] ?? ''];
  }));
  const template = String(table.parameters['storage.location.template']);
  return { directory: template.replaceAll(/\$\{(\w+)\}/g, (_, name: string) => values[name] ?? `\${${name}}`), values };
}

/** Checks one file against one table: columns, types, partition values and projection. */
async function checkFileAgainstTable(table: GlueTable, key: string, bytes: Uint8Array): Promise<void> {
  const metadata = metadataOf(bytes);
  const leaves = metadata.schema.slice(1);
  const fileColumns = new Map(leaves.map((e) => [e.name, e]));
  const partitionNames = table.partitionKeys.map((k) => k.Name);

  // Every Glue data column is in the file, with the type Athena will read it as, and in the file's order.
  for (const column of table.columns) {
    const element = fileColumns.get(column.Name);
    expect([key, column.Name, element === undefined ? 'missing' : glueTypeOf(element)]).toEqual([key, column.Name, column.Type]);
  }
  expect(table.columns.map((c) => c.Name)).toEqual(leaves.map((e) => e.name).filter((n) => !partitionNames.includes(n)));
  // Every file column is a Glue column or a partition key (Athena reads the latter from the path).
  for (const name of fileColumns.keys()) expect([key, name, table.columns.some((c) => c.Name === name) || partitionNames.includes(name)]).toEqual([key, name, true]);
  // Timestamps keep their nanoseconds in the file; ts_ns holds them as plain integers for exact queries.
  expect(fileColumns.get('ts')?.logical_type).toMatchObject({ type: 'TIMESTAMP', unit: 'NANOS' });

  // The projection of the key's own partition values is exactly the key's directory.
  const { directory, values } = projectedDirectory(table, key);
  expect(directory).toBe(`s3://${BUCKET}/${key.slice(0, key.lastIndexOf('/') + 1)}`);
  expect(table.location).toBe(directory.slice(0, directory.indexOf(partitionNames.map((n) => `${n}=`)[0] ?? '?')));
  for (const k of table.partitionKeys) {
    expect([k.Name, k.Type]).toEqual([k.Name, 'string']);
    const value = values[k.Name] ?? '';
    const type = table.parameters[`projection.${k.Name}.type`];
    if (type === 'date') {
      expect(table.parameters[`projection.${k.Name}.format`]).toBe('yyyy-MM-dd');
      expect(value).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const [first, last] = String(table.parameters[`projection.${k.Name}.range`]).split(',');
      expect([value >= (first ?? ''), last]).toEqual([true, 'NOW']);
    } else if (type === 'integer') {
      const [lo, hi] = String(table.parameters[`projection.${k.Name}.range`]).split(',').map(Number);
      const digits = Number(table.parameters[`projection.${k.Name}.digits`] ?? 1);
      expect(value).toMatch(new RegExp(`^\\d{${digits},}$`));
      expect([Number(value) >= (lo ?? Infinity), Number(value) <= (hi ?? -Infinity)]).toEqual([true, true]);
      expect(value.length === digits || digits === 1).toBe(true);
    } else {
      // Injected: the value comes from the query, in the path form the layout writes (BTC%2FUSD).
      expect([k.Name, type]).toEqual(['symbol', 'injected']);
      expect(symbolFromPath(value)).toBe(SYMBOL);
      const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, columns: ['symbol'], compressors });
      expect(new Set(rows.map((r) => r['symbol']))).toEqual(new Set([symbolFromPath(value)]));
    }
  }
}

describe('Glue tables against the files the agent and the compactor write', () => {
  const tables = new Map<string, GlueTable>();
  const work = mkdtempSync(join(tmpdir(), 'tv-catalog-parquet-'));

  beforeAll(() => {
    const stack = new Stack(new App(), 'CatalogFiles');
    const bucket = s3.Bucket.fromBucketName(stack, 'Bucket', BUCKET);
    new Catalog(stack, 'Catalog', { bucket: asIBucket(bucket as s3.Bucket) });
    const joined = (v: unknown): string => (typeof v === 'string' ? v : ((v as Json)['Fn::Join'] as [string, unknown[]])[1].map(joined).join(''));
    for (const t of Object.values(Template.fromStack(stack).findResources('AWS::Glue::Table'))) {
      const input = ((t as Json)['Properties'] as Json)['TableInput'] as Json;
      const sd = input['StorageDescriptor'] as Json;
      const parameters = { ...(input['Parameters'] as Json) };
      parameters['storage.location.template'] = joined(parameters['storage.location.template']);
      tables.set(String(input['Name']), {
        columns: sd['Columns'] as GlueTable['columns'],
        partitionKeys: input['PartitionKeys'] as GlueTable['partitionKeys'],
        parameters,
        location: joined(sd['Location']),
      });
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const tableOf = (name: string): GlueTable => {
    const table = tables.get(name);
    if (table === undefined) throw new Error(`no table ${name}`);
    return table;
  };

  it.each(WARM_DATASETS.map((d) => [d]))('warm_%s matches an agent-written warm file under its agent-suffixed key', async (dataset) => {
    const key = warmObjectKey({ dataset, date: DATE, symbol: SYMBOL, part: 7 }, 'edge-1');
    await checkFileAgainstTable(tableOf(`warm_${dataset}`), key, await warmFile(dataset));
  });

  it.each(COLD_DATASETS.map((d) => [d]))('cold_%s matches the file the compactor writes', async (dataset) => {
    const { key, bytes } = await compactedFile(dataset, work);
    expect(key).toBe(`${COLD_PREFIX}${coldFilePath({ dataset, period: coldPeriodOf(dataset, MONTH), symbol: SYMBOL })}`);
    await checkFileAgainstTable(tableOf(`cold_${dataset}`), key, bytes);
  }, 60_000);

  it('reads a warm file wherever the agent puts it: the key without the agent suffix projects the same', async () => {
    const legacy = `${WARM_PREFIX}${warmFilePath({ dataset: 'trades', date: DATE, symbol: SYMBOL, part: 7 })}`;
    await checkFileAgainstTable(tableOf('warm_trades'), legacy, await warmFile('trades'));
  });
});

/**
 * Runs the compactor's handler on one month of one dataset and returns the cold object it published. Warm objects
 * go in under the agent-suffixed keys the uploader writes; a compactor that still lists the older suffix-less keys
 * rejects those (LayoutError), and the run is repeated with them, so this test checks the schema either way.
 */
async function compactedFile(dataset: DatasetName, work: string): Promise<{ key: string; bytes: Uint8Array }> {
  const attempt = async (keyOf: (part: number) => string, label: string) => {
    const store = new LocalDirectoryStore(mkdtempSync(join(work, `${dataset}-${label}-`)));
    // As the uploader leaves them: the objects, then the agent's manifest of the day naming them.
    const entries: WarmManifestObject[] = [];
    for (const part of [0, 1]) {
      const bytes = await warmFile(dataset);
      const rows = (await decodeParquet(bytes, dataset, keyOf(part))) as { ts: bigint }[];
      const ts = rows.map((r) => r.ts).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      await store.put(keyOf(part), bytes);
      entries.push({
        key: keyOf(part), symbol: SYMBOL, part, rows: rows.length, bytes: bytes.byteLength, minTsNs: String(ts[0]), maxTsNs: String(ts.at(-1)),
        sha256: createHash('sha256').update(bytes).digest('base64'), schemaVersion: SCHEMA_VERSION,
      });
    }
    await store.put(warmManifestKey(dataset, DATE, 'edge-1'), encodeWarmManifest({ dataset, date: DATE, agentId: 'edge-1', updatedAtMs: Date.now() }, entries));
    const summary = await compactHandler({ dataset, symbol: SYMBOL, month: MONTH, agentIds: ['edge-1'] }, { store, scratchDir: join(work, 'scratch'), memoryLimit: '256MB' });
    const key = summary.coldKey ?? '';
    // Daily bars are a roll-up (one row per day); every other dataset keeps its 3 distinct rows.
    expect([dataset, summary.status, summary.rowsOut]).toEqual([dataset, 'compacted', dataset === 'bars_1d' ? 1 : 3]);
    return { key, bytes: await store.get(key) };
  };
  try {
    return await attempt((part) => warmObjectKey({ dataset, date: DATE, symbol: SYMBOL, part }, 'edge-1'), 'agent-keys');
  } catch (err) {
    if (!(err instanceof Error) || err.name !== 'LayoutError') throw err;
    return attempt((part) => `${WARM_PREFIX}${warmFilePath({ dataset, date: DATE, symbol: SYMBOL, part })}`, 'plain-keys');
  }
}
