/**
 * Two CPU fixes to the nats.js client (@nats-io/nats-core 3.x), applied once per process when
 * the first connection is made. Both keep the protocol and every public behaviour as they are;
 * they only change how much work the client does per message. Measured on the receipts
 * benchmark:
 *
 * 1. Coalesced socket writes. The client flushes its outbound buffer in a microtask, so every
 *    burst of promise callbacks that publishes (an ack, a KV write, a job) becomes its own
 *    `write(2)`: about 12% of the node's CPU, 7% after this fix. Flushing in `setImmediate`
 *    instead sends everything one turn of the event loop produced in one write. The buffer is
 *    still flushed at once when it passes the client's pending limit, and ordering is
 *    unchanged (it is one buffer).
 * 2. No Error per finished request. `RequestOne.cancel`, called after every answered request
 *    (each JetStream publish and KV write), builds a fresh `RequestError("cancelled")` only to
 *    reject an already settled promise: capturing its stack was about 3% of CPU. A request that
 *    really is cancelled still rejects with a RequestError, built once and shared.
 *
 * If a client upgrade changes these internals, {@link applyNatsTuning} leaves them alone and
 * says so in its report (test/streams/nats-tuning.test.ts fails, so the upgrade is noticed).
 */
import { ProtocolHandler, RequestOne, RequestError, TE } from "@nats-io/nats-core/internal";

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

/** What was applied. */
export interface TuningReport {
  readonly coalescedWrites: boolean;
  readonly sharedCancelError: boolean;
}

/** Set once the fixes were applied (or found not to fit this client version). */
let report: TuningReport | undefined;

/** Applies the fixes (idempotent). Returns what is in effect. */
export function applyNatsTuning(): TuningReport {
  if (report) return report;
  const proto = ProtocolHandler.prototype as unknown as ProtocolInternals;
  const coalescedWrites = typeof proto.sendCommand === "function" && /queueMicrotask/.test(String(proto.sendCommand));
  if (coalescedWrites) {
    proto.sendCommand = function sendCommand(
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
  }
  const req = RequestOne.prototype as unknown as RequestInternals;
  const sharedCancelError =
    typeof req.cancel === "function" && /new errors_1\.RequestError\("cancelled"\)/.test(String(req.cancel));
  if (sharedCancelError) {
    const cancelled = new RequestError("cancelled");
    req.cancel = function cancel(this: RequestInternals, err?: Error): void {
      if (this.timer) this.timer.cancel();
      this.mux.cancel(this);
      this.deferred.reject(err ?? cancelled);
    };
  }
  report = { coalescedWrites, sharedCancelError };
  return report;
}
