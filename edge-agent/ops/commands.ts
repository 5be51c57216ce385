/** Operator commands: `tickvault status`, `verify`, `repair`. */

export class OpsUsageError extends Error {
  override readonly name = 'UsageError';
}

function notYet(command: string): never {
  throw new OpsUsageError(`tickvault ${command} is not available in this build yet`);
}

export async function runStatusCommand(_argv: string[]): Promise<number> {
  return notYet('status');
}

export async function runVerifyCommand(_argv: string[]): Promise<number> {
  return notYet('verify');
}

export async function runRepairCommand(_argv: string[]): Promise<number> {
  return notYet('repair');
}
