/**
 * Where the event type registry lives: a JetStream KV bucket (`{ns}_evt_types`, key
 * "{type}.v{version}"), watched by every node. Defining a version is a create-only write, so
 * versions are immutable and two admins cannot both create "v3"; every node applies the new
 * version (compiling its validator once) as soon as the watch delivers it, without a restart.
 */
import { isWrongLastSequence, type KV, type KvEntry, type QueuedIterator, type KvWatchEntry } from "../../nats";
import type { Logger } from "../../lib/logger";
import { AppError, errorMessage } from "../../lib/errors";
import { checkTypeDefinition, parseTypeKey, typeKey, type EventTypeRegistry, type EventTypeVersion } from "./registry";
import { isJsonObject } from "./model";

/** A new version's definition as an admin sends it. */
export interface TypeDefinition {
  readonly schema: Record<string, unknown>;
  readonly description?: string;
}

/** The version an entry holds, when it is one and matches its key; undefined otherwise. */
function decode(e: KvEntry): EventTypeVersion | undefined {
  const key = parseTypeKey(e.key);
  if (!key) return undefined;
  let v: unknown;
  try {
    v = e.json<unknown>();
  } catch {
    return undefined;
  }
  if (!isJsonObject(v) || v["name"] !== key.name || v["version"] !== key.version) return undefined;
  const { schema, description, createdAt } = v;
  if (!isJsonObject(schema)) return undefined;
  return {
    name: key.name,
    version: key.version,
    schema,
    description: typeof description === "string" ? description : "",
    createdAt: String(createdAt),
  };
}

/** Keeps a registry in sync with the bucket and writes new versions to it. */
export class TypeStore {
  private watcher: QueuedIterator<KvWatchEntry> | null = null;
  private stopped = false;

  constructor(
    private readonly kv: KV,
    readonly registry: EventTypeRegistry,
    private readonly log: Logger,
  ) {}

  private apply(e: KvEntry): void {
    if (e.operation !== "PUT") {
      const key = parseTypeKey(e.key);
      if (key) this.registry.remove(key.name, key.version);
      return;
    }
    const v = decode(e);
    if (!v) {
      this.log.error({ key: e.key }, "undecodable event type entry ignored");
      return;
    }
    const err = this.registry.apply(v);
    if (err)
      this.log.error(
        { type: v.name, version: v.version, err: err.message },
        "event type schema does not compile; its events will be dead-lettered",
      );
    else this.log.debug({ type: v.name, version: v.version }, "event type applied");
  }

  /**
   * Loads every version, then follows changes. The watch starts first so that nothing written
   * during the load is missed (applying a version twice changes nothing).
   */
  async start(): Promise<void> {
    this.watcher = await this.kv.watch({ key: ">", include: "updates" });
    const watcher = this.watcher;
    void (async () => {
      try {
        for await (const e of watcher) this.apply(e);
      } catch (err) {
        if (!this.stopped) this.log.error({ err: errorMessage(err) }, "event type watch ended");
      }
    })();
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    for (const k of keys) {
      const e = await this.kv.get(k);
      if (e) this.apply(e);
    }
  }

  /** Stops following changes. */
  stop(): void {
    this.stopped = true;
    this.watcher?.stop();
  }

  /**
   * Creates the next version of `name` (422 VALIDATION_ERROR when the name or schema is not
   * acceptable). The version number comes from the bucket, not from this node's view.
   */
  async define(name: string, def: TypeDefinition, now = new Date()): Promise<EventTypeVersion> {
    const problems = checkTypeDefinition(name, def.schema);
    if (typeof def.description === "string" && def.description.length > 2000)
      problems.push({ path: "/description", message: "at most 2000 characters" });
    if (problems.length > 0) throw new AppError("VALIDATION_ERROR", "invalid event type definition", problems);
    let version = 1;
    for await (const k of await this.kv.keys(`${name}.*`)) {
      const parsed = parseTypeKey(k);
      if (parsed && parsed.name === name && parsed.version >= version) version = parsed.version + 1;
    }
    for (let attempt = 0; attempt < 5; attempt++, version++) {
      const v: EventTypeVersion = {
        name,
        version,
        schema: def.schema,
        description: def.description ?? "",
        createdAt: now.toISOString(),
      };
      try {
        await this.kv.create(typeKey(name, version), JSON.stringify(v));
      } catch (err) {
        if (isWrongLastSequence(err)) continue; // another admin took this number (a create of an existing key)
        throw err;
      }
      this.registry.apply(v); // the watch will apply it too; this makes it visible here at once
      return v;
    }
    throw new AppError("CONFLICT", `could not allocate a version of ${name}: concurrent definitions`);
  }
}
