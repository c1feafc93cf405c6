// Tests of the reference instance over TLS (Paulina discovery, Naomi delivery): HTTPS server, peers trusted through a CA file (spec §6.3).
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { PeerInfo } from "../protocol/types.ts";
import { connect, control, enc, start, waitForEvents } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A throw-away CA and a server certificate for 127.0.0.1, made with the openssl command line. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const f = (name: string) => join(dir, name);
  const run = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2", "-subj", "/CN=smcp test CA");
  run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=127.0.0.1");
  writeFileSync(f("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run("x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("server.pem"), "-days", "2", "-extfile", f("ext.cnf"));
  return { ca: f("ca.pem"), cert: f("server.pem"), key: f("server.key") };
}

describe("TLS", () => {
  it.skipIf(!hasOpenssl())("TLS: instances federate over HTTPS with a CA file; discovery and events work (spec §6.3 DISC-13)", async () => {
    const certs = tempDir("certs");
    const dirs = [tempDir("alice"), tempDir("bob")];
    const { ca, cert, key } = makeCertificates(certs);
    const alice = await start("alice.example", dirs[0]!, { tlsCertFile: cert, tlsKeyFile: key, caFile: ca });
    const bob = await start("bob.example", dirs[1]!, { tlsCertFile: cert, tlsKeyFile: key, caFile: ca });
    try {
      expect(alice.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      await connect(alice, bob);
      const peer = await control(alice, "POST", "/control/v1/peers", { server_name: "bob.example" });
      expect((peer.body as PeerInfo).endpoint).toBe(bob.url);
      const ch = "!tls:alice.example";
      await control(alice, "POST", "/control/v1/channels", { name: "tls" });
      expect((await control(alice, "POST", `/control/v1/channels/${enc(ch)}/invites`, { server: "bob.example" })).status).toBe(200);
      await control(bob, "POST", `/control/v1/channels/${enc(ch)}/events`, { type: "chat:message", data: { over: "tls" } });
      const events = await waitForEvents(alice, ch, 3);
      expect(events[2]).toMatchObject({ sender: "bob.example", data: { over: "tls" } });
    } finally {
      await Promise.all([alice.close(), bob.close()]);
      [...dirs, certs].forEach(removeDir);
    }
  });
});
