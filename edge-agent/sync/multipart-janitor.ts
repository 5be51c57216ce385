/**
 * Incomplete multipart uploads are invisible in listings but hold (and on AWS, bill) their parts until aborted.
 * lib-storage aborts a failed upload itself, but not when the abort fails too, nor when the process is killed
 * mid-upload. The uploader sweeps its own leftovers (keys of its agent id, not in flight) at start and after every
 * multipart attempt, failed or not (a key in flight during one sweep is swept by the next), and drain reports done
 * only after a sweep with nothing in flight.
 *
 * On AWS, also set a bucket lifecycle rule (AbortIncompleteMultipartUpload) as the backstop for agents that never
 * come back.
 */
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';

export interface IncompleteUploadJanitor {
  /** Aborts incomplete multipart uploads whose store key starts with `prefix` and passes `select`; returns their keys. */
  abortIncomplete(prefix: string, select: (key: string) => boolean): Promise<string[]>;
}

export interface S3IncompleteUploadJanitorOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** The store's key prefix ('' or ending in '/'), as given to S3ObjectStore. @default '' */
  readonly prefix?: string;
}

/** A janitor over ListMultipartUploads and AbortMultipartUpload of one bucket (and store prefix). */
export function s3IncompleteUploadJanitor(options: S3IncompleteUploadJanitorOptions): IncompleteUploadJanitor {
  const storePrefix = options.prefix ?? '';
  return {
    async abortIncomplete(prefix, select) {
      const uploads: { key: string; uploadId: string }[] = [];
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      for (;;) {
        const page = await options.client.send(
          new ListMultipartUploadsCommand({
            Bucket: options.bucket,
            Prefix: storePrefix + prefix,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
          }),
        );
        for (const u of page.Uploads ?? []) {
          if (u.Key === undefined || u.UploadId === undefined || !u.Key.startsWith(storePrefix)) continue;
          uploads.push({ key: u.Key.slice(storePrefix.length), uploadId: u.UploadId });
        }
        if (page.IsTruncated !== true) break;
        keyMarker = page.NextKeyMarker;
        uploadIdMarker = page.NextUploadIdMarker;
        if (keyMarker === undefined && uploadIdMarker === undefined) break;
      }
      const aborted: string[] = [];
      for (const { key, uploadId } of uploads) {
        // Asked at abort time, not at list time: an upload of this key may have started since.
        if (!select(key)) continue;
        try {
          await options.client.send(
            new AbortMultipartUploadCommand({ Bucket: options.bucket, Key: storePrefix + key, UploadId: uploadId }),
          );
        } catch (err) {
          // Completed or aborted meanwhile: nothing left to clean.
          if (!(err instanceof Error && err.name === 'NoSuchUpload')) throw err;
        }
        aborted.push(key);
      }
      return aborted;
    },
  };
}
