/**
 * The users domain's HTTP routes: the seed's queries, with keyset pagination. Scope users:read.
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { cursorQuery, intCursorQuery, NEXT_CURSOR } from "../../gateway/pagination";

const ID: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$", description: "User id" } },
};
const BEFORE: JsonSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
    ...intCursorQuery("before"),
  },
};
const RECEIVED: JsonSchema = {
  type: "object",
  properties: {
    items: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: { type: "string" },
          from: { type: "string" },
          amount: { type: "integer" },
          status: { type: "string" },
          memo: { type: ["string", "null"] },
          at: { type: "string" },
        },
      },
    },
    next: { type: ["integer", "null"], deprecated: true },
    nextCursor: NEXT_CURSOR,
    count: { type: "integer", description: "All of them (not only this page)" },
    points: { type: "integer", description: "Their total amount" },
  },
};
const TAGS = ["users"];

/** Every route of the users domain. */
export const userDomainRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/users/{id}",
    action: "userdomain.profile",
    access: "users:read",
    summary: "A user's profile (civilian, officer, merchant, charity or family in need)",
    tags: TAGS,
    params: ID,
    responses: {
      200: {
        description: "The profile",
        schema: {
          type: "object",
          properties: {
            id: { type: "string" },
            kind: { type: "string" },
            name: { type: ["string", "null"] },
            email: { type: ["string", "null"] },
            subject: { type: ["string", "null"] },
            createdAt: { type: "string" },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/users/{id}/officers-met",
    action: "userdomain.officersMet",
    access: "users:read",
    summary: "Every police officer a civilian has met, by officer id (keyset pages)",
    tags: TAGS,
    params: ID,
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...cursorQuery({ type: "string", maxLength: 64 }),
      },
    },
    responses: {
      200: {
        description: "One page",
        schema: {
          type: "object",
          properties: {
            items: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  officer: { type: "string" },
                  name: { type: ["string", "null"] },
                  encounters: { type: "integer" },
                  firstAt: { type: "string" },
                  lastAt: { type: "string" },
                },
              },
            },
            next: { type: ["string", "null"], deprecated: true },
            nextCursor: NEXT_CURSOR,
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/users/{id}/donations",
    action: "userdomain.donations",
    access: "users:read",
    summary: "The donations to a family in need (or a charity), newest first (keyset pages)",
    tags: TAGS,
    params: ID,
    query: BEFORE,
    responses: { 200: { description: "One page", schema: RECEIVED } },
  },
  {
    method: "GET",
    path: "/api/v1/users/{id}/sales",
    action: "userdomain.sales",
    access: "users:read",
    summary: "The goods a merchant sold (posted exchanges), with how many, newest first (keyset pages)",
    tags: TAGS,
    params: ID,
    query: BEFORE,
    responses: { 200: { description: "One page", schema: RECEIVED } },
  },
];
