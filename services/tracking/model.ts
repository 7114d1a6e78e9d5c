/**
 * The tracking domain's payloads, each defined once (JSON Schema with its TypeScript type) and
 * used for validation (HTTP and NATS intake alike), types and the OpenAPI document.
 */
import { arr, int, num, obj, oneOf, str, type Infer } from "../../lib/json-schema";
import { createAjv } from "../../lib/ajv";
import type { ErrorDetail } from "../../lib/errors";

/** A device id: one subject token and KV key token. */
export const DEVICE_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";
const deviceId = str({ pattern: DEVICE_ID_PATTERN, maxLength: 64, description: "Device id" });

/** One position, as devices and producers send it. */
export const positionSchema = obj(
  {
    deviceId,
    lat: num({ minimum: -90, maximum: 90, description: "Latitude (WGS84 degrees)" }),
    lng: num({ minimum: -180, maximum: 180, description: "Longitude (WGS84 degrees)" }),
    accuracy: num({ minimum: 0, maximum: 100_000, description: "Horizontal accuracy (m)" }),
    at: int({ minimum: 0, maximum: 8_640_000_000_000, description: "When measured (ms since the epoch)" }),
  },
  { speed: num({ minimum: 0, maximum: 1000, description: "Ground speed (m/s), if measured" }) },
);
export type PositionBody = Infer<typeof positionSchema>;

/** `POST /api/v1/tracking/positions` and the NATS intake's payload: up to 1,000 positions. */
export const positionBatchSchema = obj({ positions: arr(positionSchema, { minItems: 1, maxItems: 1000 }) });
export type PositionBatch = Infer<typeof positionBatchSchema>;

/** One device's registration. */
export const deviceSchema = obj({
  id: deviceId,
  userId: str({ pattern: "^[A-Za-z0-9_-]{1,64}$", maxLength: 64, description: "The user (points account) id" }),
  role: oneOf(["civilian", "officer"] as const, { description: "Whether the device looks for officers or is one" }),
});
export type DeviceBody = Infer<typeof deviceSchema>;

/** `PUT /api/v1/tracking/devices`: up to 1,000 registrations. */
export const deviceBatchSchema = obj({ devices: arr(deviceSchema, { minItems: 1, maxItems: 1000 }) });
export type DeviceBatch = Infer<typeof deviceBatchSchema>;

/** A registration as stored (KV `{ns}_trk_registry`). */
export interface Registration {
  readonly user: string;
  readonly role: "civilian" | "officer";
  /** The client that registered the device: only it may send its positions or pause it. */
  readonly owner: string;
  readonly paused: boolean;
}

const ajv = createAjv({ trust: "trusted", allErrors: true, strict: false });
const validatePosition = ajv.compile<PositionBody>(positionSchema.schema);

/** How far in the future a position's time may be (clock skew). */
export const MAX_FUTURE_MS = 60_000;

/**
 * Checks one position (schema, and its time not in the future beyond the skew); answers the
 * problems, empty when it is valid.
 */
export function positionProblems(p: unknown, now: number, at = ""): ErrorDetail[] {
  if (!validatePosition(p))
    return (validatePosition.errors ?? []).map((e) => ({
      path: `${at}${e.instancePath}`,
      message: e.message ?? "invalid",
    }));
  if (p.at > now + MAX_FUTURE_MS) return [{ path: `${at}/at`, message: "is in the future" }];
  return [];
}

/** Checks a batch of positions; answers its positions, or every problem. */
export function batchProblems(b: unknown, now: number): { positions: PositionBody[] } | { problems: ErrorDetail[] } {
  if (typeof b !== "object" || b === null || !("positions" in b) || !Array.isArray(b.positions))
    return { problems: [{ path: "/positions", message: "must be an array of positions" }] };
  const list: unknown[] = b.positions;
  if (Object.keys(b).length !== 1) return { problems: [{ path: "", message: "only `positions` is allowed" }] };
  if (list.length < 1 || list.length > 1000)
    return { problems: [{ path: "/positions", message: "must hold 1 to 1000 positions" }] };
  const problems = list.flatMap((p, i) => positionProblems(p, now, `/positions/${i}`));
  return problems.length > 0 ? { problems } : { positions: list.filter((p) => isPosition(p, now)) };
}

/** True when `p` is a valid position (see {@link positionProblems}). */
export function isPosition(p: unknown, now: number): p is PositionBody {
  return positionProblems(p, now).length === 0;
}

/** Parses a registration read from KV; undefined when it is not one. */
export function parseRegistration(v: unknown): Registration | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r: Record<string, unknown> = { ...v };
  if (typeof r["user"] !== "string" || typeof r["owner"] !== "string") return undefined;
  if (r["role"] !== "civilian" && r["role"] !== "officer") return undefined;
  return { user: r["user"], role: r["role"], owner: r["owner"], paused: r["paused"] === true };
}
