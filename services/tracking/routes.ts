/** The tracking domain's HTTP contract. */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import type { Schema } from "../../lib/json-schema";
import { DEVICE_ID_PATTERN, deviceBatchSchema, positionBatchSchema } from "./model";

function json(s: Schema<unknown>): JsonSchema {
  return { ...s.schema };
}

const TAGS = ["tracking"];

const DEVICE_PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: DEVICE_ID_PATTERN, description: "Device id" } },
};

const PAUSED: JsonSchema = {
  type: "object",
  properties: { id: { type: "string" }, paused: { type: "boolean" } },
};

/** Every route of the tracking domain. */
export const trackingRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/tracking/positions",
    action: "tracking.positions",
    access: "tracking:write",
    summary: "Report up to 1,000 positions of this client's devices",
    description:
      "Each position goes (core NATS, not stored first: positions are ephemeral) to the device actor on the owner of the device's partition, which filters it by time, distance and accuracy. A batch with any invalid position, or a position of a device this client did not register, is refused whole (422, every problem listed) and nothing is sent. Producers may publish the same batch to `{ns}.tracking.positions.<partition>` or `{ns}.tracking.positions.in`.",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(positionBatchSchema), validate: false },
    requestExample: { positions: [{ deviceId: "phone-1", lat: 52.52, lng: 13.405, accuracy: 8, speed: 1.3, at: 0 }] },
    responses: {
      202: {
        description: "Handed to the device actors",
        schema: { type: "object", properties: { accepted: { type: "integer" } } },
      },
    },
    errors: { 422: "A position is invalid or belongs to a device this client did not register (all problems listed)" },
  },
  {
    method: "PUT",
    path: "/api/v1/tracking/devices",
    action: "tracking.register",
    access: "tracking:write",
    summary: "Register up to 1,000 devices: each one's user and role (civilian or officer)",
    description:
      "The registering client owns the devices: only it may report their positions and pause them. Registering a device again with the same client updates it (a paused device stays paused).",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(deviceBatchSchema) },
    responses: {
      200: {
        description: "Registered",
        schema: { type: "object", properties: { registered: { type: "integer" } } },
      },
    },
    errors: { 409: "A device is registered by another client" },
  },
  {
    method: "POST",
    path: "/api/v1/tracking/devices/{id}/pause",
    action: "tracking.pause",
    access: "tracking:write",
    summary: "An officer pauses sharing: positions are dropped (not stored), meetings under way end",
    tags: TAGS,
    params: DEVICE_PARAMS,
    responses: { 200: { description: "Paused", schema: PAUSED } },
    errors: { 404: "No such device of this client", 409: "Only officers pause sharing" },
  },
  {
    method: "POST",
    path: "/api/v1/tracking/devices/{id}/resume",
    action: "tracking.resume",
    access: "tracking:write",
    summary: "An officer resumes sharing",
    tags: TAGS,
    params: DEVICE_PARAMS,
    responses: { 200: { description: "Sharing", schema: PAUSED } },
    errors: { 404: "No such device of this client", 409: "Only officers pause sharing" },
  },
  {
    method: "GET",
    path: "/api/v1/tracking/devices/{id}/nearby",
    action: "tracking.nearby",
    access: "tracking:read",
    summary: "A civilian's meetings under way: the cell of each officer near it (never the officer's position)",
    tags: TAGS,
    params: DEVICE_PARAMS,
    responses: {
      200: {
        description: "The meetings",
        schema: {
          type: "object",
          properties: {
            device: { type: "string" },
            nearby: {
              type: "array",
              items: {
                type: "object",
                properties: { cell: { type: "string" }, meetingSince: { type: "integer" } },
              },
            },
          },
        },
      },
    },
    errors: { 404: "No such device of this client" },
  },
];
