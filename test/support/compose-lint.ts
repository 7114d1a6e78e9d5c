/**
 * Checks of a Compose file that need no Docker engine and no Compose implementation: the Compose
 * Specification's JSON schema (kept in test/fixtures/compose-spec.json, see its README), and the
 * rules this deployment relies on (pinned images, health checks, JetStream fsync, references that
 * resolve). Every check returns the list of problems it found, one readable line each; an empty
 * list means the file passes. Files named by the Compose file are resolved against `root`, the
 * directory that holds it, as Compose does.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020";
import { parse } from "yaml";
import { createAjv } from "../../lib/ajv";

/** A parsed YAML mapping. */
export type ComposeObj = Record<string, unknown>;

/** Where the Compose Specification's JSON schema is kept in this repository. */
export const COMPOSE_SCHEMA_FILE = path.resolve(__dirname, "..", "fixtures", "compose-spec.json");

/** Keywords that only annotate: beside a `$ref` they mean the same in draft-07 and 2020-12. */
const ANNOTATIONS = new Set(["$ref", "description", "title", "$comment", "default", "examples", "deprecated"]);
/** Draft-07 keywords whose value maps names to schemas. */
const SCHEMA_MAPS = new Set(["properties", "patternProperties", "definitions", "dependencies"]);
/** Draft-07 keywords whose value is a list of schemas. */
const SCHEMA_LISTS = new Set(["allOf", "anyOf", "oneOf", "items"]);
/** Draft-07 keywords whose value is one schema. */
const SUBSCHEMAS = new Set([
  "items",
  "additionalItems",
  "additionalProperties",
  "contains",
  "propertyNames",
  "not",
  "if",
  "then",
  "else",
]);

function isObj(v: unknown): v is ComposeObj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses Compose YAML the way Compose reads it before validating: `<<` merge keys are applied
 * (the file's `x-` anchors rely on them) and a duplicate key is an error. Throws on invalid YAML.
 */
export function parseCompose(text: string): unknown {
  return parse(text, { merge: true, uniqueKeys: true });
}

let compiled: ValidateFunction | undefined;

/**
 * Where a draft-07 schema uses a construct that draft 2020-12 reads differently: `items` as an
 * array (a tuple, `prefixItems` in 2020-12), `additionalItems`, a `$ref` with assertion keywords
 * beside it (ignored in draft-07, applied in 2020-12), an `$id` with a fragment (`$anchor` in
 * 2020-12). Empty when the schema means the same under both drafts.
 */
export function draftDifferences(schema: unknown, at = "#"): string[] {
  if (!isObj(schema)) return [];
  const out: string[] = [];
  if (Array.isArray(schema["items"])) out.push(`${at}: "items" is an array (a tuple)`);
  if ("additionalItems" in schema) out.push(`${at}: "additionalItems"`);
  if ("$ref" in schema) {
    const beside = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));
    if (beside.length > 0) out.push(`${at}: "$ref" beside ${beside.join(", ")}`);
  }
  if (typeof schema["$id"] === "string" && /#./.test(schema["$id"])) out.push(`${at}: "$id" with a fragment`);
  for (const [k, v] of Object.entries(schema)) {
    if (SCHEMA_MAPS.has(k) && isObj(v)) {
      for (const [name, sub] of Object.entries(v)) out.push(...draftDifferences(sub, `${at}/${k}/${name}`));
    } else if (SCHEMA_LISTS.has(k) && Array.isArray(v)) {
      v.forEach((sub, i) => out.push(...draftDifferences(sub, `${at}/${k}/${i}`)));
    } else if (SUBSCHEMAS.has(k)) {
      out.push(...draftDifferences(v, `${at}/${k}`));
    }
  }
  return out;
}

/**
 * The compiled schema validator (all errors reported), from the project's Ajv (draft 2020-12).
 * The schema is draft-07; it is checked to be, and to use nothing that draft 2020-12 reads
 * differently ({@link draftDifferences}), and is compiled without its `$schema`. `strict: false`
 * because the schema uses annotation keywords Ajv's strict mode rejects (`deprecated`).
 */
function schemaValidator(): ValidateFunction {
  if (compiled) return compiled;
  const schema: unknown = JSON.parse(readFileSync(COMPOSE_SCHEMA_FILE, "utf8"));
  if (!isObj(schema) || !/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/.test(String(schema["$schema"]))) {
    throw new Error(`${COMPOSE_SCHEMA_FILE} should be a draft-07 JSON schema`);
  }
  const differences = draftDifferences(schema);
  if (differences.length > 0) {
    throw new Error(
      `${COMPOSE_SCHEMA_FILE} uses draft-07 constructs that 2020-12 reads differently: ${differences.join("; ")}`,
    );
  }
  const { $schema: _draft07, ...body } = schema;
  compiled = createAjv({ trust: "trusted", strict: false, allErrors: true }).compile(body);
  return compiled;
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath === "" ? "(top level)" : e.instancePath;
  const extra = e.keyword === "additionalProperties" ? ` "${String(e.params["additionalProperty"])}"` : "";
  return `${where}: ${e.message ?? e.keyword}${extra}`;
}

/** Problems the Compose Specification's JSON schema reports for `doc` (a parsed Compose file). */
export function schemaProblems(doc: unknown): string[] {
  const validate = schemaValidator();
  if (validate(doc)) return [];
  return (validate.errors ?? []).map(describeError);
}

/** The `services` mapping of `doc`, or an empty one. */
export function servicesOf(doc: unknown): Record<string, ComposeObj> {
  const raw = isObj(doc) ? doc["services"] : undefined;
  const out: Record<string, ComposeObj> = {};
  if (isObj(raw)) for (const [name, svc] of Object.entries(raw)) if (isObj(svc)) out[name] = svc;
  return out;
}

/** `depends_on` as service name -> condition (`service_started` for the list form). */
export function dependsOnOf(svc: ComposeObj): Record<string, string> {
  const raw = svc["depends_on"];
  const deps: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const d of raw) deps[String(d)] = "service_started";
  } else if (isObj(raw)) {
    for (const [k, v] of Object.entries(raw)) {
      deps[k] = isObj(v) && v["condition"] !== undefined ? String(v["condition"]) : "service_started";
    }
  }
  return deps;
}

/**
 * The tag and digest of an image reference (`[host[:port]/]name[:tag][@digest]`); a colon
 * before the last `/` belongs to a registry port, not to a tag.
 */
export function imageRef(image: string): { name: string; tag: string | undefined; digest: string | undefined } {
  const at = image.indexOf("@");
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, tag: undefined, digest };
}

/**
 * Services whose image is not pinned. Pinned means a content digest (`@sha256:...`), or a tag
 * that names a version: not `latest`, not absent (which is `latest`), and with a digit in it
 * (`16`, `7-alpine`, `RELEASE.2025-09-07T16-13-09Z`). A service that only builds its image
 * (`build:` without `image:`) has nothing to pin.
 */
export function unpinnedImages(doc: unknown): string[] {
  const problems: string[] = [];
  for (const [name, svc] of Object.entries(servicesOf(doc))) {
    const image = svc["image"];
    if (image === undefined) {
      if (svc["build"] === undefined) problems.push(`${name}: has neither image nor build`);
      continue;
    }
    const { tag, digest } = imageRef(String(image));
    if (digest !== undefined) {
      if (!/^sha256:[0-9a-f]{64}$/.test(digest))
        problems.push(`${name}: image ${String(image)} has a malformed digest`);
      continue;
    }
    if (tag === undefined) problems.push(`${name}: image ${String(image)} has no tag (that is "latest")`);
    else if (tag === "latest") problems.push(`${name}: image ${String(image)} is on "latest"`);
    else if (!/\d/.test(tag)) problems.push(`${name}: image ${String(image)} has a tag that names no version`);
  }
  return problems;
}

/** Names of the services some other service waits for with `service_completed_successfully`. */
export function oneShotServices(doc: unknown): Set<string> {
  const oneShot = new Set<string>();
  for (const svc of Object.values(servicesOf(doc))) {
    for (const [dep, condition] of Object.entries(dependsOnOf(svc))) {
      if (condition === "service_completed_successfully") oneShot.add(dep);
    }
  }
  return oneShot;
}

/**
 * Long-running services without a working health check. A service is one-shot (exempt) when
 * another waits for it to complete successfully; it must then not be restarted on success
 * (`restart` `no` or `on-failure`). Every other service needs a `healthcheck` with a `test`
 * that is not `NONE` and is not disabled.
 */
export function missingHealthchecks(doc: unknown): string[] {
  const problems: string[] = [];
  const oneShot = oneShotServices(doc);
  for (const [name, svc] of Object.entries(servicesOf(doc))) {
    if (oneShot.has(name)) {
      const restart = String(svc["restart"] ?? "no");
      if (!/^(no|on-failure(:\d+)?)$/.test(restart)) {
        problems.push(`${name}: one-shot service (others wait for it to complete) has restart "${restart}"`);
      }
      continue;
    }
    const hc = svc["healthcheck"];
    if (!isObj(hc)) {
      problems.push(`${name}: long-running service has no healthcheck`);
      continue;
    }
    const test = hc["test"];
    const first = Array.isArray(test) ? String(test[0] ?? "") : String(test ?? "");
    if (hc["disable"] === true || hc["disable"] === "true") problems.push(`${name}: healthcheck is disabled`);
    else if (test === undefined || first === "" || first === "NONE") problems.push(`${name}: healthcheck has no test`);
  }
  return problems;
}

/**
 * `depends_on` entries that name no service of the file, and `service_healthy` conditions on a
 * service that declares no healthcheck (Compose would wait for it forever).
 */
export function danglingDependsOn(doc: unknown): string[] {
  const services = servicesOf(doc);
  const problems: string[] = [];
  for (const [name, svc] of Object.entries(services)) {
    for (const [dep, condition] of Object.entries(dependsOnOf(svc))) {
      const target = services[dep];
      if (!target) problems.push(`${name}: depends_on ${dep}, which is no service of this file`);
      else if (condition === "service_healthy" && !isObj(target["healthcheck"])) {
        problems.push(`${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      }
    }
  }
  return problems;
}

/** The `env_file` entries of a service as path and whether it is required (the default). */
function envFilesOf(svc: ComposeObj): Array<{ path: string; required: boolean }> {
  const raw = svc["env_file"];
  const items = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return items.map((item) =>
    isObj(item)
      ? { path: String(item["path"]), required: item["required"] !== false && item["required"] !== "false" }
      : { path: String(item), required: true },
  );
}

/** Required `env_file` entries (of any service) that do not exist under `root`. */
export function missingEnvFiles(doc: unknown, root: string): string[] {
  const problems: string[] = [];
  for (const [name, svc] of Object.entries(servicesOf(doc))) {
    for (const file of envFilesOf(svc)) {
      if (file.required && !existsSync(path.resolve(root, file.path))) {
        problems.push(`${name}: env_file ${file.path} does not exist`);
      }
    }
  }
  return problems;
}

/** Drops `#` and `//` comments from a NATS config; a `//` inside a URL (after `:`) is kept. */
function stripNatsComments(conf: string): string {
  return conf
    .split("\n")
    .map((line) => line.replace(/(^|\s)(#|\/\/).*$/, "$1"))
    .join("\n");
}

/** The text between the braces of the top-level `name { ... }` (or `name: {`) block, or undefined. */
export function natsBlock(conf: string, name: string): string | undefined {
  const text = stripNatsComments(conf);
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "{") depth++;
    else if (ch === "}") depth--;
    else if (depth === 0 && text.startsWith(name, i) && !/\w/.test(text[i - 1] ?? "")) {
      const open = /^\s*[:=]?\s*\{/.exec(text.slice(i + name.length));
      if (!open) continue;
      const start = i + name.length + open[0].length;
      let d = 1;
      for (let j = start; j < text.length; j++) {
        if (text[j] === "{") d++;
        else if (text[j] === "}" && --d === 0) return text.slice(start, j);
      }
      return undefined;
    }
  }
  return undefined;
}

/** The value of `key` at the top level of a NATS config block body, unquoted, or undefined. */
export function natsValue(block: string, key: string): string | undefined {
  let depth = 0;
  for (const line of block.split("\n")) {
    if (depth === 0) {
      const m = new RegExp(`^\\s*${key}\\s*(?:[:=]\\s*|\\s+)("[^"]*"|'[^']*'|[^\\s,;{}]+)`).exec(line);
      if (m?.[1]) return m[1].replace(/^["']|["']$/g, "");
    }
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
  }
  return undefined;
}

/** Problems of one NATS server config for the durable plane: JetStream on, every write fsynced. */
export function natsConfigProblems(conf: string): string[] {
  const js = natsBlock(conf, "jetstream");
  if (js === undefined) return ["has no jetstream { } block (JetStream off, or on with default sync_interval)"];
  const problems: string[] = [];
  const enabled = natsValue(js, "enabled") ?? natsValue(js, "enable");
  if (enabled !== undefined && /^(false|no|off)$/i.test(enabled)) problems.push("has JetStream disabled");
  const sync = natsValue(js, "sync_interval") ?? natsValue(js, "sync");
  if (sync !== "always") problems.push(`has jetstream sync_interval ${sync ?? "unset"}, not always`);
  return problems;
}

/** `host:container[:mode]` or long-syntax volume as host source and container target. */
function mountsOf(svc: ComposeObj): Array<{ source: string; target: string }> {
  const raw = svc["volumes"];
  if (!Array.isArray(raw)) return [];
  return raw.map((v) => {
    if (isObj(v)) return { source: String(v["source"] ?? ""), target: String(v["target"] ?? "") };
    const [source = "", target = ""] = String(v).split(":");
    return { source, target };
  });
}

/** The config path a nats-server command line names (`--config X`, `-c X`, `--config=X`). */
export function natsConfigArg(command: unknown): string | undefined {
  const args = Array.isArray(command) ? command.map(String) : String(command ?? "").split(/\s+/);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === "-c" || a === "--config" || a === "-config") return args[i + 1];
    const eq = /^--?config=(.+)$/.exec(a);
    if (eq) return eq[1];
  }
  return undefined;
}

/**
 * Services on a `nats` image whose server is not started with a config file from the repository
 * (bind-mounted from under `root` at the path its command names) that runs JetStream with
 * `sync_interval: always`.
 */
export function natsJetStreamProblems(doc: unknown, root: string): string[] {
  const problems: string[] = [];
  // nats, library/nats and docker.io/library/nats are the same image.
  const onNatsImage = ([, svc]: [string, ComposeObj]): boolean =>
    imageRef(String(svc["image"] ?? "")).name.replace(/^(docker\.io\/)?(library\/)?/, "") === "nats";
  const natsServices = Object.entries(servicesOf(doc)).filter(onNatsImage);
  if (natsServices.length === 0) return ["no service runs on a nats image"];
  for (const [name, svc] of natsServices) {
    const confInContainer = natsConfigArg(svc["command"]);
    if (!confInContainer) {
      problems.push(`${name}: nats-server is started without --config (JetStream and sync_interval unset)`);
      continue;
    }
    const mount = mountsOf(svc).find((m) => m.target === confInContainer);
    if (!mount || !/^\.{0,2}\//.test(mount.source)) {
      problems.push(`${name}: ${confInContainer} is not bind-mounted from a file of the repository`);
      continue;
    }
    const hostFile = path.resolve(root, mount.source);
    if (!existsSync(hostFile)) {
      problems.push(`${name}: config ${mount.source} does not exist`);
      continue;
    }
    for (const p of natsConfigProblems(readFileSync(hostFile, "utf8"))) problems.push(`${name}: ${mount.source} ${p}`);
  }
  return problems;
}
