/**
 * The notification actor, one per notification (pure). Its plan is the recipient's channels in
 * order of preference (push, email, SMS; those they turned off left out unless the message is
 * critical), each with its rendered message. It sends on the first channel through that
 * channel's outbox (the durable job `ntf<channel>`, retried with backoff until the channel's
 * deadline); when a channel gives up, it falls back to the next one; when every channel gave
 * up, the notification is dead-lettered (`{ns}.dlq.notifications.<id>`, listed
 * with `dlq-list`; sending it again takes a new id).
 */
import { defineJob, defineKind } from "../../actors/refs";
import type { HandlerResult, JobResult } from "../../actors/types";
import { TerminalError } from "../../lib/errors";
import type { Channel } from "./templates";

/** One step of a plan: a channel, its address and the message. */
export interface PlanStep {
  readonly channel: Channel;
  readonly to: string;
  readonly subject: string;
  readonly body: string;
}

/** What a channel job sends. */
export interface ChannelJobData extends PlanStep {
  readonly notificationId: string;
}

/** The outboxes: one durable job per channel. */
export const CHANNEL_JOBS: Readonly<
  Record<Channel, ReturnType<typeof defineJob<ChannelJobData, { providerId: string }>>>
> = {
  email: defineJob<ChannelJobData, { providerId: string }>("ntfemail"),
  sms: defineJob<ChannelJobData, { providerId: string }>("ntfsms"),
  push: defineJob<ChannelJobData, { providerId: string }>("ntfpush"),
};

/** A notification's state. */
export interface NotificationState {
  readonly id: string;
  readonly user: string;
  readonly event: string;
  readonly critical: boolean;
  readonly status: "new" | "sending" | "delivered" | "failed";
  readonly plan: readonly PlanStep[];
  /** Index of the channel being tried. */
  readonly step: number;
  readonly attempts: ReadonlyArray<{
    readonly channel: Channel;
    readonly ok: boolean;
    readonly error: string | null;
    readonly at: number;
  }>;
  readonly deliveredVia: Channel | null;
  readonly seq: number;
}

/** A message to a notification. */
export type NotificationMessage =
  | {
      readonly type: "send";
      readonly user: string;
      readonly event: string;
      readonly critical: boolean;
      readonly plan: readonly PlanStep[];
    }
  | JobResult<{ providerId: string }>;

/** The kind's typed reference. */
export const notification = defineKind<NotificationState, NotificationMessage>("notification");

/** A notification never sent. */
export function newNotification(id: string): NotificationState {
  return {
    id,
    user: "",
    event: "",
    critical: false,
    status: "new",
    plan: [],
    step: 0,
    attempts: [],
    deliveredVia: null,
    seq: 0,
  };
}

/** Settings of the kind. */
export interface NotificationSettings {
  /** How long one channel is retried before falling back to the next. */
  readonly channelDeadlineMs: number;
  /** Where exhausted notifications are dead-lettered. */
  dlqSubject(id: string): string;
}

function tryStep(s: NotificationState, settings: NotificationSettings) {
  const step = s.plan[s.step];
  if (!step) return [];
  return [
    CHANNEL_JOBS[step.channel].effect(
      { notificationId: s.id, ...step },
      { id: `ntf:${s.id}:${step.channel}`, deadlineMs: settings.channelDeadlineMs },
    ),
  ];
}

/** Applies one message (pure). */
export function applyNotification(
  s0: NotificationState,
  m: NotificationMessage,
  at: { readonly seq: number; readonly now: number },
  settings: NotificationSettings,
): HandlerResult<NotificationState> {
  const s = { ...s0, seq: at.seq };
  if ("$job" in m) {
    const step = s.plan[s.step];
    if (s.status !== "sending" || !step || CHANNEL_JOBS[step.channel].name !== m.$job.job) return { state: s };
    const attempts = [
      ...s.attempts,
      { channel: step.channel, ok: m.$job.ok, error: m.$job.ok ? null : (m.$job.error ?? "failed"), at: at.now },
    ];
    if (m.$job.ok) return { state: { ...s, attempts, status: "delivered", deliveredVia: step.channel } };
    const next = { ...s, attempts, step: s.step + 1 };
    if (next.step < next.plan.length) return { state: next, effects: tryStep(next, settings) };
    const failed = { ...next, status: "failed" as const };
    return {
      state: failed,
      effects: [
        {
          type: "publish",
          subject: settings.dlqSubject(s.id),
          data: { id: s.id, user: s.user, event: s.event, attempts },
          id: `ntfdlq:${s.id}`,
          headers: { "Sy-Dlq-Error": "every channel failed", "Sy-Dlq-At": new Date(at.now).toISOString() },
        },
      ],
    };
  }
  if (m.type !== "send") throw new TerminalError("unknown notification message");
  if (s.status !== "new") return { state: s }; // a repeat of the same notification
  if (m.plan.length === 0) {
    const failed: NotificationState = { ...s, user: m.user, event: m.event, critical: m.critical, status: "failed" };
    return { state: failed };
  }
  const sending: NotificationState = {
    ...s,
    user: m.user,
    event: m.event,
    critical: m.critical,
    plan: m.plan,
    status: "sending",
    step: 0,
  };
  return { state: sending, effects: tryStep(sending, settings) };
}

/** The notification kind with `settings`. */
export function notificationKind(settings: NotificationSettings) {
  return notification.implement({
    initialState: newNotification,
    handle: (state, msg, ctx) => applyNotification(state, msg.data, { seq: msg.seq, now: ctx.now }, settings),
    retry: { maxAttempts: 5, backoffMs: 50, maxBackoffMs: 2000 },
  });
}
