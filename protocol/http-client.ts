// Protocol primitive (outgoing federation requests of the reference instance and of the harness): signed HTTP over keep-alive pools (spec §5).
import { Agent, type Dispatcher } from "undici";
import { SmcpError, isErrorCode, type ErrorBody } from "./errors.ts";
import type { SigningKey } from "./keys.ts";
import { AUTH_HEADER, signRequest } from "./signing.ts";
import { JSON_TYPE } from "./http.ts";
import { assertTextDepth } from "./canonical-json.ts";

export interface SignedRequest {
  /** Base URL of the destination's federation API, e.g. `http://127.0.0.1:4100`. */
  baseUrl: string;
  origin: string;
  destination: string;
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path and query exactly as they go on the request line. */
  path: string;
  body?: unknown;
  timeoutMs?: number;
  /** Extra headers, e.g. to send a deliberately broken request from the harness. */
  headers?: Record<string, string>;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or undefined for an empty body. */
  body: unknown;
  /** Exact bytes received. */
  raw: Buffer;
}

/** One keep-alive pool per process; `ca` lets tests federate over TLS with a CA they generated. */
export function createDispatcher(opts: { ca?: string | Buffer; connections?: number } = {}): Dispatcher {
  return new Agent({
    keepAliveTimeout: 30_000,
    connections: opts.connections ?? 16,
    ...(opts.ca ? { connect: { ca: opts.ca } } : {}),
  });
}

export async function sendRaw(
  dispatcher: Dispatcher,
  url: string,
  init: { method: string; headers: Record<string, string>; body?: Buffer; timeoutMs?: number },
): Promise<HttpAnswer> {
  const timeout = init.timeoutMs ?? 30_000;
  const res = await dispatcher.request({
    origin: new URL(url).origin,
    path: url.slice(new URL(url).origin.length) || "/",
    method: init.method as Dispatcher.HttpMethod,
    headers: init.headers,
    body: init.body,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  const raw = Buffer.from(await res.body.arrayBuffer());
  let body: unknown;
  if (raw.length > 0) {
    try {
      const text = raw.toString("utf8");
      assertTextDepth(text); // JCS-17: an over-deep answer is no answer, before anything recursive sees it
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  return { status: res.statusCode, headers: res.headers, body, raw };
}

/**
 * A JSON body serialised ahead of time (Naomi builds transactions from stored event text): sendSigned sends
 * `text` byte for byte, and JSON.stringify of it still yields the value, for senders that re-serialise.
 */
export class JsonText {
  constructor(readonly text: string) {}
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** Signs and sends a federation request. Network failures become SMCP_PEER_UNREACHABLE. */
export async function sendSigned(dispatcher: Dispatcher, key: SigningKey, req: SignedRequest): Promise<HttpAnswer> {
  const text = req.body === undefined ? "" : req.body instanceof JsonText ? req.body.text : JSON.stringify(req.body);
  const body = Buffer.from(text, "utf8");
  const headers: Record<string, string> = {
    [AUTH_HEADER]: signRequest(key, { method: req.method, uri: req.path, body, origin: req.origin, destination: req.destination }),
    ...(req.body === undefined ? {} : { "content-type": JSON_TYPE }),
    ...req.headers,
  };
  try {
    return await sendRaw(dispatcher, req.baseUrl + req.path, { method: req.method, headers, body: req.body === undefined ? undefined : body, timeoutMs: req.timeoutMs });
  } catch (err) {
    throw new SmcpError("SMCP_PEER_UNREACHABLE", `${req.destination} unreachable: ${(err as Error).message}`, { retryAfterMs: 1000 });
  }
}

/** Turns a non-2xx answer into the SmcpError it carries (or SMCP_INTERNAL when the body is not a spec error). */
export function errorFromAnswer(answer: HttpAnswer, who: string): SmcpError {
  const b = answer.body as Partial<ErrorBody> | undefined;
  if (b && isErrorCode(b.errcode)) {
    return new SmcpError(b.errcode, `${who}: ${b.error ?? ""}`, b.retry_after_ms !== undefined ? { retryAfterMs: b.retry_after_ms } : {});
  }
  return new SmcpError("SMCP_INTERNAL", `${who} answered ${answer.status} without a spec error body`);
}
