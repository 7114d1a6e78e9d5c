/**
 * Matches a request line against the route table before anything else happens: it decides
 * 404 (no such path), 405 (path exists, method does not) and 400 (undecodable path), and
 * yields the RouteSpec and decoded path parameters for the rest of the pipeline.
 * Matching is exact and case-sensitive on raw path segments; "..", empty segments and
 * encoded slashes never match a literal segment.
 */
import type { HttpMethod, RouteSpec } from "./routes";

/** The outcome of matching one request. */
export type RouteMatch =
  | { readonly kind: "found"; readonly spec: RouteSpec; readonly params: Record<string, string> }
  | { readonly kind: "method"; readonly allow: readonly HttpMethod[] }
  | { readonly kind: "none" }
  | { readonly kind: "bad"; readonly reason: string };

interface Compiled {
  readonly spec: RouteSpec;
  /** Literal segment, or null for a parameter at that position. */
  readonly segments: readonly (string | null)[];
  readonly names: readonly (string | null)[];
}

/** A compiled route table. */
export interface Router {
  match(method: string | undefined, url: string | undefined): RouteMatch;
  readonly routes: readonly RouteSpec[];
}

/** Longest accepted path, in characters (the header size limit bounds the rest). */
const MAX_PATH = 2048;

/** Builds a router over `routes` (assumed checked with `checkRouteTable`). */
export function createRouter(routes: readonly RouteSpec[]): Router {
  const byLength = new Map<number, Compiled[]>();
  for (const spec of routes) {
    const parts = spec.path.split("/").slice(1);
    const compiled: Compiled = {
      spec,
      segments: parts.map((p) => (p.startsWith("{") ? null : p)),
      names: parts.map((p) => (p.startsWith("{") ? p.slice(1, -1) : null)),
    };
    const list = byLength.get(parts.length) ?? [];
    list.push(compiled);
    byLength.set(parts.length, list);
  }
  // Literal segments win over parameters at the same depth (e.g. /clients/search before /clients/{id}).
  for (const list of byLength.values()) {
    list.sort((a, b) => a.segments.filter((s) => s === null).length - b.segments.filter((s) => s === null).length);
  }

  return {
    routes,
    match(method, url) {
      if (!url || url[0] !== "/") return { kind: "bad", reason: "request target is not an absolute path" };
      const q = url.indexOf("?");
      let path = q === -1 ? url : url.slice(0, q);
      if (path.length > MAX_PATH) return { kind: "none" };
      if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
      const parts = path.split("/").slice(1);
      const candidates = byLength.get(parts.length);
      if (!candidates) return { kind: "none" };
      const allow: HttpMethod[] = [];
      for (const c of candidates) {
        let ok = true;
        for (let i = 0; i < parts.length; i++) {
          const lit = c.segments[i];
          const part = parts[i]!;
          if (lit === null) {
            if (part.length === 0) {
              ok = false;
              break;
            }
          } else if (lit !== part) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
        if (c.spec.method !== method) {
          if (!allow.includes(c.spec.method)) allow.push(c.spec.method);
          continue;
        }
        const params: Record<string, string> = {};
        for (let i = 0; i < parts.length; i++) {
          const name = c.names[i];
          if (!name) continue;
          try {
            params[name] = decodeURIComponent(parts[i]!);
          } catch {
            return { kind: "bad", reason: `path parameter ${name} is not valid percent-encoding` };
          }
        }
        return { kind: "found", spec: c.spec, params };
      }
      return allow.length > 0 ? { kind: "method", allow } : { kind: "none" };
    },
  };
}
