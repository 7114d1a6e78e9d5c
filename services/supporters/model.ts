/**
 * The supporters domain's vocabulary: the producers (sources), the payload they send (defined
 * once, in schema.ts), the commands a supporter actor understands, and the typed references
 * of its delivery jobs. Pure: no I/O.
 */
import { defineJob } from "../../actors/refs";
import type { JobResult } from "../../actors/types";

/** Producers of supporter identities and events; each is one subject token. */
export const SOURCES = [
  "contact-store",
  "giftaid",
  "prize-platform",
  "sms",
  "payments",
  "justgiving",
  "mobilise",
  "marketing-preferences",
  "esu",
  "rtbf",
  "shop",
] as const;
export type Source = (typeof SOURCES)[number];

/**
 * True when `v` is an object (arrays included) whose fields can be read, each to be checked on
 * its own: how a payload from outside (a mailbox, a stream, a request body) is looked into.
 */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

/** True when `s` names a known source. */
export function isSource(s: unknown): s is Source {
  return typeof s === "string" && (SOURCES as readonly string[]).includes(s);
}

/**
 * The right-to-be-forgotten producer: a payload from this source is a forget request for the
 * identity it carries (its events are recorded by type only and never forwarded).
 */
export const RTBF_SOURCE: Source = "rtbf";

/**
 * The owner of a message from a NATS producer (JetStream capture or request/reply): its
 * source. Gateway clients own theirs by client id (`cl_...`), which never looks like this.
 */
export function natsOwner(source: string): string {
  return `nats:${source}`;
}

/**
 * Header of a gateway intake message ({ns}.supporters.ctl.{source}) naming the client that sent
 * it. Trusted because only platform nodes may publish on ctl.* (as for ctl.forget).
 */
export const OWNER_HEADER = "Switchyard-Client";

/** Owners as the pump accepts them from the gateway intake's header (client ids, "operator"). */
export const OWNER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$/;

/** The two downstream steps, in the order every message goes through them. */
export const STEPS = ["user", "erp"] as const;
export type Step = (typeof STEPS)[number];

/**
 * A message as the pump hands it to the supporter actor: personal data only in `identity` and
 * `events`, sealed with the supporter's data key (key id `kid`).
 */
export interface IntakeMessage {
  readonly t: "msg";
  /** `{source}.{messageId}`: unique per message, the idempotency key downstream. */
  readonly id: string;
  readonly source: Source;
  /** Sequence in the intake stream (the arrival order). */
  readonly seq: number;
  /** When intake accepted it (ms since the epoch). */
  readonly receivedAt: number;
  readonly kid: string;
  /** The normalised identity, sealed. */
  readonly identity: string;
  /** The events, sealed; null when the message carries none (no ERP step). */
  readonly events: string | null;
  /** Event types, in order (not personal data; kept for the event log). */
  readonly types: readonly string[];
  /** Set on a dead letter of a refused ERP step: a replay redoes step 2 only. */
  readonly from?: Step;
  /**
   * Who sent it (tenancy): the gateway client id, or {@link natsOwner} of the source. Absent on
   * messages accepted before owners were recorded (visible to admins only).
   */
  readonly client?: string;
}

/** A forget request, ordered with the supporter's messages (the pump already deleted the data key). */
export interface ForgetCommand {
  readonly t: "forget";
  readonly id: string;
  readonly seq: number;
  readonly at: number;
  /** Client id, "rtbf" or "operator". */
  readonly by: string;
}

/** A delivery job's progress report (best effort; shown to operators). */
export interface AttemptReport {
  readonly t: "attempt";
  readonly job: string;
  readonly attempt: number;
  readonly error: string;
  readonly at: number;
}

/** Commands a supporter actor understands (besides job results). */
export type SupporterCommand = IntakeMessage | ForgetCommand | AttemptReport;

/** Data of a user-service job (step 1). */
export interface UserJobData {
  readonly hash: string;
  readonly id: string;
  readonly source: Source;
  readonly receivedAt: number;
  readonly kid: string;
  readonly identity: string;
  /** Idempotency-Key sent to the service: the same across retries and re-issued jobs. */
  readonly key: string;
}

/** Data of an ERP job (step 2). */
export interface ErpJobData {
  readonly hash: string;
  readonly id: string;
  readonly source: Source;
  readonly receivedAt: number;
  readonly kid: string;
  readonly events: string;
  readonly key: string;
}

/** Data of a forget job (erase at the user service). */
export interface ForgetJobData {
  readonly hash: string;
  readonly key: string;
}

/** A delivery job's result: done, or skipped because the supporter's data key is gone. */
export type DeliveryResult = { readonly ok: true; readonly ref?: string } | { readonly erased: true };

/*
 * The delivery jobs, one per downstream call (each with its own consumer and circuit breaker).
 * Their names are subject tokens of stored streams: never rename them.
 */

/** Step 1: write the identity to the user service. */
export const userJob = defineJob<UserJobData, DeliveryResult>("supuser");

/** Step 2: write the events to the ERP service. */
export const erpJob = defineJob<ErpJobData, DeliveryResult>("superp");

/** Tell the user service to erase a forgotten supporter. */
export const forgetJob = defineJob<ForgetJobData, DeliveryResult>("supforget");

/** What a supporter's mailbox takes: its commands and the results of its delivery jobs. */
export type SupporterMessage = SupporterCommand | JobResult<DeliveryResult>;

/** Event-log records (stream {ns}.supporters.log.{hash} -> Postgres). */
export type LogRecord =
  | {
      readonly k: "msg";
      readonly hash: string;
      readonly id: string;
      readonly source: Source;
      readonly seq: number;
      readonly receivedAt: number;
      readonly types: readonly string[];
      readonly kid: string;
      readonly identity: string;
      readonly events: string | null;
      /** The message's owner (see {@link IntakeMessage.client}). */
      readonly client?: string;
    }
  | {
      readonly k: "step";
      readonly hash: string;
      readonly id: string;
      readonly step: Step;
      readonly status: StepOutcome;
      readonly at: number;
      readonly reason: string | null;
    }
  | { readonly k: "forget"; readonly hash: string; readonly at: number; readonly by: string };

/** How a step ended for one message. */
export type StepOutcome = "delivered" | "refused" | "erased" | "parked";
