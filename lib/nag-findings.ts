/**
 * Acknowledging cdk-nag findings. Every acknowledgement names one finding exactly as cdk-nag reports it (for IAM5,
 * the wildcard resource or action in brackets), sits on the narrowest construct that produces it, and says why.
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges finding `id` on `scope` and everything under it. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** The IAM5 finding for a wildcard resource `<element>.Arn` + `suffix`, e.g. `<DataBucket123.Arn>/warm/*`. */
export function wildcardArnFinding(element: CfnElement, suffix: string): string {
  return `AwsSolutions-IAM5[Resource::<${Stack.of(element).getLogicalId(element)}.Arn>${suffix}]`;
}

/** The IAM5 finding for `Resource: '*'`. */
export const STAR_RESOURCE_FINDING = 'AwsSolutions-IAM5[Resource::*]';
