/**
 * Effects: resolved (pure) into concrete publishes with idempotency keys when a handler
 * returns them, stored with the state, then executed at least once. `Nats-Msg-Id` makes a
 * re-executed publish a no-op inside the stream's duplicate window.
 */
import type { Effect, JobEnvelope } from "./types";
import type { Topology } from "../streams/subjects";
import { partitionOf } from "../streams/subjects";

/** An effect ready to execute: a durable publish or a live-plane event. */
export type ResolvedEffect =
  | {
      readonly t: "pub";
      readonly subject: string;
      readonly id: string;
      readonly data: unknown;
      readonly headers?: Readonly<Record<string, string>>;
    }
  | { readonly t: "emit"; readonly event: string; readonly payload: unknown }
  /** A core NATS publish (live plane, at most once). */
  | { readonly t: "notify"; readonly subject: string; readonly data: unknown }
  /**
   * A local job: run by the actor's host on this node after the state write that records it
   * (never published unless it is escalated to `subject`, the jobs stream).
   */
  | { readonly t: "local"; readonly subject: string; readonly id: string; readonly data: JobEnvelope };

/** A resolved effect that is executed by publishing or emitting (everything but local jobs). */
export type PublishedEffect = Exclude<ResolvedEffect, { t: "local" }>;

/** What resolution needs to know about the world. */
export interface ResolveContext {
  readonly topology: Topology;
  readonly kind: string;
  readonly key: string;
  readonly seq: number;
  readonly now: number;
  /** What default ids are made of instead of `seq` (local job results, which have no sequence of their own). */
  readonly idBase?: string;
  /** Partition count of an actor kind (to address `send` effects). */
  partitionsOf(kind: string): number;
  /** Default deadline of a job (ms after creation). */
  jobDeadlineMs(job: string): number;
}

/** Turns a handler's effects into concrete publishes; ids default to `{kind}:{key}:{seq}:{i}`. */
export function resolveEffects(effects: readonly Effect[] | undefined, c: ResolveContext): ResolvedEffect[] {
  if (!effects) return [];
  return effects.map((e, i): ResolvedEffect => {
    const id = ("id" in e && e.id) || `${c.kind}:${c.key}:${c.idBase ?? c.seq}:${i}`;
    switch (e.type) {
      case "send": {
        const p = partitionOf(e.key, c.partitionsOf(e.kind));
        return {
          t: "pub",
          subject: c.topology.actors.subject(e.kind, p, e.key),
          id,
          data: e.data,
          ...(e.headers ? { headers: e.headers } : {}),
        };
      }
      case "job": {
        const envelope: JobEnvelope = {
          id,
          job: e.job,
          data: e.data,
          createdAt: c.now,
          deadline: c.now + (e.deadlineMs ?? c.jobDeadlineMs(e.job)),
          replyTo: e.replyTo === undefined ? { kind: c.kind, key: c.key } : e.replyTo,
        };
        const subject = c.topology.jobs.subject(e.job, c.key);
        // local only when the result comes back to this actor (or goes nowhere)
        const self = envelope.replyTo === null || (envelope.replyTo.kind === c.kind && envelope.replyTo.key === c.key);
        if (e.local === true && self) return { t: "local", subject, id, data: envelope };
        return { t: "pub", subject, id, data: envelope };
      }
      case "publish":
        return { t: "pub", subject: e.subject, id, data: e.data, ...(e.headers ? { headers: e.headers } : {}) };
      case "emit":
        return { t: "emit", event: e.event, payload: e.payload };
      case "notify":
        return { t: "notify", subject: e.subject, data: e.data };
    }
  });
}
