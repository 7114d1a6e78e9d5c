/**
 * Two CPU fixes to the nats.js v3 client, pinned to the exact client version they were written
 * and measured against. Both keep the protocol and every public behaviour; they only change how
 * much work the client does per message.
 *
 * 1. Coalesced socket writes. `ProtocolHandler.sendCommand` flushes the outbound buffer in a
 *    microtask, so every burst of promise callbacks that publishes (an ack, a KV write, a job)
 *    becomes its own `write(2)`. Flushing in `setImmediate` instead sends everything one turn of
 *    the event loop produced in one write. The buffer is still flushed at once when it passes
 *    the client's pending limit, and ordering is unchanged (it is one buffer).
 * 2. No Error per finished request. `RequestOne.cancel`, called after every answered request
 *    (each JetStream publish and KV write), builds a fresh `RequestError("cancelled")` only to
 *    reject an already settled promise, and capturing its stack costs CPU (even with
 *    `noAsyncTraces`). A request that really is cancelled still rejects with a RequestError,
 *    built once and shared.
 *
 * Measured by `npm run bench:libs` (bin/bench-libs.ts) on 2026-12-01, on the 2-vCPU Intel Xeon
 * dev box (Node 22.23.3, nats-server 2.9.10, load average about 7 from other work, so runs
 * spread by ±20%): each mode in a fresh process, median of 5 alternating runs of 50,000 2 KB
 * messages, CPU of the client process per message and the rate:
 *                          off        both fixes          fix 1 alone     fix 2 alone
 *   acked JS publish,     36.3 µs    19.5 µs (-46%)      31.9 µs (-12%)  23.6 µs (-35%)
 *   64 in flight          16.4k/s    26.1k/s             18.5k/s         22.5k/s
 *   consume + ack each    17.0 µs     7.4 µs (-56%)       8.2 µs (-52%)  17.3 µs (0%)
 *   (pull, 512 at a time) 26.1k/s    52.7k/s             53.2k/s         24.5k/s
 * (a second full run: publish -41%, consume + ack -38% with both.) Each fix pays where it
 * should: fix 2 on requests (every JetStream publish and KV write), fix 1 where one socket read
 * brings many messages whose handlers each write (acks). Fix 1 alone on publishes swings
 * between -20% and +8% across runs: its gain there is within the noise.
 *
 * Pinned: {@link NATS_CLIENT_PINS} are the versions in package-lock.json. When the installed
 * client is another version, or the code the fixes replace is not found in it,
 * {@link applyNatsTuning} throws {@link NatsTuningError} (at start: nats/connection.ts calls it
 * before the first connection), so a client upgrade cannot silently drop or misapply them.
 * After an upgrade: re-check the two functions above in the new client, run `npm run
 * bench:libs` and test/streams/nats-tuning.test.ts, and update the pins, or delete this module
 * and its call in nats/connection.ts if the gain is gone.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ProtocolHandler, RequestOne, RequestError, TE } from "@nats-io/nats-core/internal";

/** The exact versions the fixes were written and measured against (package-lock.json). */
export const NATS_CLIENT_PINS = {
  /** The package whose internals are replaced. */
  "@nats-io/nats-core": "3.4.0",
  /** The package whose `connect` builds the connections (it must use the patched core). */
  "@nats-io/transport-node": "3.4.0",
} as const;

/** What is in effect after {@link applyNatsTuning}. */
export interface TuningReport {
  readonly coalescedWrites: boolean;
  readonly sharedCancelError: boolean;
}

/** Which fixes to apply (default: both). The benchmark measures each on its own. */
export type TuningChoice = Partial<TuningReport>;

/** The client is not the one the fixes were written for: they were not applied. */
export class NatsTuningError extends Error {
  readonly code = "NATS_TUNING_STALE";
  constructor(readonly problems: readonly string[]) {
    super(
      `nats/tuning.ts does not fit the installed nats.js client: ${problems.join("; ")}. ` +
        "Re-check the patched functions, run `npm run bench:libs` and test/streams/nats-tuning.test.ts, " +
        "then update NATS_CLIENT_PINS, or remove nats/tuning.ts and its call in nats/connection.ts.",
    );
    this.name = "NatsTuningError";
  }
}

interface Outbound {
  size(): number;
  fill(buf: Uint8Array, ...payloads: Uint8Array[]): void;
}
interface ProtocolInternals {
  outbound: Outbound;
  pendingLimit: number;
  flushPending(): void;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  flushScheduled?: boolean;
}
interface RequestInternals {
  timer?: { cancel(): void };
  mux: { cancel(r: unknown): void };
  deferred: { reject(err: unknown): void };
  cancel(err?: Error): void;
}

/** What the fixes are applied to: the client's versions and the two prototypes. */
export interface TuningTarget {
  /** Installed version of each pinned package (undefined when not found). */
  readonly versions: Readonly<Record<keyof typeof NATS_CLIENT_PINS, string | undefined>>;
  /** Whether transport-node resolves the same nats-core module as the one patched here. */
  readonly sameCore: boolean;
  readonly protocol: object;
  readonly request: object;
}

/** The code each fix replaces, as found in the compiled 3.4.0 client. */
const SIGNATURES = {
  sendCommand: /queueMicrotask\(\(\) => \{\s*this\.flushPending\(\);\s*\}\)/,
  cancel: /new errors_1\.RequestError\("cancelled"\)/,
} as const;

/** The replacement functions, so that a client tuned already is recognised as fitting. */
const replacements = new WeakSet<object>();

/** The installed version of a package, read from its package.json (not in its exports map). */
function installedVersion(req: NodeJS.Require, name: string): string | undefined {
  try {
    let dir = path.dirname(req.resolve(name));
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
          name?: unknown;
          version?: unknown;
        };
        if (pkg.name === name) return typeof pkg.version === "string" ? pkg.version : undefined;
      } catch {
        // no package.json at this level
      }
    }
  } catch {
    // not installed
  }
  return undefined;
}

/** The real client of this process. */
export function natsClientTarget(): TuningTarget {
  const req = createRequire(__filename);
  let sameCore = false;
  try {
    const fromTransport = createRequire(req.resolve("@nats-io/transport-node")).resolve("@nats-io/nats-core/internal");
    sameCore = fromTransport === req.resolve("@nats-io/nats-core/internal");
  } catch {
    sameCore = false;
  }
  return {
    versions: {
      "@nats-io/nats-core": installedVersion(req, "@nats-io/nats-core"),
      "@nats-io/transport-node": installedVersion(req, "@nats-io/transport-node"),
    },
    sameCore,
    protocol: ProtocolHandler.prototype,
    request: RequestOne.prototype,
  };
}

/** Why the fixes do not fit `target` (empty when they do, or when they are in effect already). */
export function tuningProblems(target: TuningTarget): string[] {
  const problems: string[] = [];
  for (const [name, pinned] of Object.entries(NATS_CLIENT_PINS) as [keyof typeof NATS_CLIENT_PINS, string][]) {
    const v = target.versions[name];
    if (v !== pinned) problems.push(`${name} is ${v ?? "not found"}, pinned ${pinned}`);
  }
  if (!target.sameCore) problems.push("@nats-io/transport-node does not use the @nats-io/nats-core patched here");
  const send = (target.protocol as Partial<ProtocolInternals>).sendCommand;
  if (typeof send !== "function" || (!replacements.has(send) && !SIGNATURES.sendCommand.test(String(send)))) {
    problems.push("ProtocolHandler.sendCommand no longer flushes in a queueMicrotask");
  }
  const cancel = (target.request as Partial<RequestInternals>).cancel;
  if (typeof cancel !== "function" || (!replacements.has(cancel) && !SIGNATURES.cancel.test(String(cancel)))) {
    problems.push('RequestOne.cancel no longer builds a RequestError("cancelled")');
  }
  return problems;
}

/**
 * Applies the fixes to `target` after checking it; throws {@link NatsTuningError} (and changes
 * nothing) when it does not fit. Exported for the test; the runtime calls {@link applyNatsTuning}.
 */
export function tuneNatsClient(target: TuningTarget, choice: TuningChoice = {}): TuningReport {
  const problems = tuningProblems(target);
  if (problems.length > 0) throw new NatsTuningError(problems);
  const coalescedWrites = choice.coalescedWrites ?? true;
  const sharedCancelError = choice.sharedCancelError ?? true;
  const protocol = target.protocol as ProtocolInternals;
  const request = target.request as RequestInternals;
  if (coalescedWrites && !replacements.has(protocol.sendCommand)) {
    protocol.sendCommand = function sendCommand(
      this: ProtocolInternals,
      cmd: string | Uint8Array,
      ...payloads: Uint8Array[]
    ): void {
      const buf = typeof cmd === "string" ? TE.encode(cmd) : cmd;
      this.outbound.fill(buf, ...payloads);
      if (this.outbound.size() >= this.pendingLimit) {
        this.flushPending();
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flushPending();
        });
      }
    };
    replacements.add(protocol.sendCommand);
  }
  if (sharedCancelError && !replacements.has(request.cancel)) {
    const cancelled = new RequestError("cancelled");
    request.cancel = function cancel(this: RequestInternals, err?: Error): void {
      if (this.timer) this.timer.cancel();
      this.mux.cancel(this);
      this.deferred.reject(err ?? cancelled);
    };
    replacements.add(request.cancel);
  }
  return { coalescedWrites, sharedCancelError };
}

/** Set once the fixes were applied to this process's client. */
let applied: TuningReport | undefined;

/**
 * Applies the fixes to this process's client, once (later calls return the first report).
 * Throws {@link NatsTuningError} when the installed client is not the pinned one.
 */
export function applyNatsTuning(choice: TuningChoice = {}): TuningReport {
  applied ??= tuneNatsClient(natsClientTarget(), choice);
  return applied;
}
