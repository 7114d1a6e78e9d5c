/**
 * The console's calls to the gateway. The credential lives in this module's memory only (never
 * in localStorage, sessionStorage or a cookie): reloading the page signs out. Every call is a
 * same-origin request to the API's admin routes with `Authorization: Bearer`.
 */
let bearer: string | null = null;

/** An error answered in the gateway's one shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const j = (await res.json()) as {
      error?: { code?: string; message?: string; details?: { path: string; message: string }[] };
    };
    return new ApiError(
      res.status,
      j.error?.code ?? "ERROR",
      j.error?.message ?? res.statusText,
      j.error?.details ?? [],
    );
  } catch {
    return new ApiError(res.status, "ERROR", res.statusText);
  }
}

/** Signs in: a client id and API key are exchanged for a short-lived token; a bare key or token is used as is. */
export async function signIn(
  clientId: string,
  secret: string,
): Promise<{ id: string; name: string; scopes: string[] }> {
  let token = secret.trim();
  if (clientId.trim() !== "") {
    const res = await fetch("/oauth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId.trim(), client_secret: token }),
    });
    if (!res.ok) throw await errorOf(res);
    token = ((await res.json()) as { access_token: string }).access_token;
  }
  const me = await fetch("/api/v1/me", { headers: { authorization: `Bearer ${token}` } });
  if (!me.ok) throw await errorOf(me);
  const client = (await me.json()) as { id: string; name: string; scopes: string[] };
  if (!client.scopes.includes("admin")) throw new ApiError(403, "FORBIDDEN", "this client has no admin scope");
  bearer = token;
  return client;
}

/** Forgets the credential. */
export function signOut(): void {
  bearer = null;
}

/** A JSON call to `path` (same origin). */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${bearer ?? ""}`,
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

/**
 * Reads the server-sent events of `path` with fetch (EventSource cannot send the Authorization
 * header), calling `on(event, data)` for each; reconnects after a second until `signal` aborts.
 */
export function live(path: string, on: (event: string, data: unknown) => void, signal: AbortSignal): void {
  const run = async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(path, { headers: { authorization: `Bearer ${bearer ?? ""}` }, signal });
        if (!res.ok || !res.body) throw await errorOf(res);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let event = "message";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) event = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (data) on(event, JSON.parse(data));
          }
        }
      } catch {
        // dropped or refused: try again shortly
      }
      if (!signal.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void run();
}
