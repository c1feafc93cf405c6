// Conformance harness, fake peer: authenticating and parsing what instances send it with the receivers' own code (spec §5.6, §3).
import type { IncomingMessage } from "node:http";
import { SmcpError, type ErrorCode } from "../../protocol/errors.ts";
import { parseJsonBody } from "../../protocol/http.ts";
import { assertBodyOrigin, authenticateRequest, type AuthContext, type ReplayCache } from "../../protocol/request-auth.ts";
import { validate } from "../../protocol/schemas.ts";
import { AUTH_HEADER, parseAuthHeader, sha256Base64Url } from "../../protocol/signing.ts";
import type { InstanceDirectory } from "./directory.ts";
import { FAKE_LIMITS } from "./identity.ts";
import type { InboundRecord } from "./observation.ts";

export interface InboundAuth {
  self: string;
  replay: ReplayCache;
  directory: InstanceDirectory;
  /** A planted fault: authentication failures with these codes are let through. */
  acceptsAuthFailure(errcode: ErrorCode): boolean;
}

/** Checks an instance's request signature (spec §5.6); returns the origin, recording nonce and body hash. */
export async function authenticate(a: InboundAuth, req: IncomingMessage, path: string, bytes: Buffer, rec: InboundRecord): Promise<string> {
  const ctx: AuthContext = {
    self: a.self,
    now: Date.now,
    maxSkewMs: FAKE_LIMITS.max_clock_skew_ms,
    notBefore: 0,
    replay: a.replay,
    lookupKey: (origin, keyId) => a.directory.lookupKey(origin, keyId),
  };
  const raw = req.headers[AUTH_HEADER];
  const header = Array.isArray(raw) ? raw[0] : raw;
  try {
    rec.sha = sha256Base64Url(bytes);
    const auth = await authenticateRequest(ctx, header, { method: req.method ?? "GET", uri: path, body: bytes });
    rec.origin = auth.origin;
    rec.nonce = auth.nonce;
    return auth.origin;
  } catch (err) {
    const parsed = parseAuthHeader(header);
    if (err instanceof SmcpError && parsed && a.acceptsAuthFailure(err.errcode)) {
      rec.origin = parsed.origin;
      return parsed.origin;
    }
    rec.problems.push(`instance sent a request that fails authentication: ${(err as Error).message}`);
    throw err;
  }
}

/** The body parsed strictly and validated against `schema`, its origin the signer's; every failure is recorded. */
export function parseInbound<T>(req: IncomingMessage, bytes: Buffer, schema: string, rec: InboundRecord, origin: string): T {
  let body: unknown;
  try {
    body = parseJsonBody(req, bytes);
  } catch (err) {
    rec.problems.push(`instance sent an unparsable body: ${(err as Error).message}`);
    throw err;
  }
  rec.body = body;
  const issues = validate(schema, body);
  if (issues.length > 0) {
    rec.problems.push(`instance sent an invalid ${schema}: ${issues.map((i) => `${i.path || "/"} ${i.message}`).join("; ")}`);
    throw new SmcpError("SMCP_INVALID", `not a valid ${schema}`, { details: issues });
  }
  try {
    assertBodyOrigin({ origin } as never, body);
  } catch (err) {
    rec.problems.push(`body origin is not the signer: ${(err as Error).message}`);
    throw err;
  }
  return body as T;
}
