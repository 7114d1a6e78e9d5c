/**
 * Log lines never carry a key twice (pino writes a child's bindings and the line's fields side
 * by side, so `{"kind":"x",...,"kind":"x"}` happened when the runtime bound `kind` and the host
 * logged it again; a JSON parser then silently keeps one). Real runtime on real NATS, its
 * logger writing into memory; every line is scanned for repeated keys.
 */
import { expect } from "chai";
import { connectNats, type NatsHandles } from "../../nats";
import { topology } from "../../streams/subjects";
import { provision } from "../../streams/provision";
import { Runtime } from "../../actors/runtime";
import type { ActorKind } from "../../actors/types";
import { createLogger } from "../../lib/logger";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";

/** Keys that appear more than once in one object of the JSON text `line` (any depth). */
export function duplicateKeys(line: string): string[] {
  const dups: string[] = [];
  const stack: { keys: Set<string> | null; expectKey: boolean }[] = [];
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const top = stack.at(-1);
    if (c === '"') {
      let j = i + 1;
      let s = "";
      while (j < line.length && line[j] !== '"') {
        if (line[j] === "\\") {
          s += line.slice(j, j + 2);
          j += 2;
        } else s += line[j++];
      }
      if (top?.keys && top.expectKey) {
        if (top.keys.has(s)) dups.push(s);
        top.keys.add(s);
        top.expectKey = false;
      }
      i = j;
    } else if (c === "{") stack.push({ keys: new Set(), expectKey: true });
    else if (c === "[") stack.push({ keys: null, expectKey: false });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === "," && top?.keys) top.expectKey = true;
  }
  return dups;
}

function memoryLogger(lines: string[]) {
  return createLogger({ level: "info", nodeId: "lk1" }, { write: (s: string) => void lines.push(s) });
}

describe("log lines have no duplicate keys", function () {
  it("the scanner finds a repeated key (the check bites)", function () {
    expect(duplicateKeys('{"a":1,"kind":"x","b":{"kind":1,"c":[{"kind":2}]},"kind":"x"}')).to.deep.equal(["kind"]);
    expect(duplicateKeys('{"a":"{\\"a\\":1}","b":[1,{"a":2}]}')).to.deep.equal([]);
  });

  it("a field a child logger already binds is written once (renamed when its value differs)", function () {
    const lines: string[] = [];
    const log = memoryLogger(lines).child({ kind: "probe" });
    log.warn({ kind: "probe", key: "k" }, "same value");
    log.warn({ kind: "other", key: "k" }, "another value");
    expect(lines.map(duplicateKeys)).to.deep.equal([[], []]);
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a).to.include({ kind: "probe", key: "k" });
    expect(b).to.include({ kind: "probe", kindField: "other" });
  });

  describe("an actor runtime whose handler fails", function () {
    this.timeout(60_000);
    const ns = freshNamespace("tlk");
    const lines: string[] = [];
    let h: NatsHandles;
    let runtime: Runtime;
    const failing: ActorKind<{ n: number }, { boom: boolean }> = {
      name: "boom",
      initialState: () => ({ n: 0 }),
      handle() {
        throw new Error("handler refuses");
      },
      retry: { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 2 },
    };

    before(async function () {
      h = await connectNats(NATS_URL, `${ns}-logs`);
      runtime = new Runtime(
        h,
        topology(ns),
        { kinds: [failing as ActorKind], hostedKinds: new Set(["boom"]), jobs: [], hostedJobs: new Set() },
        { nodeId: "lk1", partitions: 2, leaseTtlMs: 3000, idleMs: 60_000, maxResident: 100, replicas: 1 },
        memoryLogger(lines),
      );
      await provision(h, runtime.declarations());
      await runtime.start();
      await waitFor("partitions owned", () => runtime.isReady());
    });

    after(async function () {
      await runtime?.stop();
      await h?.nc.close();
      await cleanupNamespace(ns);
    });

    it("logs the retry and the dead letter with `kind` once", async function () {
      await runtime.send("boom", "k1", { boom: true });
      await waitFor("the dead-letter line", () => lines.some((l) => l.includes("message dead-lettered")), 20_000);
      const retry = lines.find((l) => l.includes("handler failed; retrying"));
      const dead = lines.find((l) => l.includes("message dead-lettered"))!;
      expect(retry, "a retry line").to.be.a("string");
      for (const l of lines) expect(duplicateKeys(l), l).to.deep.equal([]);
      expect(JSON.parse(dead)).to.include({ kind: "boom", key: "k1" });
    });
  });
});
