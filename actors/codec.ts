/** Encoding of payloads and headers shared by the runtime's modules. */
import { headers as natsHeaders, type MsgHdrs } from "../nats";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** JSON-encodes a payload to bytes. */
export function encodeJson(data: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(data));
}

/** Parses JSON bytes; throws on invalid UTF-8 or JSON. */
export function decodeJson<T = unknown>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}

/** NATS headers as a plain record (first value of each). */
export function headersToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/** A plain record as NATS headers (undefined when empty). */
export function recordToHeaders(rec: Readonly<Record<string, string>> | undefined): MsgHdrs | undefined {
  if (!rec) return undefined;
  const entries = Object.entries(rec);
  if (entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [k, v] of entries) h.set(k, v);
  return h;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
