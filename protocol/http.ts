// Protocol primitive (HTTP edge of the reference instance and of the harness's fake peer): bodies in, JSON and errors out (spec §13).
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseIJson } from "./canonical-json.ts";
import { SmcpError } from "./errors.ts";

export const JSON_TYPE = "application/json";

/**
 * Reads the exact body bytes, refusing (413) as soon as they exceed `limit`; signatures are checked over these bytes.
 * After a refusal nothing more is read (SIGN-30): the stream is paused and sendError closes the connection.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    return Promise.reject(new SmcpError("SMCP_TOO_LARGE", `body of ${declared} bytes exceeds ${limit}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.pause();
        reject(new SmcpError("SMCP_TOO_LARGE", `body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on("error", (err) => reject(new SmcpError("SMCP_BAD_JSON", `request body could not be read: ${err.message}`)));
  });
}

/**
 * Parses a JSON request body; requires `Content-Type: application/json` (415) and an I-JSON object (400,
 * spec §3.1 JCS-01..04: strict UTF-8, no BOM, no duplicate names, no lone surrogates, no unsafe integers).
 */
export function parseJsonBody(req: IncomingMessage, bytes: Buffer): unknown {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== JSON_TYPE) throw new SmcpError("SMCP_UNSUPPORTED_MEDIA_TYPE", `Content-Type must be ${JSON_TYPE}`);
  let value: unknown;
  try {
    value = parseIJson(bytes);
  } catch (err) {
    throw new SmcpError("SMCP_BAD_JSON", `body is not I-JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SmcpError("SMCP_BAD_JSON", "body must be a JSON object");
  }
  return value;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { "content-type": JSON_TYPE, "content-length": String(Buffer.byteLength(text)) } : { "content-length": "0" }),
    ...headers,
  });
  res.end(text);
}

/** Answers with the spec's error body; any non-SmcpError becomes SMCP_INTERNAL without leaking its details. */
export function sendError(res: ServerResponse, err: unknown): SmcpError {
  const e = err instanceof SmcpError ? err : new SmcpError("SMCP_INTERNAL", "internal error");
  const headers: Record<string, string> = {};
  if (e.extra.retryAfterMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(e.extra.retryAfterMs / 1000)));
  // SIGN-30: the rest of an oversized body is never read; the connection cannot be reused, so it is closed.
  const refuseRest = e.errcode === "SMCP_TOO_LARGE" && res.req !== undefined && !res.req.complete;
  if (refuseRest) headers.connection = "close";
  if (!res.headersSent) sendJson(res, e.status, e.toBody(), headers);
  else res.destroy();
  if (refuseRest) closeAfterAnswer(res);
  return e;
}

/**
 * Ends the connection once the 413 is written: half-close at once (the client sees the answer and EOF), and destroy
 * shortly after so that a client which keeps sending cannot keep the socket. Node would otherwise read and discard
 * the rest of the declared body before closing.
 */
function closeAfterAnswer(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) return;
  socket.pause();
  res.once("finish", () => {
    socket.end();
    socket.pause(); // Node's own finish handler resumed the request stream to discard it
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}
