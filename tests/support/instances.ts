// Test support for the reference instance (all SMCP components): start real instances on 127.0.0.1:0, drive the
// control API, and impersonate a peer with its own key (the conformance harness's fake peer).
import { Agent } from "undici";
import { createDispatcher, sendRaw, type HttpAnswer } from "../../protocol/http-client.ts";
import { FakePeer } from "../../conformance/fake-peer.ts";
import type { InstanceConfig } from "../../reference-impl/config.ts";
import { startInstance, type Instance } from "../../reference-impl/instance.ts";

export const dispatcher = createDispatcher();
/** The tests' control client talks to HTTPS instances on loopback whose throw-away CA it does not load. */
const loopbackTls = new Agent({ connect: { rejectUnauthorized: false } });

/** Starts an instance with test-friendly defaults (quiet, no vikunja unless asked, fast retries). */
export function start(name: string, dataDir: string, extra: Partial<InstanceConfig> = {}): Promise<Instance> {
  return startInstance({
    serverName: name, dataDir, listenHost: "127.0.0.1", listenPort: 0, logLevel: process.env.SMCP_TEST_LOG ?? "silent",
    includeVikunja: false, pingIntervalMs: 0, backoffBaseMs: 50, backoffMaxMs: 500, gapDelayMs: 50, validateResponses: true,
    acceptAllInvites: true, ...extra,
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

/**
 * Starts the harness's fake peer (conformance/fake-peer.ts) as `name`, mapped into each instance's host table and
 * knowing each instance's key, so that it can both send to them and authenticate what they send it. `advertiseKey`
 * (wire form) replaces the public key of its discovery document before any instance can fetch it.
 */
export async function startFakePeer(name: string, instances: Instance[], opts: { advertiseKey?: string } = {}): Promise<FakePeer> {
  const peer = await FakePeer.start(name);
  if (opts.advertiseKey !== undefined) peer.advertiseKey(opts.advertiseKey);
  for (const inst of instances) {
    const r = await control(inst, "PUT", `/control/v1/hosts/${name}`, { base_url: peer.url });
    if (r.status !== 204) throw new Error(`host mapping failed: ${r.status} ${JSON.stringify(r.body)}`);
    await peer.discover(inst.serverName, inst.url);
  }
  return peer;
}
