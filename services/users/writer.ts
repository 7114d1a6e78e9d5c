/**
 * The users domain's feeders: batch consumers on the users and transactions streams that upsert
 * into Postgres and ack after the commit (nak with backoff when Postgres fails; a record that is
 * not one is terminated and logged).
 */
import type { JsMsg, NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { backoffDelay } from "../../actors/backoff";
import { errorMessage } from "../../lib/errors";
import { consumeInBatches, type BatchLoop } from "../../streams/batch-consumer";
import type { TxRecordIn, UserDomainStore, UserRecord } from "./store";
import type { UserDomainNames } from "./streams";

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
const optStr = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function userOf(v: unknown): UserRecord | undefined {
  if (!isRec(v) || typeof v["userId"] !== "string" || typeof v["kind"] !== "string" || typeof v["at"] !== "string")
    return undefined;
  const name = optStr(v["name"]);
  const email = optStr(v["email"]);
  const subject = optStr(v["subject"]);
  return {
    userId: v["userId"],
    kind: v["kind"],
    at: v["at"],
    ...(name !== undefined ? { name } : {}),
    ...(email !== undefined ? { email } : {}),
    ...(subject !== undefined ? { subject } : {}),
  };
}

function txOf(v: unknown): TxRecordIn | undefined {
  if (!isRec(v)) return undefined;
  const { id, kind, status, from, to, amount, fromPoints, toPoints, at } = v;
  if (
    typeof id !== "string" ||
    typeof kind !== "string" ||
    typeof status !== "string" ||
    typeof from !== "string" ||
    typeof to !== "string"
  )
    return undefined;
  if (
    typeof amount !== "number" ||
    typeof fromPoints !== "number" ||
    typeof toPoints !== "number" ||
    typeof at !== "number"
  )
    return undefined;
  const memo = optStr(v["memo"]);
  return { id, kind, status, from, to, amount, fromPoints, toPoints, at, ...(memo !== undefined ? { memo } : {}) };
}

/** The two running feeders. */
export type Feeders = readonly BatchLoop<{ written: number; dropped: number; failed: number }>[];

/** Starts both feeders. */
export async function startFeeders(o: {
  nats: NatsHandles;
  names: UserDomainNames;
  store: UserDomainStore;
  logger: Logger;
}): Promise<Feeders> {
  function loop<T>(
    stream: string,
    name: string,
    parse: (v: unknown) => T | undefined,
    write: (rows: T[]) => Promise<void>,
  ) {
    const stats = { written: 0, dropped: 0, failed: 0 };
    return consumeInBatches({
      nats: o.nats,
      stream,
      consumer: o.names.consumer,
      batchRows: 500,
      batchMs: 20,
      logger: o.logger,
      name,
      stats,
      write: async (batch: JsMsg[]) => {
        const rows: T[] = [];
        const msgs: JsMsg[] = [];
        for (const m of batch) {
          let v: unknown;
          try {
            v = m.json();
          } catch {
            v = undefined;
          }
          const r = parse(v);
          if (r) {
            rows.push(r);
            msgs.push(m);
          } else {
            stats.dropped++;
            o.logger.error({ subject: m.subject, seq: m.seq }, `${name}: unreadable record refused`);
            m.term("unreadable");
          }
        }
        try {
          await write(rows);
          for (const m of msgs) m.ack();
          stats.written += rows.length;
        } catch (err) {
          stats.failed++;
          o.logger.error({ err: errorMessage(err) }, `${name}: batch failed; will retry`);
          for (const m of msgs) m.nak(backoffDelay(m.info.deliveryCount, 500, 30_000));
        }
      },
    });
  }
  return Promise.all([
    loop(o.names.usersStream, "users feeder", userOf, (r) => o.store.writeUsers(r)),
    loop(o.names.txStream, "transactions feeder", txOf, (r) => o.store.writeTransactions(r)),
  ]);
}
