/**
 * Message templates per event and locale (English the fallback), one per channel: email has a
 * subject and a body, SMS a text, push a title and a body. `{{name}}` is replaced by the
 * event's data (unknown names stay empty). Pure.
 */

/** The channels. */
export type Channel = "email" | "sms" | "push";
export const CHANNELS: readonly Channel[] = ["push", "email", "sms"];

/** A rendered message. */
export interface Rendered {
  readonly subject: string;
  readonly body: string;
}

type PerChannel = Readonly<Record<Channel, { readonly subject: string; readonly body: string }>>;

const T: Readonly<Record<string, Readonly<Record<string, PerChannel>>>> = {
  "order.paid": {
    en: {
      email: {
        subject: "Order {{orderId}} confirmed",
        body: "Thank you! We received {{total}} {{currency}} for order {{orderId}}.",
      },
      sms: { subject: "", body: "Order {{orderId}} confirmed: {{total}} {{currency}} received." },
      push: { subject: "Order confirmed", body: "Order {{orderId}} is paid." },
    },
    de: {
      email: {
        subject: "Bestellung {{orderId}} bestätigt",
        body: "Danke! Wir haben {{total}} {{currency}} für Bestellung {{orderId}} erhalten.",
      },
      sms: { subject: "", body: "Bestellung {{orderId}} bestätigt: {{total}} {{currency}} erhalten." },
      push: { subject: "Bestellung bestätigt", body: "Bestellung {{orderId}} ist bezahlt." },
    },
  },
  "order.shipped": {
    en: {
      email: { subject: "Order {{orderId}} shipped", body: "Your order {{orderId}} is on its way." },
      sms: { subject: "", body: "Order {{orderId}} shipped." },
      push: { subject: "Shipped", body: "Order {{orderId}} is on its way." },
    },
    de: {
      email: { subject: "Bestellung {{orderId}} versandt", body: "Ihre Bestellung {{orderId}} ist unterwegs." },
      sms: { subject: "", body: "Bestellung {{orderId}} versandt." },
      push: { subject: "Versandt", body: "Bestellung {{orderId}} ist unterwegs." },
    },
  },
  "order.cancelled": {
    en: {
      email: { subject: "Order {{orderId}} cancelled", body: "Order {{orderId}} was cancelled; nothing was charged." },
      sms: { subject: "", body: "Order {{orderId}} cancelled." },
      push: { subject: "Order cancelled", body: "Order {{orderId}} was cancelled." },
    },
  },
  "tracking.nearby": {
    en: {
      email: {
        subject: "A police officer is nearby",
        body: "A police officer is within {{radius}} m of you (area {{cell}}). Say hello and earn points.",
      },
      sms: { subject: "", body: "A police officer is within {{radius}} m (area {{cell}}). Say hello and earn points." },
      push: {
        subject: "An officer is nearby",
        body: "A police officer is within {{radius}} m. Say hello and earn points.",
      },
    },
  },
  "order.refunded": {
    en: {
      email: {
        subject: "Refund for order {{orderId}}",
        body: "We refunded {{total}} {{currency}} for order {{orderId}}.",
      },
      sms: { subject: "", body: "Refund of {{total}} {{currency}} for order {{orderId}} sent." },
      push: { subject: "Refunded", body: "{{total}} {{currency}} refunded for order {{orderId}}." },
    },
  },
};

/** The events that have templates. */
export const EVENTS: readonly string[] = Object.keys(T);

function fill(t: string, data: Readonly<Record<string, string | number>>): string {
  return t.replace(/\{\{([A-Za-z0-9_]+)\}\}/g, (_m, k: string) => String(data[k] ?? ""));
}

/** The message of `event` on `channel` in `locale` (English when the locale has none); undefined for an unknown event. */
export function render(
  event: string,
  locale: string,
  channel: Channel,
  data: Readonly<Record<string, string | number>>,
): Rendered | undefined {
  const byLocale = T[event];
  if (!byLocale) return undefined;
  const t = (byLocale[locale] ?? byLocale[locale.split("-")[0] ?? ""] ?? byLocale["en"])?.[channel];
  if (!t) return undefined;
  return { subject: fill(t.subject, data), body: fill(t.body, data) };
}
