// Conformance harness, TLS runs (adv/tls, spec §6.3 DISC-13, DISC-15): an HTTPS front for a fake peer — the host a
// mapping points at, answering the well-known request with a redirect to the fake peer or with its document itself,
// so that the certificate of the discovery hop and of the fake peer's own server can differ.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { ServerDiscovery } from "../protocol/types.ts";
import type { ServingCert } from "./tls-material.ts";

export type FrontAnswer = { redirectTo: string } | { document: () => ServerDiscovery };

const WELL_KNOWN = "/.well-known/smcp/server";

export class TlsFront {
  /** Requests it answered (each a completed TLS handshake), and handshakes that failed. */
  requests = 0;
  handshakeFailures = 0;
  /** Requests for anything but the well-known document (federation requests belong at the document's endpoint, DISC-08). */
  strays: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Listens on 127.0.0.1 and a free port with `cert`; anything but GET of the well-known document is 404. */
  static async listen(cert: ServingCert, answer: FrontAnswer): Promise<TlsFront> {
    let front: TlsFront | undefined;
    const server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
      front!.requests++;
      req.resume();
      if (req.method !== "GET" || new URL(req.url ?? "/", "https://front").pathname !== WELL_KNOWN) {
        front!.strays.push(`${req.method ?? "?"} ${req.url ?? "/"}`);
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errcode: "SMCP_NOT_FOUND", error: "not here" }));
      } else if ("redirectTo" in answer) {
        res.writeHead(302, { location: `${answer.redirectTo}${WELL_KNOWN}`, "content-length": "0" }).end();
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer.document()));
      }
    });
    server.on("tlsClientError", () => void front!.handshakeFailures++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    front = new TlsFront(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return front;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
