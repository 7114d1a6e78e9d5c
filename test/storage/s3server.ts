/** An S3 server for the tests: s3rver on a free loopback port over a temporary directory. */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import S3rver from "s3rver";
import { freePort } from "../support/ports";

/** A running s3rver. */
export interface TestS3 {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  close(): Promise<void>;
}

/** Starts s3rver with `bucket` configured (its well-known S3RVER credentials). */
export async function startS3rver(bucket: string): Promise<TestS3> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sy-s3rver-"));
  const port = await freePort();
  const server = new S3rver({
    port,
    address: "127.0.0.1",
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
