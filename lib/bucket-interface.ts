import type * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * A Bucket viewed as an IBucket. aws-cdk-lib declares `Bucket.isWebsite` as a getter returning
 * `boolean | undefined` but `IBucket.isWebsite` as an optional `boolean`, which exactOptionalPropertyTypes
 * rejects as unassignable; the two agree at run time, so this is the one place that says so.
 */
export function asIBucket(bucket: s3.Bucket): s3.IBucket {
  return bucket as s3.IBucket;
}
