// Benchmarks: one federation hop on the reference's own HTTP edge (reference-impl/http/server.ts, spec §5.6) with the
// domain left out — the same RemoteCall body on a signed federation route and on an unsigned route, so that the
// signed/unsigned ratio isolates what request signing costs (sign, parse, key lookup, verify, replay cache, limits).
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { decodeBase64Url } from "../protocol/base64url.ts";
import { verifyKeyFrom, type VerifyKey } from "../protocol/keys.ts";
import { ReplayCache } from "../protocol/request-auth.ts";
import { HttpServer, type Route } from "../reference-impl/http/server.ts";

/** This server's name and the one signer it knows: `SELF ORIGIN KEY_ID PUBLIC_KEY_B64URL LOG_DIR`. */
const [self, origin, keyId, publicKey, logDir] = process.argv.slice(2);
const raw = publicKey ? decodeBase64Url(publicKey, 32) : null;
if (!self || !origin || !keyId || !raw || !logDir) throw new Error("usage: hop-server.ts SELF ORIGIN KEY_ID PUBLIC_KEY_B64URL LOG_DIR");
const key: VerifyKey = verifyKeyFrom(keyId, raw);

/** Both routes parse and validate the body as a RemoteCall and answer it back: only authentication differs. */
const echo = (path: string, kind: Route["kind"]): Route => ({
  method: "POST", path, kind, body: "RemoteCall", handler: (ctx) => ({ status: 200, body: ctx.body }),
});

mkdirSync(logDir, { recursive: true });
const now = Date.now;
const http = new HttpServer({
  routes: [echo("/federation/v1/call", "federation"), echo("/bench/v1/unsigned-call", "public")],
  // Like an instance: pino, info, asynchronous file destination.
  logger: pino({ level: "info" }, pino.destination({ dest: join(logDir, "hop.log"), sync: false })),
  maxBodyBytes: 1024 * 1024,
  // As in the call bench: latency is measured, not the per-origin policy.
  rate: { perSecond: 1_000_000, burst: 1_000_000 },
  auth: {
    self, now, maxSkewMs: 300_000, replay: new ReplayCache(), notBefore: now(),
    lookupKey: async (o, k) => (o === origin && k === key.keyId ? key : null),
  },
  controlToken: "x".repeat(32),
  validateResponses: false,
  now,
});
const address: AddressInfo = await http.listen("127.0.0.1", 0);
process.stdout.write(JSON.stringify({ event: "listening", url: `http://127.0.0.1:${address.port}` }) + "\n");
process.once("SIGTERM", () => void http.close().then(() => process.exit(0)));
