/** The CDK app: one tickvault stack, checked against the AWS Solutions rules on every synth. */
import { App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InfraConfigError } from '../lib/errors.ts';
import { TickvaultStack } from '../lib/tickvault-stack.ts';

const app = new App();

const stackName: unknown = app.node.tryGetContext('stackName');
if (stackName !== undefined && (typeof stackName !== 'string' || stackName.length === 0)) {
  throw new InfraConfigError(`context key stackName must be a non-empty string (cdk -c stackName=NAME), got ${JSON.stringify(stackName)}`);
}

/** The account and region the CLI resolved, if any; without them the stack is environment-agnostic (synth offline, in CI). */
function defaultEnv(): Environment | undefined {
  const account = process.env['CDK_DEFAULT_ACCOUNT'];
  const region = process.env['CDK_DEFAULT_REGION'];
  if (account === undefined && region === undefined) return undefined;
  return { ...(account !== undefined && { account }), ...(region !== undefined && { region }) };
}
const env = defaultEnv();

new TickvaultStack(app, 'Tickvault', {
  stackName: stackName ?? 'Tickvault',
  description: 'tickvault: tiered storage for market data (warm and cold Parquet in S3, Glue catalog, compactor)',
  ...(env !== undefined && { env }),
});

// cdk-nag 3 is a policy-validation plugin (not an Aspect): it runs after synthesis and fails it on any
// unacknowledged error. Acknowledgements live next to the resources they concern, each with its reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
