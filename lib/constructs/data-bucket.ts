/**
 * The bucket that holds the warm and cold tiers, its customer-managed key, the bucket Athena writes query results
 * to, and the bucket their access logs go to. The buckets and the key are retained on stack update and delete:
 * losing them loses market data.
 *
 * Lifecycle of the data bucket:
 *  - warm objects tagged `tickvault:compacted=true` expire `warmExpiryAfterCompaction` after they were CREATED.
 *    S3 lifecycle counts only from creation; the compactor puts the tag once it has published the cold file, so
 *    an untagged (not yet compacted) object never expires, and a tagged one goes at the first lifecycle run after
 *    both conditions hold. "N days after compaction" is thereby approximated by "N days after upload, and only
 *    once compacted"; the retention Lambda applies the exact rule (it deletes a compacted object N days after the
 *    compaction), and this rule is the backstop when that Lambda is not running.
 *  - cold objects move to a cheaper storage class after `coldTransitionAfter`;
 *  - unfinished multipart uploads are aborted, overwritten or deleted versions expire, and delete markers left
 *    with no versions behind them are removed.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { COLD_PREFIX, WARM_PREFIX } from '../../core/layout.ts';
import { asIBucket } from '../bucket-interface.ts';
import { InfraConfigError } from '../errors.ts';

/** The tag the compactor puts on every warm object it has folded into a published cold file. */
export const COMPACTED_TAG = { key: 'tickvault:compacted', value: 'true' } as const;

/**
 * Storage classes cold objects may move to. Only classes Athena and DuckDB read directly: objects in GLACIER or
 * DEEP_ARCHIVE must be restored first, so queries over them fail.
 */
export const COLD_STORAGE_CLASSES = {
  GLACIER_IR: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
  STANDARD_IA: s3.StorageClass.INFREQUENT_ACCESS,
  ONEZONE_IA: s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS,
  INTELLIGENT_TIERING: s3.StorageClass.INTELLIGENT_TIERING,
} as const;
export type ColdStorageClass = keyof typeof COLD_STORAGE_CLASSES;

export interface DataBucketProps {
  /**
   * How long after its creation a compacted warm object (tagged `tickvault:compacted=true`) expires.
   * @default Duration.days(7)
   */
  readonly warmExpiryAfterCompaction?: Duration;
  /**
   * How long after its creation a cold object moves to `coldStorageClass`.
   * @default Duration.days(90)
   */
  readonly coldTransitionAfter?: Duration;
  /**
   * The storage class cold objects move to.
   * @default 'GLACIER_IR'
   */
  readonly coldStorageClass?: ColdStorageClass;
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
   * How long Athena query results are kept.
   * @default Duration.days(30)
   */
  readonly queryResultsExpiration?: Duration;
  /**
   * How long server access logs are kept.
   * @default Duration.days(365)
   */
  readonly accessLogsExpiration?: Duration;
  /**
   * Prefix of the data bucket's server access log objects in the logs bucket.
   * @default 'data-bucket/'
   */
  readonly accessLogsPrefix?: string;
}

export class DataBucket extends Construct {
  /** The warm and cold tiers: `warm/<dataset-root>/…` and `cold/<dataset-root>/…`. */
  readonly bucket: s3.Bucket;
  /** The customer-managed key every object in `bucket` and `queryResultsBucket` is encrypted with. */
  readonly key: kms.Key;
  /** Where Athena writes query results (the workgroup enforces it). */
  readonly queryResultsBucket: s3.Bucket;
  /** Receives the server access logs of the other two buckets. */
  readonly accessLogsBucket: s3.Bucket;
  /** How long after creation a compacted warm object expires (the retention Lambda gets the same value). */
  readonly warmExpiryAfterCompaction: Duration;

  constructor(scope: Construct, id: string, props: DataBucketProps = {}) {
    super(scope, id);
    // Deliver access logs under a bucket policy, not the legacy LogDeliveryWrite ACL, whatever the app's flags say:
    // ACLs stay disabled (BucketOwnerEnforced) on every bucket.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    this.warmExpiryAfterCompaction = props.warmExpiryAfterCompaction ?? Duration.days(7);
    const coldTransitionAfter = props.coldTransitionAfter ?? Duration.days(90);
    const coldStorageClass = props.coldStorageClass ?? 'GLACIER_IR';
    if ((coldStorageClass === 'STANDARD_IA' || coldStorageClass === 'ONEZONE_IA') && coldTransitionAfter.toDays() < 30) {
      throw new InfraConfigError(`${this.node.path}: S3 moves objects to ${coldStorageClass} no sooner than 30 days after creation, got ${coldTransitionAfter.toDays()}`);
    }

    this.key = new kms.Key(this, 'Key', {
      description: 'tickvault market data (warm and cold tiers, Athena query results)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Server access logs cannot be delivered to an SSE-KMS bucket, hence S3-managed keys here.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: props.accessLogsExpiration ?? Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const abortIncompleteMultipartUploadAfter = props.abortIncompleteMultipartUploadAfter ?? Duration.days(7);
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
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter },
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30) },
        {
          id: 'expire-compacted-warm-objects',
          prefix: WARM_PREFIX,
          tagFilters: { [COMPACTED_TAG.key]: COMPACTED_TAG.value },
          expiration: this.warmExpiryAfterCompaction,
        },
        {
          id: 'transition-cold-objects',
          prefix: COLD_PREFIX,
          transitions: [{ storageClass: COLD_STORAGE_CLASSES[coldStorageClass], transitionAfter: coldTransitionAfter }],
        },
        // Expiring a current version leaves a delete marker; once its old versions have expired too, drop it.
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.queryResultsBucket = new s3.Bucket(this, 'QueryResults', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: asIBucket(this.accessLogsBucket),
      serverAccessLogsPrefix: 'query-results/',
      lifecycleRules: [
        { id: 'expire-query-results', expiration: props.queryResultsExpiration ?? Duration.days(30) },
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
