/**
 * Behaviour of a simulated registration service (tax or warehouse), settable at run time
 * through `PUT /admin/config`. Every rate is a probability in [0, 1] drawn per request.
 */
import type { MsRange } from "../../lib/sim-http";

/** What the simulator does. */
export interface SimConfig {
  /** sync: 201 with the registration id; async: 202, then a signed callback. */
  readonly mode: "sync" | "async";
  /** Time before the HTTP answer. */
  readonly latencyMs: MsRange;
  /**
   * Time between registering a new receipt and answering (a caller that dies meanwhile never
   * learns the outcome; its successor must ask again with the same key, not register twice).
   */
  readonly answerDelayMs: MsRange;
  /** async: time between the 202 and the callback. */
  readonly callbackDelayMs: MsRange;
  /** Answer 503 (or 500, 429) without doing anything. */
  readonly errorRate: number;
  /** Register, then never answer (the caller times out; its retry must not register twice). */
  readonly timeoutRate: number;
  /** Refuse the receipt (422 in sync mode, a "rejected" callback in async mode). */
  readonly rejectRate: number;
  /** Refuse every receipt whose document contains this text (null: none). */
  readonly rejectMarker: string | null;
  /** Down: every registration call fails at once. */
  readonly outage: boolean;
  /** How the outage shows: 503 answers or connections reset. */
  readonly outageMode: "503" | "reset";
  /** Send the callback twice (the second with a new webhook-id). */
  readonly duplicateCallbackRate: number;
  /** Send the callback before the 202 answer (the result arrives after the callback). */
  readonly earlyCallbackRate: number;
  /** Hold a callback back by up to `lateCallbackMs` extra, so callbacks arrive out of order. */
  readonly lateCallbackRate: number;
  readonly lateCallbackMs: number;
  /** Stop sending callbacks (they are lost; the platform must ask again). */
  readonly dropCallbackRate: number;
}

/** The defaults: sync, fast, no faults, rejects documents containing "SIM-REJECT". */
export const DEFAULT_SIM_CONFIG: SimConfig = {
  mode: "sync",
  latencyMs: { min: 0, max: 0 },
  answerDelayMs: { min: 0, max: 0 },
  callbackDelayMs: { min: 10, max: 50 },
  errorRate: 0,
  timeoutRate: 0,
  rejectRate: 0,
  rejectMarker: "SIM-REJECT",
  outage: false,
  outageMode: "503",
  duplicateCallbackRate: 0,
  earlyCallbackRate: 0,
  lateCallbackRate: 0,
  lateCallbackMs: 1000,
  dropCallbackRate: 0,
};

const RATES = [
  "errorRate",
  "timeoutRate",
  "rejectRate",
  "duplicateCallbackRate",
  "earlyCallbackRate",
  "lateCallbackRate",
  "dropCallbackRate",
] as const;
const RANGES = ["latencyMs", "answerDelayMs", "callbackDelayMs"] as const;

/**
 * Applies a partial update to `current`. Returns the new configuration, or the list of
 * problems (one line each) when the update is not valid; unknown fields are problems too.
 */
export function mergeSimConfig(current: SimConfig, patch: unknown): { config: SimConfig } | { problems: string[] } {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch))
    return { problems: ["the body must be a JSON object"] };
  const p = patch as Record<string, unknown>;
  const problems: string[] = [];
  const next: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(p)) {
    if ((RATES as readonly string[]).includes(k)) {
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) problems.push(`${k} must be a number from 0 to 1`);
      else next[k] = v;
    } else if ((RANGES as readonly string[]).includes(k)) {
      const r = v as Partial<MsRange> | null;
      if (
        typeof r !== "object" ||
        r === null ||
        !Number.isInteger(r.min) ||
        !Number.isInteger(r.max) ||
        (r.min as number) < 0 ||
        (r.max as number) < (r.min as number) ||
        (r.max as number) > 600_000
      ) {
        problems.push(`${k} must be {min, max}: integers, 0 <= min <= max <= 600000`);
      } else next[k] = { min: r.min, max: r.max };
    } else if (k === "mode") {
      if (v !== "sync" && v !== "async") problems.push("mode must be sync or async");
      else next[k] = v;
    } else if (k === "outageMode") {
      if (v !== "503" && v !== "reset") problems.push("outageMode must be 503 or reset");
      else next[k] = v;
    } else if (k === "outage") {
      if (typeof v !== "boolean") problems.push("outage must be true or false");
      else next[k] = v;
    } else if (k === "rejectMarker") {
      if (v !== null && (typeof v !== "string" || v.length === 0 || v.length > 200))
        problems.push("rejectMarker must be null or 1-200 characters");
      else next[k] = v;
    } else if (k === "lateCallbackMs") {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 600_000)
        problems.push("lateCallbackMs must be an integer from 0 to 600000");
      else next[k] = v;
    } else {
      problems.push(`unknown setting ${JSON.stringify(k)}`);
    }
  }
  return problems.length > 0 ? { problems } : { config: next as unknown as SimConfig };
}
