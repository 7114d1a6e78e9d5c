/**
 * Pure parts of the console's DLQ page: which group (domain) a dead letter belongs to, the
 * filters, the replay order, and the validation of an edited body. No I/O here.
 */
import type { DlqEntry } from "../../actors/types";
import { DlqHeaders } from "../../actors/dlq-headers";
import { AppError } from "../../lib/errors";

/** Header set on a dead letter whose body an operator edited: the DLQ sequence it replaced. */
export const EDITED_FROM_HEADER = "Sy-Dlq-Edited-From";
/** Header set on an edited dead letter: who edited it. */
export const EDITED_BY_HEADER = "Sy-Dlq-Edited-By";

/** Largest edited body (bytes of its JSON). */
export const MAX_EDIT_BYTES = 256 * 1024;

/**
 * The group of a dead letter's subject `{ns}.dlq.<group...>.<key>`: `actor.<kind>` and
 * `job.<job>` for the runtime's, the domain's word otherwise (`{ns}.dlq.<domain>.<id>`).
 */
export function groupOf(ns: string, dlqSubject: string): string {
  const rest = dlqSubject.startsWith(`${ns}.dlq.`) ? dlqSubject.slice(ns.length + 5).split(".") : [];
  if ((rest[0] === "actor" || rest[0] === "job") && rest.length >= 3) return `${rest[0]}.${rest[1]}`;
  return rest[0] ?? "";
}

/** The NATS subject filter that selects a group's dead letters (every one for no group). */
export function groupFilter(ns: string, group: string | undefined): string {
  return group ? `${ns}.dlq.${group}.>` : `${ns}.dlq.>`;
}

/** A group name as the query may give it: subject tokens only. */
export const GROUP_PATTERN = "^[a-z][a-z0-9]{0,31}(\\.[a-z][a-z0-9]{0,31})?$";

/** Filters of the DLQ page besides the group. */
export interface DlqFilter {
  /** Case-insensitive substring of the original subject. */
  readonly subject?: string | undefined;
  /** Case-insensitive substring of the error. */
  readonly error?: string | undefined;
}

/** True when `e` passes `f`. */
export function matches(e: DlqEntry, f: DlqFilter): boolean {
  const has = (text: string, part: string | undefined) => !part || text.toLowerCase().includes(part.toLowerCase());
  return has(e.originalSubject, f.subject) && has(e.error, f.error);
}

/**
 * Replay order: by the original stream and sequence the messages were published with (an
 * edited entry keeps its original's), then by DLQ sequence; so a key's messages go back to
 * its mailbox in the order they first arrived, whatever order they were dead-lettered or edited.
 */
export function replayOrder(entries: readonly DlqEntry[]): DlqEntry[] {
  const origSeq = (e: DlqEntry) => Number(e.headers[DlqHeaders.Seq] ?? Number.MAX_SAFE_INTEGER);
  const origStream = (e: DlqEntry) => e.headers[DlqHeaders.Stream] ?? "";
  return [...entries].sort(
    (a, b) => origStream(a).localeCompare(origStream(b)) || origSeq(a) - origSeq(b) || a.seq - b.seq,
  );
}

/**
 * Checks an edited body against the entry it replaces: the original must be JSON (a binary or
 * sealed payload cannot be edited here), the new body JSON of the same shape (object for
 * object, array for array) and at most {@link MAX_EDIT_BYTES}. Throws 422 VALIDATION_ERROR.
 */
export function validateEdit(entry: DlqEntry, originalIsJson: boolean, data: unknown): string {
  if (!originalIsJson)
    throw new AppError(
      "VALIDATION_ERROR",
      "this dead letter's body is not JSON (binary or sealed): it cannot be edited",
      [{ path: "/body/data", message: "the original body is not JSON" }],
    );
  if (data === undefined)
    throw new AppError("VALIDATION_ERROR", "data is required", [{ path: "/body/data", message: "required" }]);
  const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
  if (kind(entry.data) !== kind(data))
    throw new AppError("VALIDATION_ERROR", `the edited body must be a JSON ${kind(entry.data)}, as the original`, [
      { path: "/body/data", message: `expected ${kind(entry.data)}, got ${kind(data)}` },
    ]);
  const text = JSON.stringify(data);
  if (Buffer.byteLength(text) > MAX_EDIT_BYTES)
    throw new AppError("VALIDATION_ERROR", `the edited body is over ${MAX_EDIT_BYTES} bytes`, [
      { path: "/body/data", message: "too large" },
    ]);
  return text;
}
