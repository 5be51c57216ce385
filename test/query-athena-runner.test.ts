/**
 * The Athena runner against mocked Athena API responses (aws-sdk-client-mock; Athena cannot run here): the start
 * request, polling to the end, paging of results into typed rows, Athena's failure reason shown as is, Ctrl-C and
 * the timeout both stopping the query on Athena, and the scan cost estimate.
 */
import {
  AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, type GetQueryResultsOutput, StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type AthenaRequest, estimatedCostUsd, runAthenaQuery } from '../query/athena-runner.ts';
import { AthenaQueryFailedError, QueryCancelledError, QueryTimeoutError } from '../query/errors.ts';
import { datasetResultColumns } from '../query/model.ts';

const athena = mockClient(AthenaClient);
const client = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
afterEach(() => athena.reset());

const ID = '8d1c6c4e-0000-4000-8000-000000000001';
const FAST = { pollInitialMs: 1, pollMaxMs: 5 };
const TRADE_COLUMNS = datasetResultColumns('trades');
const request: AthenaRequest = {
  sql: 'SELECT ts_ns AS ts, ts_ns, symbol, trade_id, price, size, exchange, conditions, tape FROM cold_trades WHERE symbol = ? AND year = ? AND month = ?',
  parameters: ["'AAPL'", "'2024'", "'07'"],
  workgroup: 'tickvault',
  database: 'tickvault',
  columns: TRADE_COLUMNS,
};

const state = (State: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED', scanned = 0, StateChangeReason?: string) => ({
  QueryExecution: {
    QueryExecutionId: ID,
    Status: { State, ...(StateChangeReason !== undefined && { StateChangeReason }) },
    Statistics: { DataScannedInBytes: scanned, EngineExecutionTimeInMillis: 1234 },
  },
});

const text = (values: (string | undefined)[]) => ({ Data: values.map((v) => (v === undefined ? {} : { VarCharValue: v })) });
const METADATA = { ColumnInfo: TRADE_COLUMNS.map((c) => ({ Name: c.name, Label: c.name, Type: c.type === 'double' ? 'double' : c.type === 'string' ? 'varchar' : 'bigint' })) };
const tradeText = (i: number) => text([
  String(1_719_792_000_000_000_000n + BigInt(i)), String(1_719_792_000_000_000_000n + BigInt(i)), 'AAPL', String(9_007_199_254_740_993n + BigInt(i)),
  `${100 + i}.25`, '10', 'V', i === 1 ? undefined : '@', 'C',
]);

describe('runAthenaQuery', () => {
  it('starts in the workgroup with the parameters, polls to success and reads every page into typed rows', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
    athena.on(GetQueryExecutionCommand)
      .resolvesOnce(state('QUEUED'))
      .resolvesOnce(state('RUNNING', 1_000))
      .resolves(state('SUCCEEDED', 123_456_789));
    const pages: GetQueryResultsOutput[] = [
      // The first row of the first page repeats the column names.
      { ResultSet: { ResultSetMetadata: METADATA, Rows: [text(TRADE_COLUMNS.map((c) => c.name)), tradeText(0), tradeText(1)] }, NextToken: 'p2' },
      { ResultSet: { ResultSetMetadata: METADATA, Rows: [tradeText(2), tradeText(3)] }, NextToken: 'p3' },
      { ResultSet: { ResultSetMetadata: METADATA, Rows: [tradeText(4)] } },
    ];
    athena.on(GetQueryResultsCommand).callsFake((input: { NextToken?: string }) => pages[input.NextToken === undefined ? 0 : Number(input.NextToken.slice(1)) - 1]);
    const progress: string[] = [];
    const result = await runAthenaQuery(client, request, { ...FAST, onProgress: (p) => progress.push(p.state) });

    const start = athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input;
    expect(start?.WorkGroup).toBe('tickvault');
    expect(start?.QueryExecutionContext).toEqual({ Database: 'tickvault', Catalog: 'AwsDataCatalog' });
    expect(start?.ExecutionParameters).toEqual(["'AAPL'", "'2024'", "'07'"]);
    expect(start?.ResultConfiguration).toBeUndefined(); // the workgroup enforces its own
    expect(start?.ClientRequestToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(progress).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
    expect(athena.commandCalls(GetQueryResultsCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'p2', 'p3']);

    expect(result.rows).toHaveLength(5);
    expect(result.rows[1]).toEqual({
      ts: 1_719_792_000_000_000_001n, ts_ns: 1_719_792_000_000_000_001n, symbol: 'AAPL', trade_id: 9_007_199_254_740_994n,
      price: 101.25, size: 10, exchange: 'V', conditions: null, tape: 'C',
    });
    expect(result.queryExecutionId).toBe(ID);
    expect(result.dataScannedBytes).toBe(123_456_789);
    expect(result.estimatedCostUsd).toBeCloseTo((118 * 2 ** 20 / 2 ** 40) * 5, 12);
    expect(result.engineExecutionMs).toBe(1234);
    expect(athena.commandCalls(StopQueryExecutionCommand)).toHaveLength(0);
  });

  it('types columns it was not told about from Athena\'s metadata (raw SQL), and passes an explicit output location', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
    athena.on(GetQueryExecutionCommand).resolves(state('SUCCEEDED', 10));
    athena.on(GetQueryResultsCommand).resolves({
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: [{ Name: 'n', Type: 'bigint' }, { Name: 'avg_price', Type: 'double' }, { Name: 'first_ts', Type: 'timestamp' }, { Name: 'd', Type: 'decimal' }] },
        Rows: [text(['n', 'avg_price', 'first_ts', 'd']), text(['12', '101.5', '2024-07-01 13:30:00.123', '1.10'])],
      },
    });
    const result = await runAthenaQuery(client, { sql: 'SELECT 1', parameters: [], workgroup: 'wg', database: 'db', outputLocation: 's3://results/athena/' }, FAST);
    expect(result.columns).toEqual([{ name: 'n', type: 'bigint' }, { name: 'avg_price', type: 'double' }, { name: 'first_ts', type: 'timestamp' }, { name: 'd', type: 'double' }]);
    expect(result.rows).toEqual([{ n: 12n, avg_price: 101.5, first_ts: '2024-07-01 13:30:00.123', d: 1.1 }]);
    const start = athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input;
    expect(start?.ExecutionParameters).toBeUndefined(); // Athena rejects an empty list
    expect(start?.ResultConfiguration).toEqual({ OutputLocation: 's3://results/athena/' });
    expect(result.estimatedCostUsd).toBe(estimatedCostUsd(10 * 2 ** 20)); // the 10 MB minimum
  });

  it('reports Athena\'s failure reason unchanged', async () => {
    const reason = "COLUMN_NOT_FOUND: line 1:8: Column 'prize' cannot be resolved or requester is not authorized to access requested resources";
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
    athena.on(GetQueryExecutionCommand).resolvesOnce(state('RUNNING')).resolves(state('FAILED', 2048, reason));
    const error = await runAthenaQuery(client, request, FAST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AthenaQueryFailedError);
    expect((error as AthenaQueryFailedError).reason).toBe(reason);
    expect((error as Error).message).toBe(`Athena query ${ID} failed: ${reason}`);
    expect((error as AthenaQueryFailedError).dataScannedBytes).toBe(2048);
    expect(athena.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
  });

  it('stops the query on Athena when the caller aborts (Ctrl-C)', async () => {
    const controller = new AbortController();
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
    athena.on(GetQueryExecutionCommand).callsFake(() => {
      controller.abort(); // the user presses Ctrl-C while the query runs
      return state('RUNNING', 5 * 2 ** 20);
    });
    athena.on(StopQueryExecutionCommand).resolves({});
    const error = await runAthenaQuery(client, request, { ...FAST, signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryCancelledError);
    expect((error as Error).message).toMatch(new RegExp(`${ID} cancelled and stopped \\(5\\.0 MB scanned\\)`));
    expect(athena.commandCalls(StopQueryExecutionCommand).map((c) => c.args[0].input)).toEqual([{ QueryExecutionId: ID }]);
  });

  it('stops the query on Athena at the timeout', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
    athena.on(GetQueryExecutionCommand).resolves(state('RUNNING'));
    athena.on(StopQueryExecutionCommand).resolves({});
    const error = await runAthenaQuery(client, request, { ...FAST, timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect((error as Error).message).toMatch(/stopped after the 0\.02 s timeout/);
    expect(athena.commandCalls(StopQueryExecutionCommand).map((c) => c.args[0].input)).toEqual([{ QueryExecutionId: ID }]);
    expect(athena.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
  });

  it('still reports the cancel when StopQueryExecution itself fails, and treats an Athena-side cancel as a cancel', async () => {
    const controller = new AbortController();
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
    athena.on(GetQueryExecutionCommand).callsFake(() => { controller.abort(); return state('RUNNING'); });
    athena.on(StopQueryExecutionCommand).rejects(new Error('InvalidRequestException: query already finished'));
    await expect(runAthenaQuery(client, request, { ...FAST, signal: controller.signal })).rejects.toBeInstanceOf(QueryCancelledError);

    athena.reset();
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
    athena.on(GetQueryExecutionCommand).resolves(state('CANCELLED', 0, 'Query was cancelled by user'));
    await expect(runAthenaQuery(client, request, FAST)).rejects.toThrow(/was cancelled: Query was cancelled by user/);
  });

  it('does not start at all when already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(runAthenaQuery(client, request, { signal: controller.signal })).rejects.toBeInstanceOf(QueryCancelledError);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
  });
});

describe('estimatedCostUsd', () => {
  it('charges $5 per TB, rounded up to the MB, 10 MB minimum, nothing for nothing scanned', () => {
    expect(estimatedCostUsd(0)).toBe(0);
    expect(estimatedCostUsd(1)).toBe((10 * 2 ** 20 / 2 ** 40) * 5);
    expect(estimatedCostUsd(2 ** 40)).toBe(5);
    expect(estimatedCostUsd(11 * 2 ** 20 + 1)).toBe((12 * 2 ** 20 / 2 ** 40) * 5);
  });
});
