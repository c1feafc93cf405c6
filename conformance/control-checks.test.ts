// Conformance harness self-tests: the Control API contract checks (spec §6.4, §12.5) pass against a small, correct Control
// API and fail against one with a single deliberate fault — so each check is shown to bite.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SmcpError } from "../protocol/errors.ts";
import { parseJsonBody, readBody, sendError, sendJson } from "../protocol/http.ts";
import { generateSeed, signingKeyFromSeed, verifyKeyOf } from "../protocol/keys.ts";
import { runOne } from "./runner.ts";
import { FAKE_LIMITS } from "./fake-peer.ts";
import { checkById, harnessAgainst } from "../tests/support/harness-self-test.ts";

interface ControlFaults {
  /** Checks the bearer token before the route (CTRL-30 says route first). */
  tokenFirst?: boolean;
  /** Accepts any host mapping, plain http to remote hosts included (DISC-22). */
  anyMapping?: boolean;
  /** Lets the instance discover itself (CTRL-31). */
  selfPeer?: boolean;
  /** Reads control bodies of any size (CTRL-36 says: up to the advertised max_body_bytes). */
  noBodyLimit?: boolean;
}

const NAME = "alice.test";
const ROUTES: Array<[RegExp, string]> = [
  [/^\/control\/v1\/instance$/, "GET"],
  [/^\/control\/v1\/channels$/, "POST"],
  [/^\/control\/v1\/hosts\/[^/]+$/, "PUT"],
  [/^\/control\/v1\/peers$/, "POST"],
];

/** Just enough of a Control API for the checks under test, applying the §12.5 order unless a fault says otherwise. */
async function controlApi(faults: ControlFaults): Promise<{ url: string; close(): Promise<void> }> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const tokenOk = req.headers.authorization === "Bearer token";
    if (faults.tokenFirst && !tokenOk) throw new SmcpError("SMCP_UNAUTHORIZED", "token");
    const route = ROUTES.find(([re]) => re.test(path));
    if (!route) throw new SmcpError("SMCP_NOT_FOUND", "no route");
    if (route[1] !== req.method) throw new SmcpError("SMCP_METHOD_NOT_ALLOWED", "method");
    if (!tokenOk) throw new SmcpError("SMCP_UNAUTHORIZED", "token");
    const bytes = await readBody(req, faults.noBodyLimit ? 64 << 20 : FAKE_LIMITS.max_body_bytes);
    const body = (req.method === "GET" ? {} : parseJsonBody(req, bytes)) as Record<string, unknown>;
    if (path.startsWith("/control/v1/hosts/")) {
      const url = String(body.base_url ?? "");
      const loopback = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url);
      if (!faults.anyMapping && !(url.startsWith("https://") || loopback)) throw new SmcpError("SMCP_INVALID", "mapping must be https or loopback http");
      return sendJson(res, 200, { server_name: decodeURIComponent(path.split("/").pop()!), base_url: url });
    }
    if (path === "/control/v1/peers" && body.server_name === NAME && !faults.selfPeer) throw new SmcpError("SMCP_INVALID", "an instance is not its own peer");
    if (typeof body.name === "number") throw new SmcpError("SMCP_INVALID", "name must be a string", { details: [{ path: "/name", message: "must be string" }] as never });
    throw new SmcpError("SMCP_PEER_UNREACHABLE", "not part of this stub");
  };
  const server = createServer((req, res) => void handle(req, res).catch((err) => sendError(res, err)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function run(id: string, faults: ControlFaults) {
  const api = await controlApi(faults);
  const key = verifyKeyOf(signingKeyFromSeed(generateSeed()));
  const h = await harnessAgainst({ alice: { name: NAME, url: api.url, key }, bob: { name: "bob.test", url: api.url, key } });
  closers.push(h.close, api.close);
  return runOne(checkById(`${id}@alice`), h.ctx);
}

describe("Control API contract checks against a small Control API", () => {
  const cases: Array<[string, ControlFaults, string]> = [
    ["ctl/check-order", { tokenFirst: true }, "checks the token before the route (CTRL-30)"],
    ["ctl/host-map-remote-http", { anyMapping: true }, "accepts plain http to a remote host (DISC-22)"],
    ["ctl/self-not-peer", { selfPeer: true }, "lets the instance discover itself (CTRL-31)"],
    ["ctl/body-limit", { noBodyLimit: true }, "reads bodies beyond its advertised max_body_bytes (CTRL-36)"],
  ];
  for (const [id, fault, what] of cases) {
    it(`${id} passes against a correct Control API`, async () => {
      const r = await run(id, {});
      expect([r.status, r.details[0]]).toEqual(["pass", undefined]);
    });

    it(`${id} fails against a Control API that ${what}`, async () => {
      const r = await run(id, fault);
      expect([r.status, r.category]).toEqual(["fail", "requirement"]);
    });
  }
});
