/** The CDK app: one tickvault stack, configured from CDK context, checked against the AWS Solutions rules on every synth. */
import { App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig, stackProps } from '../lib/config.ts';
import { TickvaultStack } from '../lib/tickvault-stack.ts';

const app = new App();
const config = readConfig(app.node);

/** The account and region the CLI resolved, if any; without them the stack is environment-agnostic (synth offline, in CI). */
function defaultEnv(): Environment | undefined {
  const account = process.env['CDK_DEFAULT_ACCOUNT'];
  const region = process.env['CDK_DEFAULT_REGION'];
  if (account === undefined && region === undefined) return undefined;
  return { ...(account !== undefined && { account }), ...(region !== undefined && { region }) };
}
const env = defaultEnv();

new TickvaultStack(app, 'Tickvault', {
  ...stackProps(config),
  description: 'tickvault: tiered storage for market data (warm and cold Parquet in S3, Glue catalog, Athena, archival, edge access)',
  ...(env !== undefined && { env }),
});

// cdk-nag 3 is a policy-validation plugin (not an Aspect): it runs after synthesis and fails it on any
// unacknowledged finding. Acknowledgements live next to the resources they concern, each with its reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
