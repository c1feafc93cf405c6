// Test support for the reference instance (all SMCP components): start real instances on 127.0.0.1:0, drive the
// control API, impersonate a peer with its own key, and await observable state without sleeping.
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import { createDispatcher, sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import { formatPublicKey, generateSeed, signingKeyFromSeed, type SigningKey } from "../protocol/keys.ts";
import { signRequest } from "../protocol/signing.ts";
import { validate } from "../protocol/schemas.ts";
import type { ServerDiscovery } from "../protocol/types.ts";
import type { InstanceConfig } from "./config.ts";
import { startInstance, type Instance } from "./instance.ts";

export const dispatcher = createDispatcher();
/** The tests' control client talks to HTTPS instances on loopback whose throw-away CA it does not load. */
const loopbackTls = new Agent({ connect: { rejectUnauthorized: false } });

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `smcp-${label}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Starts an instance with test-friendly defaults (quiet, no vikunja unless asked, fast retries). */
export function start(name: string, dataDir: string, extra: Partial<InstanceConfig> = {}): Promise<Instance> {
  return startInstance({
    serverName: name, dataDir, listenHost: "127.0.0.1", listenPort: 0, logLevel: process.env.SMCP_TEST_LOG ?? "silent",
    includeVikunja: false, pingIntervalMs: 0, backoffBaseMs: 50, backoffMaxMs: 500, gapDelayMs: 50, validateResponses: true,
    ...extra,
  });
}

/** Each instance learns the other's address through the control API (spec §6.4). */
export async function connect(...instances: Instance[]): Promise<void> {
  for (const a of instances) {
    for (const b of instances) {
      if (a === b) continue;
      const r = await control(a, "PUT", `/control/v1/hosts/${b.serverName}`, { base_url: b.url });
      if (r.status !== 204) throw new Error(`host mapping failed: ${r.status} ${JSON.stringify(r.body)}`);
    }
  }
}

export async function control(inst: Instance, method: string, path: string, body?: unknown, token = inst.controlToken): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return sendRaw(inst.url.startsWith("https:") ? loopbackTls : dispatcher, inst.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(payload ? { "content-type": "application/json" } : {}) },
    body: payload,
    timeoutMs: 40_000,
  });
}

export function enc(channel: string): string {
  return encodeURIComponent(channel);
}

/** Awaits a condition on observable state: re-checks on every event-loop turn for at most `ms` (no fixed sleeps). */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Long-polls an instance until its channel holds `count` events, and returns them in seq order. */
export async function waitForEvents(inst: Instance, channel: string, count: number, ms = 10_000): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + ms;
  const events: Array<Record<string, unknown>> = [];
  for (;;) {
    const wait = Math.max(0, Math.min(deadline - Date.now(), 2000));
    const page = await control(inst, "GET", `/control/v1/channels/${enc(channel)}/events?after=${events.length}&limit=1000&wait_ms=${wait}`);
    events.push(...((page.body as { events?: Array<Record<string, unknown>> } | undefined)?.events ?? []));
    if (events.length >= count) return events;
    if (Date.now() >= deadline) throw new Error(`${inst.serverName} has ${events.length}/${count} events of ${channel}`);
  }
}

/** A peer we control completely: serves a discovery document for its own key, signs whatever we ask. */
export interface FakePeer {
  name: string;
  url: string;
  key: SigningKey;
  /** Sends a request signed by this peer (or with the given header overrides). */
  send(target: { url: string; destination: string }, method: string, path: string, body?: Buffer | unknown, opts?: SendOptions): Promise<HttpAnswer>;
  close(): Promise<void>;
}

export interface SendOptions {
  headers?: Record<string, string>;
  ts?: number;
  nonce?: string;
  /** Sign with this key instead (the header still names the peer's key_id). */
  signWith?: SigningKey;
  /** Sign as this origin. */
  origin?: string;
  unsigned?: boolean;
}

export async function fakePeer(name: string): Promise<FakePeer> {
  const key = signingKeyFromSeed(generateSeed());
  let url = "";
  const server: Server = createServer((req, res) => {
    if (req.url === "/.well-known/smcp/server") {
      const doc: ServerDiscovery = {
        server_name: name, endpoint: url, version: "1.0", versions: ["1.0"], components: [], key_id: key.keyId,
        public_key: formatPublicKey(key.publicKey),
        limits: { max_body_bytes: 1 << 20, max_txn_items: 100, max_event_data_bytes: 65536, rate_per_second: 200, rate_burst: 400, max_clock_skew_ms: 60000 },
      };
      if (validate("ServerDiscovery", doc).length > 0) throw new Error("fake discovery document is invalid");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errcode: "SMCP_NOT_FOUND", error: "fake peer" }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    name, url, key,
    send: (target, method, path, body, opts = {}) => {
      const bytes = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
      if (!opts.unsigned) {
        const signer = opts.signWith ? { ...opts.signWith, keyId: key.keyId } : key;
        headers["x-smcp-authorization"] = signRequest(signer, {
          method, uri: path, body: bytes, origin: opts.origin ?? name, destination: target.destination, ts: opts.ts, nonce: opts.nonce,
        });
      }
      return sendRaw(dispatcher, target.url + path, { method, headers: { ...headers, ...opts.headers }, body: body === undefined ? undefined : bytes });
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
