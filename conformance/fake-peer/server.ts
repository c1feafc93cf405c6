// Conformance harness, fake peer: the HTTP(S) server — reads a request, dispatches on the route table, applies planted faults, records the exchange (spec §2.3, §5.6, §6.3, §13).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { SmcpError } from "../../protocol/errors.ts";
import { readBody, sendError, sendJson } from "../../protocol/http.ts";
import { ReplayCache } from "../../protocol/request-auth.ts";
import type { ServingCert } from "../tls-material.ts";
import { runTls } from "../tls-transport.ts";
import { bodyText, type WireRecorder } from "../wire-log.ts";
import type { InstanceDirectory } from "./directory.ts";
import type { FaultHooks } from "./faults.ts";
import { FAKE_LIMITS, type FakeIdentity } from "./identity.ts";
import { authenticate, parseInbound, type InboundAuth } from "./inbound.ts";
import { channelsIn, type InboundRecord, type Observation } from "./observation.ts";
import type { Answer, RouteRequest, RouteTable } from "./routes.ts";

export interface FakeServerParts {
  identity: FakeIdentity;
  directory: InstanceDirectory;
  routes: RouteTable;
  observation: Observation;
  recorder: WireRecorder;
  faults: FaultHooks[];
  /**
   * Serve HTTPS with this certificate; `null` serves plain HTTP; absent follows the run (--tls: the fake peers'
   * certificate from the run's CA, tls-transport.ts).
   */
  tls?: ServingCert | null;
}

/** One listening fake server answering as one identity; bound to 127.0.0.1 on a free port. */
export class FakeServer {
  private readonly auth: InboundAuth;
  /** TLS handshakes that failed (a client that refused this server's certificate aborts the handshake). */
  handshakeFailures = 0;

  private constructor(
    private readonly parts: FakeServerParts,
    private readonly server: Server,
  ) {
    this.auth = {
      self: parts.identity.name,
      replay: new ReplayCache(),
      directory: parts.directory,
      acceptsAuthFailure: (errcode) => parts.faults.some((f) => f.acceptsAuthFailure?.(errcode) === true),
    };
  }

  static async listen(parts: FakeServerParts): Promise<FakeServer> {
    let fake: FakeServer | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse): void => void fake!.handle(req, res);
    const tls = parts.tls === undefined ? runTls()?.fakePeer : parts.tls ?? undefined;
    const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createServer(handler);
    fake = new FakeServer(parts, server);
    if (tls) server.on("tlsClientError", () => void fake!.handshakeFailures++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    parts.identity.url = `${tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { identity, observation, recorder } = this.parts;
    const path = req.url ?? "/";
    const rec = observation.open(req.method ?? "GET", path);
    const later: Array<() => Promise<void>> = [];
    let answer: Answer | undefined;
    let bytes: Buffer | undefined;
    try {
      bytes = await readBody(req, FAKE_LIMITS.max_body_bytes);
      answer = await this.answer(req, path, bytes, rec, later);
      sendJson(res, answer.status, answer.body, answer.headers);
      rec.status = answer.status;
    } catch (raw) {
      const err = this.parts.faults.reduce((e, f) => (f.onError ? f.onError(e) : e), raw);
      rec.status = sendError(res, err).status;
      if (!(raw instanceof SmcpError)) rec.problems.push(`harness-error in fake peer: ${(raw as Error).message}`);
    }
    recorder.record({
      dir: "in",
      via: `${rec.origin ?? "?"}->${identity.name}`,
      method: rec.method,
      url: path,
      body: bodyText(bytes),
      status: rec.status,
      response: answer ? bodyText(JSON.stringify(answer.body)) : undefined,
      ...(rec.problems.length ? { problems: rec.problems } : {}),
    });
    rec.concerns = [...new Set([...channelsIn(path), ...channelsIn(bytes?.toString("utf8"))])];
    observation.close(rec);
    for (const fn of later) void fn();
  }

  private async answer(req: IncomingMessage, path: string, bytes: Buffer, rec: InboundRecord, later: Array<() => Promise<void>>): Promise<Answer> {
    const url = new URL(path, "http://fake");
    const method = req.method ?? "GET";
    const match = this.parts.routes.match(method, url.pathname);
    // Check 1 of spec §5.6 comes before authentication: a path naming no endpoint is 404 even when unsigned.
    if (match.kind === "none" || (match.kind === "wrong-method" && !match.signed)) return unexpected(rec, method, url);
    const signed = match.kind === "wrong-method" || match.route.signed;
    const origin = signed ? await authenticate(this.auth, req, path, bytes, rec) : "";
    if (match.kind === "wrong-method") return unexpected(rec, method, url);
    rec.route = match.route.name;
    const r: RouteRequest = {
      req,
      url,
      params: match.params,
      bytes,
      rec,
      origin,
      self: this.parts.identity,
      parse: <T>(schema: string) => parseInbound<T>(req, bytes, schema, rec, origin),
      afterAnswer: (fn) => void later.push(fn),
    };
    let answer = this.parts.faults.reduce<Answer | undefined>((a, f) => a ?? f.before?.(r), undefined) ?? (await match.route.handle(r));
    for (const f of this.parts.faults) if (f.after) answer = await f.after(r, answer);
    return answer;
  }
}

function unexpected(rec: InboundRecord, method: string, url: URL): never {
  rec.problems.push(`unexpected request ${method} ${url.pathname}`);
  throw new SmcpError("SMCP_NOT_FOUND", `no route ${method} ${url.pathname}`);
}
