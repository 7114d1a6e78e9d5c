/**
 * The backup's stream file format (pure): one gzip file per stream, a sequence of framed
 * records, each one stored message:
 *
 *   u32 length of the rest | u64 stream sequence | u64 time (ns since epoch) |
 *   u16 subject length | subject | u32 headers length | headers (JSON [[name, value], ...]) |
 *   u32 data length | data
 *
 * and the content digest: SHA-256 over every record's sequence, subject, headers and data (not
 * its time: a restore stores messages anew). The backup computes it over what it wrote; the
 * restore over what the restored stream holds, read back from the server. Equal digests mean the
 * same messages at the same sequences.
 */
import { createHash, type Hash } from "node:crypto";
import { STORED_AT_HEADER } from "../streams/stored-at";

/** One stored message. */
export interface StreamRecord {
  readonly seq: number;
  readonly timeNs: bigint;
  readonly subject: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly data: Uint8Array;
}

/**
 * Headers a republish must not carry: expectations (`Nats-Expected-*`) were checked when the
 * message was first stored and would be checked again against a different history.
 */
export function keptHeader(name: string): boolean {
  return !name.toLowerCase().startsWith("nats-expected-");
}

/** Encodes one record (with its length prefix). */
export function encodeRecord(r: StreamRecord): Buffer {
  const subject = Buffer.from(r.subject, "utf8");
  const headers = r.headers.length > 0 ? Buffer.from(JSON.stringify(r.headers), "utf8") : Buffer.alloc(0);
  const body = 8 + 8 + 2 + subject.length + 4 + headers.length + 4 + r.data.length;
  const out = Buffer.allocUnsafe(4 + body);
  let o = out.writeUInt32BE(body, 0);
  o = out.writeBigUInt64BE(BigInt(r.seq), o);
  o = out.writeBigUInt64BE(r.timeNs, o);
  o = out.writeUInt16BE(subject.length, o);
  o += subject.copy(out, o);
  o = out.writeUInt32BE(headers.length, o);
  o += headers.copy(out, o);
  o = out.writeUInt32BE(r.data.length, o);
  Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).copy(out, o);
  return out;
}

/**
 * Splits a byte stream into records: feed it chunks in order, get whole records back; `end`
 * throws if bytes of a partial record are left over (a truncated file).
 */
export class RecordDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** The whole records completed by `chunk`. */
  push(chunk: Buffer): StreamRecord[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: StreamRecord[] = [];
    let o = 0;
    while (this.buf.length - o >= 4) {
      const len = this.buf.readUInt32BE(o);
      if (this.buf.length - o - 4 < len) break;
      const b = this.buf.subarray(o + 4, o + 4 + len);
      let p = 0;
      const seq = Number(b.readBigUInt64BE(p));
      p += 8;
      const timeNs = b.readBigUInt64BE(p);
      p += 8;
      const sl = b.readUInt16BE(p);
      p += 2;
      const subject = b.toString("utf8", p, p + sl);
      p += sl;
      const hl = b.readUInt32BE(p);
      p += 4;
      const headers = hl > 0 ? (JSON.parse(b.toString("utf8", p, p + hl)) as [string, string][]) : [];
      p += hl;
      const dl = b.readUInt32BE(p);
      p += 4;
      out.push({ seq, timeNs, subject, headers, data: b.subarray(p, p + dl) });
      o += 4 + len;
    }
    this.buf = this.buf.subarray(o);
    return out;
  }

  /** Throws when the input ended inside a record. */
  end(): void {
    if (this.buf.length > 0) throw new Error(`truncated stream file: ${this.buf.length} bytes of a partial record`);
  }
}

/** The content digest of a sequence of records (see the module doc). */
export class ContentDigest {
  private readonly h: Hash = createHash("sha256");
  count = 0;
  bytes = 0;

  /** Adds one message. */
  add(r: Pick<StreamRecord, "seq" | "subject" | "headers" | "data">): void {
    const head = Buffer.allocUnsafe(8);
    head.writeBigUInt64BE(BigInt(r.seq));
    this.h.update(head);
    this.h.update(r.subject);
    this.h.update("\0");
    // not the first store time a restore adds (like the time itself, not content)
    for (const [k, v] of r.headers) if (k !== STORED_AT_HEADER) this.h.update(`${k}:${v}\n`);
    this.h.update("\0");
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(r.data.length);
    this.h.update(len);
    this.h.update(r.data);
    this.count++;
    this.bytes += r.data.length;
  }

  /** The hex digest (call once). */
  hex(): string {
    return this.h.digest("hex");
  }
}
