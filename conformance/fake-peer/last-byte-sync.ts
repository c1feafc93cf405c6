// Conformance harness, fake peer: copies of one request that truly overlap at the instance under test (spec §8.4
// TXN-20, §10.3 CALL-11) — each copy is written up to its last byte on its own connection, and only when the
// operating system holds all of them do the last bytes go out, together: no copy can be answered before the
// others have all but arrived.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { parseAnswerBody, type HttpAnswer } from "../../protocol/http-client.ts";

export interface PacedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
}

interface Opened {
  req: ClientRequest;
  /** Settles once everything but the last byte is written to the connection. */
  written: Promise<void>;
  answer: Promise<HttpAnswer>;
}

/** Sends every request on its own new connection, holding back each last body byte until all the rest is written. */
export async function sendOverlapping(list: PacedRequest[], opts: { ca?: string; timeoutMs: number }): Promise<HttpAnswer[]> {
  if (list.some((r) => r.body.length < 2)) throw new Error("last-byte sync needs bodies of at least two bytes");
  const opened = list.map((r) => open(r, opts));
  try {
    await Promise.all(opened.map((o) => o.written));
  } catch (err) {
    for (const o of opened) o.req.destroy();
    throw err;
  }
  opened.forEach((o, i) => o.req.end(list[i]!.body.subarray(-1)));
  return Promise.all(opened.map((o) => o.answer));
}

function open(r: PacedRequest, opts: { ca?: string; timeoutMs: number }): Opened {
  const url = new URL(r.url);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const headers = { ...r.headers, "content-length": String(r.body.length) };
  // agent: false gives each copy a connection of its own; no Nagle delay for the lone last byte.
  const req = send(url, { method: r.method, headers, agent: false, timeout: opts.timeoutMs, ...(opts.ca ? { ca: opts.ca } : {}) });
  req.setNoDelay(true);
  req.on("timeout", () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
  const answer = new Promise<HttpAnswer>((resolve, reject) => {
    req.on("error", reject);
    req.on("response", (res) => void readAll(res).then((raw) => resolve({ status: res.statusCode ?? 0, headers: res.headers, ...parseAnswerBody(raw), raw }), reject));
  });
  const written = new Promise<void>((resolve, reject) => {
    req.on("error", reject);
    req.write(r.body.subarray(0, r.body.length - 1), (err) => (err ? reject(err) : resolve()));
  });
  answer.catch(() => {});
  return { req, written, answer };
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
