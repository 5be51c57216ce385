/** Errors raised while building the CDK app: a construct was configured in a way it cannot honour. */
export class InfraConfigError extends Error {
  override readonly name: string = 'InfraConfigError';
}

/** A native package a Lambda bundle must ship could not be found, fetched or verified. */
export class NativePackageError extends InfraConfigError {
  override readonly name = 'NativePackageError';
}
