/** The notifications' HTTP contract: a recipient's preferences, and a notification for operators. */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";

const CHANNEL: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["address", "enabled"],
  properties: {
    address: {
      type: "string",
      minLength: 1,
      maxLength: 300,
      description: "Email address, E.164 phone number or push token",
    },
    enabled: { type: "boolean", description: "Off: only critical messages come here" },
  },
};

const PREFERENCES: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["locale", "channels"],
  properties: {
    locale: { type: "string", pattern: "^[a-z]{2}(-[A-Z]{2})?$" },
    channels: {
      type: "object",
      additionalProperties: false,
      properties: { email: CHANNEL, sms: CHANNEL, push: CHANNEL },
    },
  },
};

/** Every route of the notifications domain. */
export const notificationRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/notifications/preferences",
    action: "notifications.getPreferences",
    access: "notifications:read",
    summary: "Your locale and channels",
    tags: ["notifications"],
    responses: { 200: { description: "Preferences", schema: PREFERENCES } },
  },
  {
    method: "PUT",
    path: "/api/v1/notifications/preferences",
    action: "notifications.putPreferences",
    access: "notifications:write",
    summary: "Set your locale and channels (push, then email, then SMS is the fallback order)",
    tags: ["notifications"],
    body: { contentTypes: ["application/json"], schema: PREFERENCES },
    responses: { 200: { description: "Preferences now", schema: PREFERENCES } },
  },
  {
    method: "GET",
    path: "/api/v1/notifications/{id}",
    action: "notifications.get",
    access: "admin",
    summary: "Operators: a notification, its plan and every attempt per channel",
    tags: ["notifications", "admin"],
    params: {
      type: "object",
      required: ["id"],
      properties: { id: { type: "string", pattern: "^[A-Za-z0-9_=-]{1,100}$" } },
    },
    responses: {
      200: {
        description: "The notification",
        schema: {
          type: "object",
          properties: {
            id: { type: "string" },
            status: { type: "string", enum: ["new", "sending", "delivered", "failed"] },
            deliveredVia: { type: ["string", "null"] },
            plan: { type: "array", items: { type: "object" } },
            attempts: { type: "array", items: { type: "object" } },
          },
        },
      },
    },
  },
];
