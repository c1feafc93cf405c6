// Benchmarks: the FLOOR of the call round trip (Roshumba figure 1) — an unsigned loopback echo on the same HTTP stack
// as the reference edge (node:http server, protocol/http.ts readBody), run as its own process like an instance.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "../protocol/http.ts";

const MAX_BODY = 1024 * 1024;

const server = createServer((req, res) => {
  readBody(req, MAX_BODY).then(
    (raw) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(raw.length) });
      res.end(raw);
    },
    () => {
      res.writeHead(413, { "content-length": "0" });
      res.end();
    },
  );
});
// Same keep-alive window as the reference edge, so the client pool keeps its sockets.
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(JSON.stringify({ event: "listening", url: `http://127.0.0.1:${port}` }) + "\n");
});
process.once("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
