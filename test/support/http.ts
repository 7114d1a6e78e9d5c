/** One HTTP call of a test, read whole (fetch; loopback only; redirects are not followed). */
// Every gateway answer a test receives is checked against the OpenAPI document.
import "./openapi-recorder";

/** A parsed answer: `json` is undefined when the body is not JSON. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: any;
}

/** Calls `url` with an API key (or none) and reads the whole answer. */
export async function call(
  url: string,
  apiKey: string | null,
  init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(url, {
    method: init.method ?? "GET",
    headers: { ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}), ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
    redirect: "manual",
  });
  return answerOf(res);
}

/** Reads a fetch response whole into an {@link Answer}. */
export async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
