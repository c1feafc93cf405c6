// Conformance harness self-tests: a loopback front for an instance under test whose msw handlers script broken answers
// (spec §16: every check must be able to fail); a request no handler answers is forwarded byte for byte.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getResponse, type RequestHandler } from "msw";
import { Agent, type Dispatcher } from "undici";
import type { SigningKey } from "../../../protocol/keys.ts";

/** What a fault handler may use besides the request: the instance's own answer, to pass on altered. */
export interface FrontTools {
  /** Sends the request (its original bytes, or another path or body: Control API requests are not signed) to the instance. */
  forward(request: Request, over?: { path?: string; body?: Buffer }): Promise<Response>;
  /** What the self-test tells the front once the run is set up (the fake peer's URL, the instance's Control API token). */
  env: { fakeUrl?: string; controlToken?: string; controlUrl?: string; instanceKey?: SigningKey };
  /** Cleanup a fault needs when the front closes (e.g. a relay it started). */
  onClose(fn: () => Promise<void>): void;
  /** Records that the fault breaking `check` answered a request. */
  fired(check: string): void;
  /** The exact body bytes of a request (a Fetch Request cannot carry a GET body, which some checks send). */
  bytesOf(request: Request): Buffer;
  /** The request-target exactly as received. */
  rawPathOf(request: Request): string;
}

export type FaultFactory = (tools: FrontTools) => RequestHandler[];

export interface Front {
  url: string;
  /** Where unanswered requests go; set once the instance behind the front is listening. */
  upstream: string;
  /** How often each fault (by the check it breaks) answered a request: a fault that never fired proves nothing. */
  fired: Map<string, number>;
  env: FrontTools["env"];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "upgrade"]);

interface Original {
  rawPath: string;
  method: string;
  rawHeaders: string[];
  bytes: Buffer;
}

export async function startFront(faults: FaultFactory): Promise<Front> {
  const agent: Dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: 32 });
  const originals = new WeakMap<Request, Original>();
  const fired = new Map<string, number>();
  const front: Front = { url: "", upstream: "", fired, env: {}, close: async () => {} };

  interface Answer {
    status: number;
    headers: Headers;
    body: Buffer;
  }
  /** The instance's answer to each request, fetched once: several faults may look at it, and none may send it twice. */
  const answered = new WeakMap<Request, Promise<Answer>>();
  const send = async (o: Original, over: { path?: string; body?: Buffer }): Promise<Answer> => {
    const headers: string[] = [];
    const body = over.body ?? o.bytes;
    for (let i = 0; i < o.rawHeaders.length; i += 2) {
      const name = o.rawHeaders[i]!.toLowerCase();
      if (HOP_BY_HOP.has(name) || (over.body && name === "content-length")) continue;
      headers.push(o.rawHeaders[i]!, o.rawHeaders[i + 1]!);
    }
    const res = await agent.request({ origin: front.upstream, path: over.path ?? o.rawPath, method: o.method as Dispatcher.HttpMethod, headers, body: body.length > 0 ? body : undefined, headersTimeout: 0, bodyTimeout: 0 });
    const answer = Buffer.from(await res.body.arrayBuffer());
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (HOP_BY_HOP.has(k) || k === "content-length" || v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
    }
    return { status: res.statusCode, headers: out, body: answer };
  };
  const forward = async (request: Request, over: { path?: string; body?: Buffer } = {}): Promise<Response> => {
    const o = originals.get(request);
    if (!o) throw new Error("forward() needs the request the front received");
    let a: Promise<Answer>;
    if (over.path !== undefined || over.body !== undefined) a = send(o, over);
    else {
      a = answered.get(request) ?? send(o, over);
      answered.set(request, a);
    }
    const { status, headers, body } = await a;
    return new Response(status === 204 || status === 304 ? null : new Uint8Array(body), { status, headers: new Headers(headers) });
  };
  const cleanups: Array<() => Promise<void>> = [];
  const tools: FrontTools = { forward, env: front.env, onClose: (fn) => void cleanups.push(fn), fired: (check) => void fired.set(check, (fired.get(check) ?? 0) + 1), bytesOf: (r) => originals.get(r)?.bytes ?? Buffer.alloc(0), rawPathOf: (r) => originals.get(r)?.rawPath ?? "" };
  const handlers = faults(tools);

  /** The first fault that answers; msw throws on a path parameter with bad percent-encoding, so each is asked alone. */
  const scriptedAnswer = async (request: Request): Promise<Response | undefined> => {
    for (const h of handlers) {
      const r = await getResponse([h], request).catch(() => undefined);
      if (r) return r;
    }
    return undefined;
  };

  const answer = async (req: IncomingMessage, bytes: Buffer): Promise<Response> => {
    const method = req.method ?? "GET";
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      try {
        headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
      } catch {
        // A header value Fetch refuses (a check may send one) is still forwarded from rawHeaders.
      }
    }
    let request: Request;
    try {
      // Bad percent-encoding (a check sends some) is escaped for msw's matching; faults see the raw path in rawPathOf.
      request = new Request(new URL((req.url ?? "/").replace(/%(?![0-9A-Fa-f]{2})/g, "%25"), front.url), { method, headers, ...(bytes.length > 0 && method !== "GET" && method !== "HEAD" ? { body: new Uint8Array(bytes) } : {}) });
    } catch {
      request = new Request(front.url, { method: "GET" });
    }
    originals.set(request, { rawPath: req.url ?? "/", method, rawHeaders: req.rawHeaders, bytes });
    return (await scriptedAnswer(request)) ?? forward(request);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      answer(req, Buffer.concat(chunks)).then(
        async (r) => {
          const body = Buffer.from(await r.arrayBuffer());
          const headers: Record<string, string | string[]> = {};
          r.headers.forEach((v, k) => {
            headers[k] = k === "set-cookie" ? r.headers.getSetCookie() : v;
          });
          res.writeHead(r.status, headers);
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(502, { "content-type": "text/plain" });
          res.end(`front: ${(err as Error).message}`);
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  front.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  front.close = async () => {
    await Promise.all(cleanups.map((c) => c()));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await agent.close();
  };
  return front;
}
