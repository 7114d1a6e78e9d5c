/** Which channels a notification goes through, in order (pure). */
import type { PlanStep } from "./notification.actor";
import type { Preferences } from "./store";
import { CHANNELS, render } from "./templates";

/**
 * The plan for `event` to a recipient with `prefs`: every channel they gave an address for, in
 * the order push, email, SMS, leaving out the ones they turned off unless `critical`, each with
 * the template of their locale.
 */
export function planFor(
  prefs: Preferences | undefined,
  event: string,
  data: Readonly<Record<string, string | number>>,
  critical: boolean,
): PlanStep[] {
  if (!prefs) return [];
  const out: PlanStep[] = [];
  for (const channel of CHANNELS) {
    const c = prefs.channels[channel];
    if (!c || (!c.enabled && !critical)) continue;
    const msg = render(event, prefs.locale, channel, data);
    if (msg) out.push({ channel, to: c.address, subject: msg.subject, body: msg.body });
  }
  return out;
}
