/**
 * The supporters domain's Prometheus metrics (on the node's registry, served at /metrics):
 *
 *   switchyard_supporters_deliveries_total{downstream, outcome}   delivery attempts by outcome
 *   switchyard_supporters_delivery_seconds{downstream}            time of each attempt
 *
 * downstream: `user` (step 1, the identity), `erp` (step 2, the events), `user_erase` (a
 * forgotten supporter erased at the user service). outcome: `delivered`, `retried` (the
 * downstream failed or was unreachable: the job is retried with backoff), `refused` (a 4xx
 * refusal: the message is parked in the DLQ), `erased` (the supporter was forgotten meanwhile:
 * nothing sent).
 */
import { Counter, Histogram, type Registry } from "prom-client";
import { TerminalError } from "../../lib/errors";

/** Downstream labels. */
export type Downstream = "user" | "erp" | "user_erase";
/** Outcome labels. */
export type DeliveryOutcome = "delivered" | "retried" | "refused" | "erased";

/** Records delivery attempts. */
export interface SupporterMetrics {
  /** Times `attempt`, counts its outcome (from its result or error), and passes both on. */
  observe<R>(downstream: Downstream, attempt: () => Promise<R>): Promise<R>;
}

const DELIVERIES = "switchyard_supporters_deliveries_total";
const SECONDS = "switchyard_supporters_delivery_seconds";

/** The metrics on `registry` (made once per registry: a second call reuses them). */
export function supporterMetrics(registry: Registry): SupporterMetrics {
  const deliveries =
    (registry.getSingleMetric(DELIVERIES) as Counter<"downstream" | "outcome"> | undefined) ??
    new Counter({
      name: DELIVERIES,
      help: "Supporter delivery attempts by downstream (user, erp, user_erase) and outcome (delivered, retried, refused, erased)",
      labelNames: ["downstream", "outcome"],
      registers: [registry],
    });
  const seconds =
    (registry.getSingleMetric(SECONDS) as Histogram<"downstream"> | undefined) ??
    new Histogram({
      name: SECONDS,
      help: "Time of one supporter delivery attempt, by downstream",
      labelNames: ["downstream"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
  for (const downstream of ["user", "erp", "user_erase"] as const)
    for (const outcome of ["delivered", "retried", "refused", "erased"] as const)
      deliveries.inc({ downstream, outcome }, 0);
  return {
    async observe(downstream, attempt) {
      const end = seconds.startTimer({ downstream });
      try {
        const r = await attempt();
        const erased = typeof r === "object" && r !== null && "erased" in r && r.erased === true;
        deliveries.inc({ downstream, outcome: erased ? "erased" : "delivered" });
        return r;
      } catch (err) {
        deliveries.inc({ downstream, outcome: err instanceof TerminalError ? "refused" : "retried" });
        throw err;
      } finally {
        end();
      }
    },
  };
}
