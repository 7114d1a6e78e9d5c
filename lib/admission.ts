/**
 * Admission checks of the intakes hosted in this process, by action name. A domain whose intake
 * sheds load (on the event loop delay, on its actors' backlog) registers its check when it
 * starts; the gateway asks it right
 * after matching a route, before authenticating the caller or reading the body, so that a
 * refusal costs a fraction of what an accepted request costs (its point: shedding must be
 * cheap, or the overload feeds on the refusals). The action checks again when it is called, for
 * callers that come over Moleculer rather than through this gateway.
 */
import type { AppError } from "./errors";

/** A check: the 503 to refuse a new request with, or undefined to admit it. Synchronous and cheap. */
export type AdmissionCheck = () => AppError | undefined;

/** The admission checks of one process's intakes. */
export class AdmissionRegistry {
  private readonly checks = new Map<string, AdmissionCheck>();

  /** Registers (or replaces) the check of `action` (an intake's action name, `<service>.<action>`). */
  set(action: string, check: AdmissionCheck): void {
    this.checks.set(action, check);
  }

  /** Removes the check of `action` (its domain stopped). */
  delete(action: string): void {
    this.checks.delete(action);
  }

  /** The refusal for a new request to `action`, or undefined when it is admitted (or has no check). */
  check(action: string): AppError | undefined {
    return this.checks.get(action)?.();
  }
}
