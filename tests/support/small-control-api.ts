// Conformance harness self-tests' target: just enough of a Control API for the contract checks (spec §6.4, §12.5),
// correct by default and with one deliberate fault each (ControlFaults).
import { SELF_TEST_TOKEN } from "./harness-self-test.ts";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SmcpError } from "../../protocol/errors.ts";
import { parseJsonBody, readBody, sendError, sendJson } from "../../protocol/http.ts";
import { DEFAULT_LIMITS } from "../../protocol/limits.ts";

export interface ControlFaults {
  /** Checks the bearer token before the route (CTRL-30 says route first). */
  tokenFirst?: boolean;
  /** Accepts any host mapping, plain http to remote hosts included (DISC-22). */
  anyMapping?: boolean;
  /** Lets the instance discover itself (CTRL-31). */
  selfPeer?: boolean;
  /** Reads control bodies of any size (CTRL-36 says: up to the advertised max_body_bytes). */
  noBodyLimit?: boolean;
}

export const CONTROL_API_NAME = "alice.test";
const ROUTES: Array<[RegExp, string]> = [
  [/^\/control\/v1\/instance$/, "GET"],
  [/^\/control\/v1\/channels$/, "POST"],
  [/^\/control\/v1\/hosts\/[^/]+$/, "PUT"],
  [/^\/control\/v1\/peers$/, "POST"],
];

/** Just enough of a Control API for the checks under test, applying the §12.5 order unless a fault says otherwise. */
export async function controlApi(faults: ControlFaults): Promise<{ url: string; close(): Promise<void> }> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const tokenOk = req.headers.authorization === `Bearer ${SELF_TEST_TOKEN}`;
    if (faults.tokenFirst && !tokenOk) throw new SmcpError("SMCP_UNAUTHORIZED", "token");
    const route = ROUTES.find(([re]) => re.test(path));
    if (!route) throw new SmcpError("SMCP_NOT_FOUND", "no route");
    if (route[1] !== req.method) throw new SmcpError("SMCP_METHOD_NOT_ALLOWED", "method");
    if (!tokenOk) throw new SmcpError("SMCP_UNAUTHORIZED", "token");
    const bytes = await readBody(req, faults.noBodyLimit ? 64 << 20 : DEFAULT_LIMITS.max_body_bytes);
    const body = (req.method === "GET" ? {} : parseJsonBody(req, bytes)) as Record<string, unknown>;
    if (path.startsWith("/control/v1/hosts/")) {
      const url = String(body.base_url ?? "");
      const loopback = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url);
      if (!faults.anyMapping && !(url.startsWith("https://") || loopback)) throw new SmcpError("SMCP_INVALID", "mapping must be https or loopback http");
      return sendJson(res, 200, { server_name: decodeURIComponent(path.split("/").pop()!), base_url: url });
    }
    if (path === "/control/v1/peers" && body.server_name === CONTROL_API_NAME && !faults.selfPeer) throw new SmcpError("SMCP_INVALID", "an instance is not its own peer");
    if (typeof body.name === "number") throw new SmcpError("SMCP_INVALID", "name must be a string", { details: [{ path: "/name", message: "must be string" }] as never });
    throw new SmcpError("SMCP_PEER_UNREACHABLE", "not part of this stub");
  };
  const server = createServer((req, res) => void handle(req, res).catch((err) => sendError(res, err)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}
