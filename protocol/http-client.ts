// Protocol primitive (outgoing federation requests of the reference instance and of the harness): signed HTTP over keep-alive pools (spec §5).
import type { LookupFunction } from "node:net";
import { Agent, type Dispatcher } from "undici";
import { parseIJson } from "./canonical-json.ts";
import { SmcpError, isErrorCode, type ErrorBody } from "./errors.ts";
import type { SigningKey } from "./keys.ts";
import { AUTH_HEADER, signRequest } from "./signing.ts";
import { JSON_TYPE } from "./http.ts";

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
  /** Parsed I-JSON (the same strict parser requests get), or undefined for an empty body or one that is not I-JSON. */
  body: unknown;
  /** Why a non-empty body is not I-JSON (invalid UTF-8, a BOM, duplicate names, lone surrogates, unsafe integers, not JSON). */
  bodyError?: string;
  /** Exact bytes received. */
  raw: Buffer;
}

/**
 * One keep-alive pool per process; `ca` lets tests federate over TLS with a CA they generated; `lookup` resolves
 * hostnames (the reference instance refuses non-public addresses for names learned from the network).
 */
export function createDispatcher(opts: { ca?: string | Buffer; connections?: number; lookup?: LookupFunction } = {}): Dispatcher {
  const connect = { ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.lookup ? { lookup: opts.lookup } : {}) };
  return new Agent({
    keepAliveTimeout: 30_000,
    connections: opts.connections ?? 16,
    ...(Object.keys(connect).length > 0 ? { connect } : {}),
  });
}

/** Thrown by sendRaw when an answer's body grows past `maxBytes` while it is read. */
export class BodyTooLargeError extends Error {}

export interface RawInit {
  method: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Idle bound: headers, and each gap between body chunks. */
  timeoutMs?: number;
  /** Total bound of the whole exchange, body included: a peer trickling bytes cannot hold it longer (DISC-12). */
  deadlineMs?: number;
  /** The answer's body is cut off (BodyTooLargeError) as soon as it passes this many bytes, never read whole. */
  maxBytes?: number;
}

export async function sendRaw(dispatcher: Dispatcher, url: string, init: RawInit): Promise<HttpAnswer> {
  const timeout = init.timeoutMs ?? 30_000;
  const signal = init.deadlineMs === undefined ? undefined : AbortSignal.timeout(init.deadlineMs);
  const origin = new URL(url).origin;
  const res = await dispatcher.request({
    origin,
    path: url.slice(origin.length) || "/",
    method: init.method as Dispatcher.HttpMethod,
    headers: init.headers,
    body: init.body,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    ...(signal ? { signal } : {}),
  });
  const raw = await readAnswer(res, init.maxBytes ?? Infinity);
  return { status: res.statusCode, headers: res.headers, ...parseAnswerBody(raw), raw };
}

/** A peer's answer is parsed like a request body (spec §3.1 JCS-01..04, depth bound): a duplicate name, a rounded integer or an over-deep answer never slips in. */
export function parseAnswerBody(raw: Buffer): { body: unknown; bodyError?: string } {
  if (raw.length === 0) return { body: undefined };
  try {
    return { body: parseIJson(raw) };
  } catch (err) {
    return { body: undefined, bodyError: (err as Error).message };
  }
}

/** Reads an answer's body chunk by chunk, destroying the stream the moment it passes `maxBytes`. */
async function readAnswer(res: Dispatcher.ResponseData, maxBytes: number): Promise<Buffer> {
  const body = res.body;
  const declared = Number(res.headers["content-length"] ?? NaN);
  if (declared > maxBytes) {
    body.destroy();
    throw new BodyTooLargeError(`answer declares ${declared} bytes, over ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new BodyTooLargeError(`answer over ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
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
    const extra: { retryAfterMs?: number; hop?: string } = {};
    if (b.retry_after_ms !== undefined) extra.retryAfterMs = b.retry_after_ms;
    if (typeof b.hop === "string") extra.hop = b.hop; // a forwarded call's failing hop, relayed unchanged (FWD-18)
    return new SmcpError(b.errcode, `${who}: ${b.error ?? ""}`, extra);
  }
  return new SmcpError("SMCP_INTERNAL", `${who} answered ${answer.status} without a spec error body`);
}
