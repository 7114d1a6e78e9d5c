/**
 * A dependency's liveness for readiness checks, which must stay synchronous: `ping` runs every
 * `intervalMs` (each try bounded by `timeoutMs`) and the check passes while the last success is
 * at most `staleMs` old. A stalled or lost dependency turns readiness false within
 * `staleMs + timeoutMs` and true again on the first success after it returns.
 */
export interface LivenessCheck {
  /** The readiness check: ok while the dependency answered recently. */
  check(): { ok: boolean; detail: { lastOkMsAgo: number | null; lastError?: string } };
  stop(): void;
}

/** Starts pinging the dependency with `ping`. */
export function startLivenessCheck(
  ping: () => Promise<unknown>,
  opts: { intervalMs?: number; timeoutMs?: number; staleMs?: number; now?: () => number } = {},
): LivenessCheck {
  const intervalMs = opts.intervalMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 1500;
  const staleMs = opts.staleMs ?? 2500;
  const now = opts.now ?? Date.now;
  let lastOk: number | null = now();
  let lastError: string | undefined;
  let busy = false;
  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      lastOk = now();
      lastError = undefined;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
      busy = false;
    }
  };
  const interval = setInterval(() => void tick(), intervalMs);
  interval.unref();
  return {
    check() {
      const ago = lastOk === null ? null : now() - lastOk;
      return {
        ok: ago !== null && ago <= staleMs,
        detail: { lastOkMsAgo: ago, ...(lastError !== undefined ? { lastError } : {}) },
      };
    },
    stop() {
      clearInterval(interval);
    },
  };
}
