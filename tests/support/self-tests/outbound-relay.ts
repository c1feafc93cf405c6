// Conformance harness self-tests: a relay between an instance and the fake peer that rewrites what the instance sends
// and signs it again with the instance's own key — a broken sender (spec §5, §7.3), where a front only breaks answers.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createDispatcher, sendRaw } from "../../../protocol/http-client.ts";
import { JSON_TYPE } from "../../../protocol/http.ts";
import type { SigningKey } from "../../../protocol/keys.ts";
import { AUTH_HEADER, signRequest } from "../../../protocol/signing.ts";

export interface Relay {
  url: string;
  close(): Promise<void>;
}

/** Fields of an X-SMCP-Authorization header (spec §5.2). */
function authFields(h: string): Record<string, string> {
  return Object.fromEntries(h.replace(/^SMCP-Ed25519 /, "").split(" ").map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)]));
}

/** What a rewrite does with one request: send another JSON body (signed again), or answer it without sending it on. */
export type Rewrite = { body: unknown } | { answer: { status: number; body: unknown } } | undefined;

/** Relays to `upstream`; `rewrite` may replace a JSON body (it goes out signed by `key` as the original origin) or swallow the request. */
export async function startRelay(upstream: string, key: SigningKey, rewrite: (method: string, path: string, body: unknown) => Rewrite): Promise<Relay> {
  const dispatcher = createDispatcher();
  let url = "";
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        let body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && !["host", "connection", "content-length"].includes(k)) headers[k] = v;
        let parsed: unknown;
        try {
          parsed = body.length > 0 ? JSON.parse(body.toString("utf8")) : undefined;
        } catch {
          parsed = undefined;
        }
        const changed = parsed === undefined ? undefined : rewrite(req.method ?? "GET", req.url ?? "/", parsed);
        if (changed && "answer" in changed) {
          res.writeHead(changed.answer.status, { "content-type": JSON_TYPE });
          res.end(JSON.stringify(changed.answer.body));
          return;
        }
        if (changed && headers[AUTH_HEADER.toLowerCase()]) {
          const f = authFields(headers[AUTH_HEADER.toLowerCase()]!);
          body = Buffer.from(JSON.stringify(changed.body));
          headers[AUTH_HEADER.toLowerCase()] = signRequest(key, { method: req.method ?? "GET", uri: req.url ?? "/", body, origin: f.origin!, destination: f.destination! });
          headers["content-type"] = JSON_TYPE;
        }
        const a = await sendRaw(dispatcher, upstream + (req.url ?? "/"), { method: req.method ?? "GET", headers, body: body.length > 0 ? body : undefined });
        // The peer's discovery document names the relay as its endpoint, so federation requests come here too.
        const wellKnown = req.url === "/.well-known/smcp/server" && a.status === 200;
        res.writeHead(a.status, { "content-type": String(a.headers["content-type"] ?? JSON_TYPE) });
        res.end(wellKnown ? JSON.stringify({ ...(a.body as object), endpoint: url }) : a.raw);
      })().catch((err: unknown) => {
        res.writeHead(502);
        res.end(String((err as Error).message));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await dispatcher.close();
    },
  };
}
