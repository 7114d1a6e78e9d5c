/**
 * Identity normalisation and the identity hash. Pure (node:crypto only).
 *
 * Normalisation: the email is trimmed and lower-cased; the phone number becomes E.164 (spaces,
 * dots, dashes and brackets dropped, a leading 00 becomes +, a national number starting with 0
 * takes the default country code); other text fields are trimmed.
 *
 * The hash is HMAC-SHA256 keyed with a secret pepper over "email:<email>" (or "phone:<E.164>"
 * when there is no email), base64url without padding: 43 characters, a valid actor key and KV
 * key. The same person gets the same hash from every source and node; without the pepper the
 * hash cannot be reversed by trying emails.
 */
import { createHmac } from "node:crypto";
import type { ErrorDetail } from "../../lib/errors";
import type { Identity } from "./schema";

/** An identity after normalisation. */
export type NormalisedIdentity = Identity & { readonly email?: string; readonly phone?: string };

/** A valid E.164 number: +, a country code not starting with 0, 7 to 15 digits in all. */
export const E164 = /^\+[1-9][0-9]{6,14}$/;

/** A hash as this module produces it. */
export const HASH_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** True when `s` has the shape of an identity hash. */
export function isIdentityHash(s: unknown): s is string {
  return typeof s === "string" && HASH_PATTERN.test(s);
}

/** Trimmed, lower-cased email. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The E.164 form of `phone`, or null when it cannot be one. `defaultCountryCode` (e.g. "44")
 * applies to national numbers with a leading 0.
 */
export function normalisePhone(phone: string, defaultCountryCode: string): string | null {
  let p = phone.trim().replace(/[\s().\-/]/g, "");
  if (p.startsWith("00")) p = `+${p.slice(2)}`;
  else if (p.startsWith("0")) p = `+${defaultCountryCode}${p.slice(1)}`;
  else if (!p.startsWith("+")) return null;
  return E164.test(p) ? p : null;
}

function trimmed<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === "string") {
      const t = v.trim();
      if (t !== "") out[k] = t;
    } else if (typeof v === "object" && v !== null && !Array.isArray(v)) out[k] = trimmed(v as Record<string, unknown>);
    else if (v !== undefined) out[k] = v;
  }
  return out as T;
}

/** Normalises a schema-valid identity; errors name the field that cannot be normalised. */
export function normaliseIdentity(
  identity: Identity,
  defaultCountryCode: string,
): { identity: NormalisedIdentity } | { errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const out: Record<string, unknown> = trimmed(identity as Record<string, unknown>);
  if (identity.email !== undefined) {
    const e = normaliseEmail(identity.email);
    if (e === "") errors.push({ path: "/identity/email", message: "must not be blank" });
    else out["email"] = e;
  }
  if (identity.phone !== undefined) {
    const p = normalisePhone(identity.phone, defaultCountryCode);
    if (p === null)
      errors.push({
        path: "/identity/phone",
        message:
          "is not a phone number: expected E.164 (+447700900123), 00 then the country code, or a national number starting with 0",
      });
    else out["phone"] = p;
  }
  if (errors.length > 0) return { errors };
  if (out["email"] === undefined && out["phone"] === undefined)
    return { errors: [{ path: "/identity", message: "an email or a phone number is required" }] };
  return { identity: out as NormalisedIdentity };
}

/** The identity hash of a normalised identity (see module doc). */
export function identityHash(identity: Pick<NormalisedIdentity, "email" | "phone">, pepper: string): string {
  const basis =
    identity.email !== undefined
      ? `email:${identity.email}`
      : identity.phone !== undefined
        ? `phone:${identity.phone}`
        : null;
  if (basis === null) throw new Error("an identity needs an email or a phone number");
  return createHmac("sha256", pepper).update(basis, "utf8").digest("base64url");
}
