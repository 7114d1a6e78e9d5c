/**
 * The outboxes: one durable job per channel (`ntfemail`, `ntfsms`, `ntfpush`), each a consumer
 * of its own on the jobs stream, so one channel's outage backs up only its own outbox. A call is
 * retried with backoff until the channel's deadline (the actor then falls back to the next
 * channel); a 4xx is final at once. Every call carries `Idempotency-Key: <notification>:<channel>`.
 */
import { httpRequest } from "../../lib/http-client";
import { RetryableError, TerminalError, errorMessage } from "../../lib/errors";
import type { DomainJob } from "../../node/domain";
import { CHANNEL_JOBS, type ChannelJobData } from "./notification.actor";
import type { Channel } from "./templates";

/** The body of each provider's API (see simulator.ts). */
function request(channel: Channel, d: ChannelJobData): { path: string; body: unknown } {
  if (channel === "email") return { path: "/v3/mail/send", body: { to: d.to, subject: d.subject, html: d.body } };
  if (channel === "sms") return { path: "/sms", body: { to: d.to, text: d.body } };
  return { path: "/push/send", body: { token: d.to, notification: { title: d.subject, body: d.body } } };
}

/** The channel jobs, calling the providers at `urls`. */
export function channelJobs(
  urls: Readonly<Record<Channel, string>>,
  timeoutMs: number,
): DomainJob<ChannelJobData, { providerId: string }, unknown>[] {
  return (["email", "sms", "push"] as const).map((channel) => ({
    name: CHANNEL_JOBS[channel].name,
    concurrency: 64,
    timeoutMs,
    backoff: { baseMs: 200, maxMs: 10_000 },
    breaker: { failures: 20, openMs: 2000 },
    async run(d: ChannelJobData, ctx) {
      const r = request(channel, d);
      let status: number;
      let text: string;
      try {
        const res = await httpRequest(`${urls[channel]}${r.path}`, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": `${d.notificationId}:${channel}` },
          body: JSON.stringify(r.body),
          signal: ctx.signal,
        });
        status = res.status;
        text = res.text;
      } catch (err) {
        throw new RetryableError(`${channel} provider unreachable: ${errorMessage(err)}`);
      }
      if (status >= 200 && status < 300) return { providerId: text.slice(0, 200) };
      if (status >= 400 && status < 500 && status !== 408 && status !== 429)
        throw new TerminalError(`${channel} provider refused: ${status}`);
      throw new RetryableError(`${channel} provider answered ${status}`);
    },
  }));
}
