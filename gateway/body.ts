/**
 * Request bodies: media type negotiation (415), bounded reading (413 by Content-Length or as
 * the bytes arrive, 408 when the body is too slow), strict UTF-8 decoding (400), JSON parsing
 * with a nesting limit, XML well-formedness and form decoding. The exact text received is kept
 * for actions that store "the exact bytes submitted".
 */
import type { IncomingMessage } from "node:http";
import { XMLValidator } from "fast-xml-parser";
import { AppError } from "../lib/errors";
import type { MediaType, RawBody } from "./routes";

/** Deepest JSON nesting accepted; deeper documents are refused before validation recurses. */
export const MAX_JSON_DEPTH = 64;

/**
 * The media type a `Content-Type` header names, if it is one of `accepted`; 415 otherwise.
 * `text/xml` and `+xml` types count as `application/xml`, `+json` types as `application/json`.
 * A charset other than UTF-8 is refused.
 */
export function negotiateMediaType(header: string | undefined, accepted: readonly MediaType[]): MediaType {
  const refuse = (why: string) =>
    new AppError("UNSUPPORTED_MEDIA_TYPE", `${why}; this route accepts ${accepted.join(", ")}`);
  if (header === undefined || header.trim() === "") throw refuse("Content-Type is missing");
  const [typePart, ...paramParts] = header.split(";");
  const type = typePart!.trim().toLowerCase();
  for (const p of paramParts) {
    const eq = p.indexOf("=");
    if (eq === -1) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    const value = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    if (name === "charset" && value !== "utf-8" && value !== "utf8")
      throw refuse(`charset ${JSON.stringify(value).slice(0, 40)} is not supported (UTF-8 only)`);
  }
  let media: MediaType | undefined;
  if (type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type)) media = "application/json";
  else if (type === "application/xml" || type === "text/xml" || /^application\/[a-z0-9.+-]+\+xml$/.test(type))
    media = "application/xml";
  else if (type === "application/x-www-form-urlencoded") media = "application/x-www-form-urlencoded";
  if (!media || !accepted.includes(media))
    throw refuse(`Content-Type ${JSON.stringify(type.slice(0, 80))} is not accepted`);
  return media;
}

/** True when the request announces a body (Content-Length > 0 or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers["content-length"];
  if (cl !== undefined) return cl !== "0";
  return req.headers["transfer-encoding"] !== undefined;
}

/**
 * Reads the whole body of `req`, refusing more than `limit` bytes (413, before reading when
 * Content-Length says so) and bodies that take longer than `timeoutMs` (408).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined) {
    const n = Number(declared);
    if (n > limit)
      return Promise.reject(
        new AppError("PAYLOAD_TOO_LARGE", `request body of ${n} bytes exceeds the limit of ${limit} bytes`),
      );
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: AppError | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(new AppError("PAYLOAD_TOO_LARGE", `request body exceeds the limit of ${limit} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = () => finish(new AppError("BAD_REQUEST", "request body could not be read"));
    const onAborted = () => finish(new AppError("BAD_REQUEST", "request body was cut off"));
    const timer = setTimeout(
      () => finish(new AppError("REQUEST_TIMEOUT", `request body did not arrive within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
    if (req.readableEnded) finish(null);
  });
}

/** A decoded body: the parsed value (JSON, form) and/or the exact text. */
export interface DecodedBody {
  readonly body?: unknown;
  readonly raw?: RawBody;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Depth of the deepest array/object nesting in `value` (iterative: no recursion on hostile input). */
export function jsonDepth(value: unknown, stopAt = MAX_JSON_DEPTH + 1): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max >= stopAt) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth]);
    }
  }
  return max;
}

/**
 * Decodes `buf` as `media`: UTF-8 (400 INVALID_ENCODING), then JSON (400 INVALID_JSON, nesting
 * at most {@link MAX_JSON_DEPTH}), XML (400 INVALID_XML when not well-formed; never parsed
 * here, handed on raw) or form fields. `keepRaw` adds the exact text for JSON and forms.
 */
export function decodeBody(buf: Buffer, media: MediaType, keepRaw: boolean): DecodedBody {
  let text: string;
  try {
    text = utf8.decode(buf);
  } catch {
    throw new AppError("INVALID_ENCODING", "request body is not valid UTF-8");
  }
  const raw: RawBody = { text, contentType: media, bytes: buf.length };
  const unbommed = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  switch (media) {
    case "application/json": {
      let body: unknown;
      try {
        body = JSON.parse(unbommed);
      } catch (err) {
        throw new AppError("INVALID_JSON", `request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
      }
      if (jsonDepth(body) > MAX_JSON_DEPTH)
        throw new AppError("INVALID_JSON", `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
      return keepRaw ? { body, raw } : { body };
    }
    case "application/xml": {
      const res = XMLValidator.validate(unbommed, { allowBooleanAttributes: true });
      if (res !== true) {
        const { msg, line, col } = res.err;
        throw new AppError("INVALID_XML", "request body is not well-formed XML", [
          { path: `line ${line}, column ${col}`, message: msg.slice(0, 200) },
        ]);
      }
      return { raw };
    }
    case "application/x-www-form-urlencoded": {
      const body: Record<string, string | string[]> = {};
      for (const [k, v] of new URLSearchParams(unbommed)) {
        const prev = body[k];
        body[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      return keepRaw ? { body, raw } : { body };
    }
  }
}

/** The query string of `url` as fields (repeated names become arrays). */
export function parseQuery(url: string): Record<string, string | string[]> {
  const q = url.indexOf("?");
  const out: Record<string, string | string[]> = {};
  if (q === -1) return out;
  for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
