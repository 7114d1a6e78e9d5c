/**
 * Client change notices: after a client is created, suspended, activated or rotated, the writer publishes
 * one plain NATS message on `topology.gateway.clientChanges`; every gateway node evicts its
 * cached entries for that client. NATS core is at most once: the gateway's short in-process TTL
 * is the safety net for a missed notice.
 */
import type { NatsConnection } from "../../../nats";
import type { ClientStatus } from "./types";

/** One change. `version` is the client's new updated_at (µs): older cached copies are stale. */
export interface ClientChange {
  readonly clientId: string;
  readonly version: number;
  /** The client's keys changed (rotation): cached key entries must go too. */
  readonly keys: boolean;
  readonly status?: ClientStatus;
  /** Ids of keys just issued (create, rotation): nodes that remember them as unknown forget that. */
  readonly keyIds?: readonly string[];
}

const KEY_ID = /^[0-9a-f]{16}$/;

/** Parses a notice; undefined for anything malformed. */
export function decodeClientChange(data: Uint8Array): ClientChange | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString("utf8")) as Partial<ClientChange>;
    if (typeof v.clientId !== "string" || typeof v.version !== "number" || typeof v.keys !== "boolean")
      return undefined;
    const keyIds = Array.isArray(v.keyIds)
      ? v.keyIds.filter((k): k is string => typeof k === "string" && KEY_ID.test(k)).slice(0, 16)
      : [];
    return {
      clientId: v.clientId,
      version: v.version,
      keys: v.keys,
      ...(v.status ? { status: v.status } : {}),
      ...(keyIds.length > 0 ? { keyIds } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Publishes `change` on `subject` and waits until the server has it (flush). */
export async function publishClientChange(nc: NatsConnection, subject: string, change: ClientChange): Promise<void> {
  nc.publish(subject, JSON.stringify(change));
  await nc.flush();
}
