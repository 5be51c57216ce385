/** Errors of the query client. Each names what was asked and what went wrong; causes are passed through. */

export class QueryError extends Error {
  override readonly name: string = 'QueryError';
}

/** A query that cannot be run as given: a bad symbol, range, interval, parameter, or raw SQL that is not a SELECT. */
export class QueryInputError extends QueryError {
  override readonly name = 'QueryInputError';

  constructor(
    /** The input at fault, as the user named it: `symbols`, `from`, `sql`, `param 2`, … */
    readonly input: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The agent's read API did not answer, or answered with something that is not hot-tier rows. */
export class HotTierReadError extends QueryError {
  override readonly name = 'HotTierReadError';
}

/** Athena ran the query and it failed; the message is Athena's own reason, unchanged. */
export class AthenaQueryFailedError extends QueryError {
  override readonly name = 'AthenaQueryFailedError';

  constructor(
    readonly queryExecutionId: string,
    readonly reason: string,
    readonly dataScannedBytes: number,
  ) {
    super(`Athena query ${queryExecutionId} failed: ${reason}`);
  }
}

/** The query was stopped: Ctrl-C (an AbortSignal) or an Athena-side cancel. */
export class QueryCancelledError extends QueryError {
  override readonly name = 'QueryCancelledError';
}

/** The query ran longer than --timeout and was stopped. */
export class QueryTimeoutError extends QueryError {
  override readonly name = 'QueryTimeoutError';
}
