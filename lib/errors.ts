/** Errors raised while building the CDK app: a construct was configured in a way it cannot honour. */
export class InfraConfigError extends Error {
  override readonly name = 'InfraConfigError';
}
