/**
 * The agents' HTTP contract, for operators (scope admin): findings of every agent (one shape,
 * cursor pages, newest first), a look on demand, the health agent's view of the services, the
 * quality model (read and replace), the SLOs' burn rates and budgets, and canary forecasts.
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { AGENT_NAMES, FINDING_SCHEMA, SEVERITIES } from "./findings";
import { MODEL_SCHEMA } from "./quality";

/** Largest page of findings. */
export const MAX_FINDINGS_PAGE = 500;

/** JSON Schema of a finding id. */
export const FINDING_ID: JsonSchema = { type: "string", pattern: "^af_[0-9]{19}$", description: "Finding id" };

const AGENT: JsonSchema = { type: "string", enum: [...AGENT_NAMES] };

const FINDINGS_QUERY_PROPS = {
  state: { type: "string", enum: ["open", "resolved", "all"], default: "open" },
  kind: { type: "string", pattern: "^[a-z][a-z0-9-]{0,63}$" },
  severity: { type: "string", enum: [...SEVERITIES] },
  limit: { type: "integer", minimum: 1, maximum: MAX_FINDINGS_PAGE, default: 50 },
  cursor: { ...FINDING_ID, description: "Continue from here: the `nextCursor` of the previous page" },
};

const FINDINGS_PAGE: JsonSchema = {
  type: "object",
  required: ["items", "nextCursor"],
  properties: {
    items: { type: "array", items: FINDING_SCHEMA },
    nextCursor: { type: ["string", "null"], description: "Pass as `cursor` for the next page; null on the last" },
  },
};

const WINDOW_STATS: JsonSchema = {
  type: "object",
  required: ["total", "bad", "slow", "p99Ms"],
  properties: {
    total: { type: "integer" },
    bad: { type: "integer", description: "5xx answers" },
    slow: { type: "integer", description: "Answers slower than the SLO's p99Ms" },
    p99Ms: { type: "number" },
  },
};

const BURN_STATS: JsonSchema = {
  ...WINDOW_STATS,
  required: ["total", "bad", "slow", "p99Ms", "availabilityBurn", "latencyBurn"],
  properties: {
    ...(WINDOW_STATS["properties"] as Record<string, unknown>),
    availabilityBurn: { type: "number" },
    latencyBurn: { type: "number" },
  },
};

const FORECAST: JsonSchema = {
  type: "object",
  required: [
    "service",
    "version",
    "baseline",
    "observedShare",
    "share",
    "canary",
    "baselineStats",
    "errorRate",
    "slowRate",
    "availabilityBurn",
    "latencyBurn",
    "confident",
  ],
  properties: {
    service: { type: "string" },
    version: { type: "string" },
    baseline: { type: "string" },
    observedShare: { type: "number", description: "The canary's part of the service's interactions in the window" },
    share: { type: "number", description: "The share forecast (1: promoted)" },
    canary: WINDOW_STATS,
    baselineStats: WINDOW_STATS,
    errorRate: { type: "number" },
    slowRate: { type: "number" },
    availabilityBurn: { type: "number", description: "Burn rate of the service's availability SLO at that share" },
    latencyBurn: { type: "number" },
    confident: { type: "boolean", description: "The canary had at least the model's minRequests interactions" },
  },
};

const RUN: JsonSchema = {
  type: "object",
  required: ["agent", "node", "raised", "updated", "resolved"],
  properties: {
    agent: AGENT,
    node: { type: "string" },
    raised: { type: "array", items: FINDING_SCHEMA },
    updated: { type: "integer", description: "Open findings still observed" },
    resolved: { type: "array", items: FINDING_SCHEMA },
  },
};

const SERVICES: JsonSchema = {
  type: "object",
  required: ["node", "lastRunAt", "items"],
  properties: {
    node: { type: "string" },
    lastRunAt: { type: ["string", "null"], format: "date-time" },
    items: {
      type: "array",
      items: {
        type: "object",
        required: ["service", "up", "nodes", "latencyMs", "availability", "results"],
        properties: {
          service: { type: "string" },
          up: { type: "boolean" },
          nodes: { type: "array", items: { type: "string" } },
          latencyMs: { type: "number" },
          availability: { type: "number" },
          results: {
            type: "array",
            items: {
              type: "object",
              required: ["service", "target", "outcome", "latencyMs"],
              properties: {
                service: { type: "string" },
                target: { type: "string" },
                outcome: { type: "string", enum: ["up", "error", "down"] },
                latencyMs: { type: "number" },
                error: { type: "string" },
              },
            },
          },
        },
      },
    },
  },
};

const SLOS: JsonSchema = {
  type: "object",
  required: ["node", "lastRunAt", "reading", "recorded", "items"],
  properties: {
    node: { type: "string" },
    lastRunAt: { type: ["string", "null"], format: "date-time" },
    reading: { type: "boolean", description: "The interactions stream is being read (false while it does not exist)" },
    recorded: { type: "integer", description: "Interaction records taken in since this node started" },
    items: {
      type: "array",
      items: {
        type: "object",
        required: ["slo", "service", "route", "availability", "p99Ms", "short", "long", "budgetRemaining"],
        properties: {
          slo: { type: "string" },
          service: { type: "string" },
          route: { type: ["string", "null"] },
          availability: { type: "number" },
          p99Ms: { type: "number" },
          short: BURN_STATS,
          long: BURN_STATS,
          budgetRemaining: { type: "number", description: "Fraction of the long window's budget left" },
        },
      },
    },
  },
};

/** Every route of the agents. */
export const agentRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/admin/agents/findings",
    action: "agents.findings",
    access: "admin",
    summary: "Operators: findings of every agent, newest first (open ones by default)",
    tags: ["agents"],
    query: {
      type: "object",
      additionalProperties: false,
      properties: { agent: AGENT, ...FINDINGS_QUERY_PROPS },
    },
    responses: { 200: { description: "A page of findings", schema: FINDINGS_PAGE } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/agents/{agent}/findings",
    action: "agents.agentFindings",
    access: "admin",
    summary: "Operators: one agent's findings (health, quality or security), newest first",
    tags: ["agents"],
    params: { type: "object", required: ["agent"], properties: { agent: AGENT } },
    query: { type: "object", additionalProperties: false, properties: FINDINGS_QUERY_PROPS },
    responses: { 200: { description: "A page of findings", schema: FINDINGS_PAGE } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/agents/findings/{id}",
    action: "agents.finding",
    access: "admin",
    summary: "Operators: one finding",
    tags: ["agents"],
    params: { type: "object", required: ["id"], properties: { id: FINDING_ID } },
    responses: { 200: { description: "The finding", schema: FINDING_SCHEMA } },
  },
  {
    method: "POST",
    path: "/api/v1/admin/agents/{agent}/run",
    action: "agents.run",
    access: "admin",
    summary: "Operators: the agent takes a look now, on the node that answers; what it changed",
    tags: ["agents"],
    params: { type: "object", required: ["agent"], properties: { agent: AGENT } },
    responses: { 200: { description: "What the look changed", schema: RUN } },
    errors: { 503: "The agent does not run on the node that answered (yet)" },
  },
  {
    method: "GET",
    path: "/api/v1/admin/agents/health/services",
    action: "healthAgent.services",
    access: "admin",
    summary: "Operators: every service's availability and canary latency after the health agent's last round",
    tags: ["agents"],
    responses: { 200: { description: "The services", schema: SERVICES } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/agents/quality/model",
    action: "qualityAgent.model",
    access: "admin",
    summary: "Operators: the quality model (SLOs per service and route, queue freshness, windows)",
    tags: ["agents"],
    responses: { 200: { description: "The model", schema: MODEL_SCHEMA } },
  },
  {
    method: "PUT",
    path: "/api/v1/admin/agents/quality/model",
    action: "qualityAgent.setModel",
    access: "admin",
    summary: "Operators: replace the quality model (every node's agent takes it at its next look)",
    tags: ["agents"],
    body: { contentTypes: ["application/json"], schema: MODEL_SCHEMA },
    requestExample: MODEL_SCHEMA["example"],
    responses: { 200: { description: "The model now", schema: MODEL_SCHEMA } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/agents/quality/slos",
    action: "qualityAgent.slos",
    access: "admin",
    summary: "Operators: every SLO's burn rates (short and long window) and error budget left",
    tags: ["agents"],
    responses: { 200: { description: "The SLOs", schema: SLOS } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/agents/quality/forecasts",
    action: "qualityAgent.forecasts",
    access: "admin",
    summary: "Operators: forecasts of the running canaries at full share (as if promoted)",
    tags: ["agents"],
    responses: {
      200: {
        description: "The forecasts",
        schema: { type: "object", required: ["items"], properties: { items: { type: "array", items: FORECAST } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/agents/quality/forecast",
    action: "qualityAgent.forecast",
    access: "admin",
    summary: "Operators: forecast a version of a service at a share of its calls, from what it did so far",
    tags: ["agents"],
    query: {
      type: "object",
      additionalProperties: false,
      required: ["service", "version"],
      properties: {
        service: { type: "string", minLength: 1, maxLength: 100 },
        version: { type: "string", maxLength: 100 },
        baseline: {
          type: "string",
          maxLength: 100,
          description: "Compare with this version only (default: all others)",
        },
        share: { type: "number", minimum: 0, maximum: 1, default: 1 },
      },
    },
    responses: { 200: { description: "The forecast", schema: FORECAST } },
  },
];
