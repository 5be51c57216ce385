/**
 * Runs one statement on Athena: StartQueryExecution in the project's workgroup, GetQueryExecution polled with
 * backoff, every page of GetQueryResults turned into typed rows. Ctrl-C (the AbortSignal) and the timeout both
 * stop the query on Athena (StopQueryExecution) before giving up, so nothing keeps scanning, and billing, behind
 * the user's back. A failed query is reported with Athena's own reason, unchanged.
 *
 * The client is passed in (credentials and region are the caller's business); tests pass a mocked one.
 */
import { randomUUID } from 'node:crypto';
import {
  type AthenaClient,
  type ColumnInfo,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type QueryExecution,
  type Row,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { AthenaQueryFailedError, QueryCancelledError, QueryError, QueryTimeoutError } from './errors.ts';
import type { ResultColumn, ResultRow, ResultValue, ValueType } from './model.ts';

/** Athena's price: $5 per TB scanned, bytes rounded up to the MB, 10 MB minimum per query (binary units here). */
export const ATHENA_USD_PER_TB = 5;
const MB = 2 ** 20;
const TB = 2 ** 40;
const MIN_BILLED_BYTES = 10 * MB;

/** What Athena would charge for a scan of this many bytes (0 for a query that scanned nothing). */
export function estimatedCostUsd(dataScannedBytes: number): number {
  if (dataScannedBytes <= 0) return 0;
  const billed = Math.max(Math.ceil(dataScannedBytes / MB) * MB, MIN_BILLED_BYTES);
  return (billed / TB) * ATHENA_USD_PER_TB;
}

export interface AthenaRequest {
  readonly sql: string;
  /** Execution parameters: literal SQL text for each `?`, in order. */
  readonly parameters: readonly string[];
  readonly workgroup: string;
  readonly database: string;
  /** @default 'AwsDataCatalog' */
  readonly catalog?: string;
  /** Where results go; only when the workgroup does not enforce its own. */
  readonly outputLocation?: string;
  /** Known column types, by name; any other column is typed from Athena's result metadata. */
  readonly columns?: readonly ResultColumn[];
}

export interface AthenaProgress {
  readonly queryExecutionId: string;
  readonly state: string;
  readonly elapsedMs: number;
  readonly dataScannedBytes: number;
}

export interface AthenaRunOptions {
  readonly signal?: AbortSignal;
  /** Stop the query when it has not finished after this long. */
  readonly timeoutMs?: number;
  /** First wait between polls. @default 250 */
  readonly pollInitialMs?: number;
  /** Longest wait between polls. @default 2000 */
  readonly pollMaxMs?: number;
  /** Rows per GetQueryResults page, 1..1000. @default 1000 */
  readonly pageSize?: number;
  readonly onProgress?: (progress: AthenaProgress) => void;
}

export interface AthenaResult {
  readonly queryExecutionId: string;
  readonly columns: ResultColumn[];
  readonly rows: ResultRow[];
  readonly dataScannedBytes: number;
  readonly estimatedCostUsd: number;
  readonly engineExecutionMs: number | undefined;
}

const POLL_BACKOFF = 1.5;

/** Why a run is being abandoned: the caller's signal, or our timeout. */
type StopReason = 'cancelled' | 'timeout';

export async function runAthenaQuery(client: AthenaClient, request: AthenaRequest, options: AthenaRunOptions = {}): Promise<AthenaResult> {
  const started = Date.now();
  const stop = new AbortController();
  let reason: StopReason | undefined;
  const abort = (why: StopReason): void => {
    reason ??= why;
    stop.abort();
  };
  const onCallerAbort = (): void => abort('cancelled');
  if (options.signal?.aborted === true) throw new QueryCancelledError('query cancelled before it started');
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => abort('timeout'), options.timeoutMs);
  let queryExecutionId: string | undefined;
  let scanned = 0;
  try {
    const startResponse = await client.send(new StartQueryExecutionCommand({
      QueryString: request.sql,
      ...(request.parameters.length > 0 && { ExecutionParameters: [...request.parameters] }),
      WorkGroup: request.workgroup,
      QueryExecutionContext: { Database: request.database, Catalog: request.catalog ?? 'AwsDataCatalog' },
      ...(request.outputLocation !== undefined && { ResultConfiguration: { OutputLocation: request.outputLocation } }),
      ClientRequestToken: randomUUID(),
    }), { abortSignal: stop.signal });
    queryExecutionId = startResponse.QueryExecutionId;
    if (queryExecutionId === undefined) throw new QueryError('Athena StartQueryExecution returned no QueryExecutionId');
    const id = queryExecutionId;

    let waitMs = options.pollInitialMs ?? 250;
    let execution: QueryExecution | undefined;
    for (;;) {
      if (reason !== undefined) break;
      const response = await client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }), { abortSignal: stop.signal });
      execution = response.QueryExecution;
      const state = execution?.Status?.State ?? 'UNKNOWN';
      scanned = execution?.Statistics?.DataScannedInBytes ?? scanned;
      options.onProgress?.({ queryExecutionId: id, state, elapsedMs: Date.now() - started, dataScannedBytes: scanned });
      if (state === 'SUCCEEDED') break;
      if (state === 'FAILED') {
        const why = execution?.Status?.StateChangeReason ?? execution?.Status?.AthenaError?.ErrorMessage ?? 'no reason given';
        throw new AthenaQueryFailedError(id, why, scanned);
      }
      if (state === 'CANCELLED') {
        throw new QueryCancelledError(`Athena query ${id} was cancelled${execution?.Status?.StateChangeReason === undefined ? '' : `: ${execution.Status.StateChangeReason}`}`);
      }
      await sleep(waitMs, stop.signal);
      waitMs = Math.min(waitMs * POLL_BACKOFF, options.pollMaxMs ?? 2000);
    }
    if (reason !== undefined) throw stopped(reason, id, scanned, options.timeoutMs);

    const pageSize = options.pageSize ?? 1000;
    const known = new Map((request.columns ?? []).map((c) => [c.name, c.type]));
    let columns: ResultColumn[] | undefined;
    const rows: ResultRow[] = [];
    let nextToken: string | undefined;
    let first = true;
    do {
      if (reason !== undefined) throw stopped(reason, id, scanned, options.timeoutMs);
      const page = await client.send(new GetQueryResultsCommand({
        QueryExecutionId: id, MaxResults: pageSize, ...(nextToken !== undefined && { NextToken: nextToken }),
      }), { abortSignal: stop.signal });
      columns ??= resultColumnsOf(page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [], known);
      let pageRows = page.ResultSet?.Rows ?? [];
      // The first row of a SELECT's first page repeats the column names.
      if (first && pageRows.length > 0 && isHeaderRow(pageRows[0] as Row, columns)) pageRows = pageRows.slice(1);
      first = false;
      for (const row of pageRows) rows.push(typedRow(row, columns));
      nextToken = page.NextToken;
    } while (nextToken !== undefined);

    return {
      queryExecutionId: id,
      columns: columns ?? [],
      rows,
      dataScannedBytes: scanned,
      estimatedCostUsd: estimatedCostUsd(scanned),
      engineExecutionMs: execution?.Statistics?.EngineExecutionTimeInMillis,
    };
  } catch (error) {
    if (reason !== undefined && queryExecutionId !== undefined) {
      await stopQuery(client, queryExecutionId);
      throw stopped(reason, queryExecutionId, scanned, options.timeoutMs);
    }
    if (reason !== undefined) throw stopped(reason, undefined, scanned, options.timeoutMs);
    throw error;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onCallerAbort);
  }
}

/** Asks Athena to stop; a query that already finished or is already stopping is not an error here. */
async function stopQuery(client: AthenaClient, queryExecutionId: string): Promise<void> {
  try {
    await client.send(new StopQueryExecutionCommand({ QueryExecutionId: queryExecutionId }));
  } catch {
    // The error the caller sees is the cancel or timeout; a failed stop leaves the workgroup's scan cutoff to end it.
  }
}

function stopped(reason: StopReason, id: string | undefined, scanned: number, timeoutMs: number | undefined): QueryError {
  const which = id === undefined ? 'Athena query' : `Athena query ${id}`;
  const after = `${(scanned / MB).toFixed(1)} MB scanned`;
  return reason === 'timeout'
    ? new QueryTimeoutError(`${which} stopped after the ${((timeoutMs ?? 0) / 1000).toString()} s timeout (${after})`)
    : new QueryCancelledError(`${which} cancelled and stopped (${after})`);
}

/** Resolves after ms, or at once when the signal fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** How an Athena type name maps onto result value types. */
export function valueTypeOfAthena(type: string | undefined): ValueType {
  const t = (type ?? '').toLowerCase();
  if (t === 'bigint' || t === 'integer' || t === 'int' || t === 'smallint' || t === 'tinyint') return 'bigint';
  if (t === 'double' || t === 'float' || t === 'real' || t.startsWith('decimal')) return 'double';
  if (t.startsWith('timestamp') || t === 'date' || t.startsWith('time')) return 'timestamp';
  return 'string';
}

function resultColumnsOf(info: readonly ColumnInfo[], known: ReadonlyMap<string, ValueType>): ResultColumn[] {
  return info.map((c, i) => {
    const name = c.Name ?? c.Label ?? `_col${i}`;
    return { name, type: known.get(name) ?? valueTypeOfAthena(c.Type) };
  });
}

function isHeaderRow(row: Row, columns: readonly ResultColumn[]): boolean {
  const data = row.Data ?? [];
  return data.length === columns.length && data.every((d, i) => d.VarCharValue === columns[i]?.name);
}

/** One Athena value (text, or absent for NULL) as its typed value. */
export function athenaValue(text: string | undefined, type: ValueType): ResultValue {
  if (text === undefined) return null;
  switch (type) {
    case 'timestamp_ns':
    case 'bigint':
      return BigInt(text);
    case 'double':
      return Number(text);
    case 'timestamp':
    case 'string':
      return text;
  }
}

function typedRow(row: Row, columns: readonly ResultColumn[]): ResultRow {
  const out: ResultRow = {};
  const data = row.Data ?? [];
  columns.forEach((c, i) => { out[c.name] = athenaValue(data[i]?.VarCharValue, c.type); });
  return out;
}
