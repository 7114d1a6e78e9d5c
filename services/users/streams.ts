/**
 * The users domain's consumers. It reads two streams other domains publish (by subject, the
 * only contract between domains):
 *
 *   {ns}.users.created        stream {NS}_USERS         a user was onboarded
 *   {ns}.transactions.{kind}  stream {NS}_TRANSACTIONS  a transaction posted, pending or voided
 *
 * with one durable consumer each, "userdomain", shared by every node hosting the domain.
 */
import { AckPolicy, DeliverPolicy } from "../../nats";
import type { Declaration } from "../../streams/declarations";
import type { Topology } from "../../streams/subjects";

/** Names the users domain reads. */
export interface UserDomainNames {
  readonly usersStream: string;
  readonly usersFilter: string;
  readonly txStream: string;
  readonly txFilter: string;
  readonly consumer: string;
}

/** Names for namespace `ns`. */
export function userDomainNames(ns: string): UserDomainNames {
  const NS = ns.toUpperCase();
  return {
    usersStream: `${NS}_USERS`,
    usersFilter: `${ns}.users.created`,
    txStream: `${NS}_TRANSACTIONS`,
    txFilter: `${ns}.transactions.*`,
    consumer: "userdomain",
  };
}

const NANOS_PER_MS = 1_000_000;

/** The two durable consumers (their streams are declared by the domains that publish them). */
export function userDomainDeclarations(topo: Topology): Declaration[] {
  const n = userDomainNames(topo.ns);
  const consumer = (stream: string, filter: string): Declaration => ({
    type: "consumer",
    stream,
    config: {
      durable_name: n.consumer,
      filter_subject: filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 60_000 * NANOS_PER_MS,
      max_ack_pending: 20_000,
      max_deliver: -1,
    },
  });
  return [consumer(n.usersStream, n.usersFilter), consumer(n.txStream, n.txFilter)];
}
