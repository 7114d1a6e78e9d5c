/**
 * Archived receipts, through the archive domain's actions (`archive.list`, `archive.get`,
 * called as this node): the listing continues past the hot rows in Postgres into the sealed
 * months with the same keyset cursor (created_at, id), and a receipt by id is found in the
 * archive once its month was sealed. The archive holds only sealed months, whose partitions
 * are gone, so nothing is listed twice. Where no node hosts the archive, only hot rows are read.
 */
import type { ServiceBroker } from "moleculer";
import { AppError } from "../../lib/errors";
import { decodeCursor, encodeCursor, MAX_PAGE, type ListQuery, type ReceiptListItem, type ReceiptPage } from "./store";
import { RECEIPT_STATUSES, type ReceiptFormat, type ReceiptStatus } from "./model";
import type { ReceiptView } from "./api";
import { timeOfId } from "./ids";

const DATASET = "receipts";

type Row = Readonly<Record<string, unknown>>;

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const status = (v: unknown): ReceiptStatus => RECEIPT_STATUSES.find((s) => s === v) ?? "RECEIVED";
const format = (v: unknown): ReceiptFormat => (v === "xml" ? "xml" : "json");

/** An archived row as a list item. */
function listItem(r: Row): ReceiptListItem {
  return {
    id: str(r["id"]) ?? "",
    type: str(r["type"]) ?? "",
    format: format(r["format"]),
    status: status(r["status"]),
    createdAt: str(r["created_at"]) ?? "",
    updatedAt: str(r["updated_at"]) ?? "",
    issuedAt: str(r["issued_at"]),
    total: typeof r["total"] === "number" ? r["total"] : null,
    currency: str(r["currency"]),
    references: { tax: str(r["tax_reference"]), warehouse: str(r["warehouse_reference"]) },
    reason: str(r["reason"]),
  };
}

function isNotHosted(err: unknown): boolean {
  return typeof err === "object" && err !== null && "name" in err && err.name === "ServiceNotFoundError";
}

async function call(broker: ServiceBroker | undefined, action: string, params: object): Promise<unknown> {
  if (!broker) return undefined;
  try {
    return await broker.call(action, params);
  } catch (err) {
    if (isNotHosted(err)) return undefined;
    throw new AppError("UNAVAILABLE", "the archive did not answer; try again");
  }
}

function rowsOf(answer: unknown): Row[] {
  if (typeof answer !== "object" || answer === null || !("items" in answer)) return [];
  const v: unknown = answer.items;
  return Array.isArray(v) ? v.filter((x): x is Row => typeof x === "object" && x !== null) : [];
}

/** The hot page, completed from the archive when it is not full (same order, same cursor). */
export async function withArchived(
  broker: ServiceBroker | undefined,
  q: ListQuery,
  hot: ReceiptPage,
): Promise<ReceiptPage> {
  const limit = Math.min(Math.max(1, q.limit ?? 100), MAX_PAGE);
  if (hot.nextCursor !== null) return hot;
  const last = hot.items.at(-1);
  const before = last ? { time: last.createdAt, id: last.id } : q.cursor ? decodeCursor(q.cursor) : undefined;
  const remaining = limit - hot.items.length;
  const answer = await call(broker, "archive.list", {
    dataset: DATASET,
    clientId: q.clientId,
    ...(q.from ? { from: q.from.toISOString() } : {}),
    ...(q.to ? { to: q.to.toISOString() } : {}),
    filters: { ...(q.status ? { status: q.status } : {}), ...(q.type ? { type: q.type } : {}) },
    ...(before ? { before: "time" in before ? before : { time: before.createdAt, id: before.id } } : {}),
    limit: remaining + 1,
  });
  const archived = rowsOf(answer).map(listItem);
  const items = [...hot.items, ...archived.slice(0, remaining)];
  const tail = items.at(-1);
  return { items, nextCursor: archived.length > remaining && tail ? encodeCursor(tail.createdAt, tail.id) : null };
}

/** An archived receipt of `clientId` (undefined when the archive has none). */
export async function archivedReceipt(
  broker: ServiceBroker | undefined,
  clientId: string,
  id: string,
): Promise<(ReceiptView & { readonly contentType: string; readonly original: string }) | undefined> {
  const answer = await call(broker, "archive.get", {
    dataset: DATASET,
    clientId,
    id,
    time: new Date(timeOfId(id)).toISOString(),
  });
  if (typeof answer !== "object" || answer === null || !("item" in answer)) return undefined;
  const r: unknown = answer.item;
  if (typeof r !== "object" || r === null) return undefined;
  const row: Row = { ...r };
  const doc = row["document"];
  return {
    ...listItem(row),
    document: typeof doc === "object" && doc !== null ? { ...doc } : {},
    contentType: str(row["content_type"]) ?? "application/octet-stream",
    original: str(row["original"]) ?? "",
  };
}

/** True when `id`'s month is wholly older than the hot window (so the archive is asked first). */
export function olderThanHot(id: string, hotDays: number, now = Date.now()): boolean {
  const t = new Date(timeOfId(id));
  const monthEnd = Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1);
  return monthEnd <= now - hotDays * 86_400_000;
}
