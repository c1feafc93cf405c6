// Security test of the HTTP edge (spec §5.6 SIGN-30, SIGN-50, issue 10 finding 8): after a 413 the instance stops reading and
// closes the connection; a client that declares or sends 10 MB gets at most a bounded number of bytes read.
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Instance } from "../reference-impl/instance.ts";
import { start } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

let alice: Instance;
const dir = tempDir("refusal");
const serverSockets: Socket[] = [];

beforeAll(async () => {
  alice = await start("alice.example", dir);
  alice.http.server.on("connection", (s: Socket) => serverSockets.push(s));
});
afterAll(async () => {
  await alice.close();
  removeDir(dir);
});

/** Sends headers declaring `declared` bytes, then writes up to `total` bytes as fast as the socket takes them. */
function flood(declared: number, total: number): Promise<{ response: string; written: number }> {
  const port = Number(new URL(alice.url).port);
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    let response = "";
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    sock.on("data", (d) => (response += d.toString("latin1")));
    sock.on("error", () => undefined);
    sock.on("close", () => resolve({ response, written }));
    sock.on("connect", () => {
      sock.write(`PUT /federation/v1/send/t1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`);
      const pump = () => {
        while (written < total && !sock.destroyed) {
          written += chunk.length;
          if (!sock.write(chunk)) return void sock.once("drain", pump);
        }
        if (!sock.destroyed) sock.end();
      };
      pump();
    });
  });
}

const LIMIT = 1024 * 1024;
/** Bytes the server may read beyond its limit: what sat in its socket's buffers when it stopped (SIGN-30). */
const SLACK = 256 * 1024;

describe("after 413 the connection is closed (SIGN-30)", () => {
  it("a declared 10 GB body: 413 at once, connection closed, far less than the limit read", async () => {
    serverSockets.length = 0;
    const { response } = await flood(10 * 1024 ** 3, 64 * 1024 * 1024);
    expect(response).toMatch(/^HTTP\/1\.1 413/);
    expect(response.toLowerCase()).toContain("connection: close");
    expect(response).toContain("SMCP_TOO_LARGE");
    expect(serverSockets).toHaveLength(1);
    const read = serverSockets[0]!.bytesRead;
    console.log(`declared 10 GiB, client offered 64 MiB: server read ${read} bytes`);
    expect(read).toBeLessThan(SLACK);
  });

  it("an undeclared (chunked) 64 MB body: 413 after the limit, at most the limit plus socket buffers read", async () => {
    serverSockets.length = 0;
    const port = Number(new URL(alice.url).port);
    const result = await new Promise<{ response: string }>((resolve) => {
      const sock = connect(port, "127.0.0.1");
      let response = "";
      let written = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
      sock.on("data", (d) => (response += d.toString("latin1")));
      sock.on("error", () => undefined);
      sock.on("close", () => resolve({ response }));
      sock.on("connect", () => {
        sock.write("PUT /federation/v1/send/t2 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
        const pump = () => {
          while (written < 64 * 1024 * 1024 && !sock.destroyed) {
            written += chunk.length;
            if (!sock.write(framed)) return void sock.once("drain", pump);
          }
        };
        pump();
      });
    });
    expect(result.response).toMatch(/^HTTP\/1\.1 413/);
    const read = serverSockets[0]!.bytesRead;
    console.log(`chunked 64 MiB offered: server read ${read} bytes (limit ${LIMIT})`);
    expect(read).toBeLessThan(LIMIT + SLACK);
  });
});
