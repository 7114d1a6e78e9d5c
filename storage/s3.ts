/**
 * The S3 backend (`@aws-sdk/client-s3`): AWS S3, MinIO (docker-compose.yml) or any
 * S3-compatible server (the tests start s3rver). Bodies up to one part go in one PutObject;
 * larger ones as a multipart upload (parts of `partBytes`, at least 5 MiB as S3 requires), aborted
 * if anything fails. The SHA-256 computed while sending is kept as the object's metadata
 * `sha256` (for a multipart upload, set afterwards by copying the object onto itself with the
 * metadata replaced: S3 takes metadata only when an upload starts).
 */
import { createHash } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { errorMessage } from "../lib/errors";
import { partsOf } from "./body";
import { checkKey, StorageError, type ObjectInfo, type ObjectListing, type ObjectStore } from "./types";

/** Where and how to reach an S3-compatible store. */
export interface S3Options {
  /** e.g. http://127.0.0.1:9000 (MinIO); unset for AWS itself. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Path-style addressing (MinIO, s3rver): default true when an endpoint is given. */
  readonly forcePathStyle?: boolean;
  /** Size of each part of a multipart upload; default 8 MiB (at least 5 MiB). */
  readonly partBytes?: number;
  /** Create the bucket when it does not exist (development; default false). */
  readonly createBucket?: boolean;
}

const MIN_PART = 5 * 1024 * 1024;

function notFound(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const name = "name" in err ? err.name : undefined;
  const meta = "$metadata" in err ? err.$metadata : undefined;
  const status =
    typeof meta === "object" && meta !== null && "httpStatusCode" in meta ? meta.httpStatusCode : undefined;
  return name === "NoSuchKey" || name === "NotFound" || status === 404;
}

function backendError(op: string, key: string, err: unknown): StorageError {
  return new StorageError("BACKEND", `S3 ${op} ${key}: ${errorMessage(err)}`);
}

/** Opens the S3 backend (checks that the bucket answers; creates it when asked to). */
export async function openS3Store(o: S3Options): Promise<ObjectStore> {
  // loaded on first use: a node that never opens S3 does not pay for the SDK at start-up
  const {
    S3Client,
    PutObjectCommand,
    GetObjectCommand,
    HeadObjectCommand,
    ListObjectsV2Command,
    DeleteObjectCommand,
    CreateMultipartUploadCommand,
    UploadPartCommand,
    CompleteMultipartUploadCommand,
    AbortMultipartUploadCommand,
    CopyObjectCommand,
    CreateBucketCommand,
    HeadBucketCommand,
  } = await import("@aws-sdk/client-s3");
  const partBytes = Math.max(MIN_PART, o.partBytes ?? 8 * 1024 * 1024);
  const s3: S3Client = new S3Client({
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    forcePathStyle: o.forcePathStyle ?? o.endpoint !== undefined,
    credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
    // our own SHA-256 is the checksum; the SDK's default CRC32 trailers are not understood by every S3-compatible server
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const Bucket = o.bucket;
  try {
    await s3.send(new HeadBucketCommand({ Bucket }));
  } catch (err) {
    if (!o.createBucket || !notFound(err)) {
      s3.destroy();
      throw backendError("bucket", Bucket, err);
    }
    await s3.send(new CreateBucketCommand({ Bucket }));
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    try {
      const h = await s3.send(new HeadObjectCommand({ Bucket, Key: key }));
      return {
        key,
        size: h.ContentLength ?? 0,
        sha256: h.Metadata?.["sha256"] ?? "",
        modified: h.LastModified ?? new Date(0),
        contentType: h.ContentType ?? null,
      };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw backendError("head", key, err);
    }
  }

  return {
    backend: "s3",

    async put(key, body, options) {
      checkKey(key);
      const ContentType = options?.contentType ?? "application/octet-stream";
      const hash = createHash("sha256");
      const parts = partsOf(body, partBytes)[Symbol.asyncIterator]();
      const first = await parts.next();
      const firstPart = first.done ? Buffer.alloc(0) : first.value;
      const second = first.done ? { done: true as const, value: undefined } : await parts.next();
      if (second.done) {
        hash.update(firstPart);
        const sha256 = hash.digest("hex");
        try {
          await s3.send(new PutObjectCommand({ Bucket, Key: key, Body: firstPart, ContentType, Metadata: { sha256 } }));
        } catch (err) {
          throw backendError("put", key, err);
        }
        return { key, size: firstPart.length, sha256, modified: new Date(), contentType: ContentType };
      }
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType }));
      if (!UploadId) throw new StorageError("BACKEND", `S3 multipart ${key}: no upload id`);
      const done: { ETag: string; PartNumber: number }[] = [];
      let size = 0;
      try {
        const send = async (part: Buffer): Promise<void> => {
          hash.update(part);
          size += part.length;
          const PartNumber = done.length + 1;
          const r = await s3.send(new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber, Body: part }));
          done.push({ ETag: r.ETag ?? "", PartNumber });
        };
        await send(firstPart);
        await send(second.value);
        for (let p = await parts.next(); !p.done; p = await parts.next()) await send(p.value);
        await s3.send(
          new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }),
        );
      } catch (err) {
        await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId })).catch(() => undefined);
        throw backendError("multipart put", key, err);
      }
      const sha256 = hash.digest("hex");
      try {
        await s3.send(
          new CopyObjectCommand({
            Bucket,
            Key: key,
            CopySource: `${Bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}`,
            MetadataDirective: "REPLACE",
            Metadata: { sha256 },
            ContentType,
          }),
        );
      } catch (err) {
        throw backendError("checksum metadata", key, err);
      }
      return { key, size, sha256, modified: new Date(), contentType: ContentType };
    },

    async get(key) {
      checkKey(key);
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
        const body = r.Body;
        if (!body) return undefined;
        return body.transformToWebStream();
      } catch (err) {
        if (notFound(err)) return undefined;
        throw backendError("get", key, err);
      }
    },

    async getRange(key, start, length) {
      checkKey(key);
      if (length <= 0) return (await head(key)) ? Buffer.alloc(0) : undefined;
      try {
        const r = await s3.send(
          new GetObjectCommand({ Bucket, Key: key, Range: `bytes=${start}-${start + length - 1}` }),
        );
        return r.Body ? Buffer.from(await r.Body.transformToByteArray()) : undefined;
      } catch (err) {
        if (notFound(err)) return undefined;
        // a range past the end
        if (typeof err === "object" && err !== null && "name" in err && err.name === "InvalidRange")
          return Buffer.alloc(0);
        throw backendError("range get", key, err);
      }
    },

    head,

    async list(prefix) {
      const out: ObjectListing[] = [];
      let ContinuationToken: string | undefined;
      do {
        const r = await s3.send(
          new ListObjectsV2Command({ Bucket, Prefix: prefix, ...(ContinuationToken ? { ContinuationToken } : {}) }),
        );
        for (const c of r.Contents ?? [])
          if (c.Key) out.push({ key: c.Key, size: c.Size ?? 0, modified: c.LastModified ?? new Date(0) });
        ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async delete(key) {
      const existed = (await head(key)) !== undefined;
      if (existed) await s3.send(new DeleteObjectCommand({ Bucket, Key: key }));
      return existed;
    },

    close() {
      s3.destroy();
      return Promise.resolve();
    },
  };
}
