/**
 * The Athena workgroup tickvault is queried through: engine version 3, results written SSE-KMS to the retained
 * query-results bucket, a bytes-scanned cutoff per query, and the workgroup's settings enforced over whatever a
 * client asks for. The saved queries of named-queries.ts come with it.
 */
import { Aws, Size } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import type * as glue from 'aws-cdk-lib/aws-glue';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import type { DataBucket } from './data-bucket.ts';
import { NAMED_QUERIES, type NamedQueryDefinition } from './named-queries.ts';

/** Athena refuses a per-query cutoff below 10 MB. */
const MIN_BYTES_SCANNED_CUTOFF = 10_000_000;

export interface QueryWorkgroupProps {
  /** The results bucket and the key results are encrypted with. */
  readonly data: DataBucket;
  /** The Glue database the saved queries run in. */
  readonly database: glue.CfnDatabase;
  /**
   * Workgroup name (a physical name: unique per account and region).
   * @default 'tickvault'
   */
  readonly workgroupName?: string;
  /**
   * Largest scan a single query may make before Athena cancels it.
   * @default Size.gibibytes(10)
   */
  readonly bytesScannedCutoffPerQuery?: Size;
  /**
   * Saved queries.
   * @default NAMED_QUERIES
   */
  readonly namedQueries?: readonly NamedQueryDefinition[];
}

export class QueryWorkgroup extends Construct {
  readonly workgroup: athena.CfnWorkGroup;
  readonly workgroupName: string;
  readonly namedQueries: readonly athena.CfnNamedQuery[];

  constructor(scope: Construct, id: string, props: QueryWorkgroupProps) {
    super(scope, id);
    this.workgroupName = props.workgroupName ?? 'tickvault';
    const cutoffBytes = (props.bytesScannedCutoffPerQuery ?? Size.gibibytes(10)).toBytes();
    if (cutoffBytes < MIN_BYTES_SCANNED_CUTOFF) {
      throw new InfraConfigError(`${this.node.path}: Athena's per-query cutoff must be at least ${MIN_BYTES_SCANNED_CUTOFF} bytes, got ${cutoffBytes}`);
    }
    const { queryResultsBucket, key } = props.data;
    this.workgroup = new athena.CfnWorkGroup(this, 'Workgroup', {
      name: this.workgroupName,
      description: 'tickvault market data: engine v3, encrypted results, bytes-scanned cutoff',
      state: 'ENABLED',
      // Lets `cdk destroy` remove the workgroup with its query history; results stay in the retained bucket.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        enforceWorkGroupConfiguration: true,
        bytesScannedCutoffPerQuery: cutoffBytes,
        publishCloudWatchMetricsEnabled: true,
        requesterPaysEnabled: false,
        resultConfiguration: {
          outputLocation: queryResultsBucket.s3UrlForObject('athena/'),
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: key.keyArn },
          expectedBucketOwner: Aws.ACCOUNT_ID,
        },
      },
    });

    // Ref of the workgroup and of the database are their names; they also order the queries after both.
    this.namedQueries = (props.namedQueries ?? NAMED_QUERIES).map((query) =>
      new athena.CfnNamedQuery(this, `Query-${query.name}`, {
        name: query.name,
        description: `${query.description} Parameters: ${query.parameters.join('; ')}.`.slice(0, 1024),
        database: props.database.ref,
        workGroup: this.workgroup.ref,
        queryString: query.sql,
      }));
  }
}
