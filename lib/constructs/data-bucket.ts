/**
 * The bucket that holds the warm and cold tiers, its customer-managed key, and the bucket its access logs go to.
 * Everything here is retained on stack update and delete: losing it loses market data.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { asIBucket } from '../bucket-interface.ts';

export interface DataBucketProps {
  /**
   * How long an overwritten or deleted object version is kept before S3 expires it.
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * How long an unfinished multipart upload may sit before S3 aborts it and frees its parts.
   * @default Duration.days(7)
   */
  readonly abortIncompleteMultipartUploadAfter?: Duration;
  /**
   * Prefix of the server access log objects in the logs bucket.
   * @default 'data-bucket/'
   */
  readonly accessLogsPrefix?: string;
}

export class DataBucket extends Construct {
  /** The warm and cold tiers: `warm/<dataset-root>/…` and `cold/<dataset-root>/…`. */
  readonly bucket: s3.Bucket;
  /** The customer-managed key every object in `bucket` is encrypted with. */
  readonly key: kms.Key;
  /** Receives the data bucket's server access logs. */
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataBucketProps = {}) {
    super(scope, id);
    // Deliver access logs under a bucket policy, not the legacy LogDeliveryWrite ACL, whatever the app's flags say:
    // ACLs stay disabled (BucketOwnerEnforced) on both buckets.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    this.key = new kms.Key(this, 'Key', {
      description: 'tickvault market data (warm and cold tiers)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Server access logs cannot be delivered to an SSE-KMS bucket, hence S3-managed keys here.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of per object: compaction reads thousands of small warm files.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: asIBucket(this.accessLogsBucket),
      serverAccessLogsPrefix: props.accessLogsPrefix ?? 'data-bucket/',
      lifecycleRules: [
        {
          id: 'abort-incomplete-multipart-uploads',
          abortIncompleteMultipartUploadAfter: props.abortIncompleteMultipartUploadAfter ?? Duration.days(7),
        },
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
