// Test support (Naomi, Paulina, Vendela under faults): in-process instances on loopback, optionally reachable only
// through a FaultProxy, and small control-API helpers that await observable state.
import { expect } from "vitest";
import type { ChannelInfo, Event, OutboundQueue, PeerList, PublishResult } from "../../protocol/types.ts";
import type { InstanceConfig } from "../../reference-impl/config.ts";
import type { Instance } from "../../reference-impl/instance.ts";
import { control, enc, start } from "./instances.ts";
import { tempDir } from "./temp-dir.ts";
import { until } from "./until.ts";
import { FaultProxy } from "./fault-proxy.ts";

export interface Node {
  inst: Instance;
  /** Present when every peer reaches this instance through the proxy (its advertised endpoint). */
  proxy?: FaultProxy;
  dir: string;
}

/**
 * Starts an instance whose discovery document advertises a FaultProxy as its endpoint, so every peer's traffic
 * to it (which follows the discovered endpoint, spec §6) crosses the proxy.
 */
export async function startBehindProxy(name: string, extra: Partial<InstanceConfig> = {}): Promise<Node> {
  const proxy = await FaultProxy.start("127.0.0.1", 0);
  const dir = tempDir(name.split(".")[0]!);
  const inst = await start(name, dir, { publicUrl: proxy.url, ...extra });
  proxy.retarget("127.0.0.1", Number(new URL(inst.url).port));
  return { inst, proxy, dir };
}

export async function startPlain(name: string, extra: Partial<InstanceConfig> = {}): Promise<Node> {
  const dir = tempDir(name.split(".")[0]!);
  return { inst: await start(name, dir, extra), dir };
}

/** Maps every node's name to its advertised endpoint in every other node's host map (spec §6.4). */
export async function mapHosts(nodes: Node[]): Promise<void> {
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue;
      const r = await control(a.inst, "PUT", `/control/v1/hosts/${b.inst.serverName}`, { base_url: b.proxy?.url ?? b.inst.url });
      expect(r.status).toBe(204);
    }
  }
}

export async function createChannel(hub: Instance, name: string, members: Instance[]): Promise<string> {
  const created = await control(hub, "POST", "/control/v1/channels", { name });
  expect(created.status).toBe(201);
  const channel = (created.body as ChannelInfo).channel;
  for (const m of members) {
    const invited = await control(hub, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: m.serverName });
    expect(invited.body).toEqual({ channel, server: m.serverName, accepted: true });
  }
  return channel;
}

export function publish(inst: Instance, channel: string, data: Record<string, unknown>, type = "test:msg") {
  return control(inst, "POST", `/control/v1/channels/${enc(channel)}/events`, { type, data });
}

export async function publishOk(inst: Instance, channel: string, data: Record<string, unknown>): Promise<PublishResult> {
  const r = await publish(inst, channel, data);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as PublishResult;
}

export async function channelInfo(inst: Instance, channel: string): Promise<ChannelInfo> {
  const r = await control(inst, "GET", `/control/v1/channels/${enc(channel)}`);
  expect(r.status).toBe(200);
  return r.body as ChannelInfo;
}

/** Every event the instance holds up to local_seq, in seq order (paged, no waiting). */
export async function allEvents(inst: Instance, channel: string): Promise<Event[]> {
  const out: Event[] = [];
  for (;;) {
    const r = await control(inst, "GET", `/control/v1/channels/${enc(channel)}/events?after=${out.length}&limit=1000`);
    const page = (r.body as { events: Event[] }).events;
    out.push(...page);
    if (page.length < 1000) return out;
  }
}

/** Long-polls until the instance's local_seq reaches `seq` (delivered events and backfill both count). */
export async function awaitLocalSeq(inst: Instance, channel: string, seq: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const info = await channelInfo(inst, channel);
    if (info.local_seq >= seq) return;
    if (Date.now() > deadline) throw new Error(`${inst.serverName} local_seq ${info.local_seq} never reached ${seq} in ${channel}`);
    const wait = Math.min(2000, Math.max(1, deadline - Date.now()));
    await control(inst, "GET", `/control/v1/channels/${enc(channel)}/events?after=${info.local_seq}&limit=1&wait_ms=${wait}`);
  }
}

/** The hub's outbound queue towards `peer` as reported by GET /control/v1/peers (spec §12.2, DLV-07). */
export async function outboundOf(inst: Instance, peer: string): Promise<OutboundQueue | undefined> {
  const r = await control(inst, "GET", "/control/v1/peers");
  return (r.body as PeerList).peers.find((p) => p.server_name === peer)?.outbound;
}

export function awaitOutbound(inst: Instance, peer: string, ok: (q: OutboundQueue) => boolean, what: string, ms = 15_000): Promise<OutboundQueue> {
  return until(what, async () => {
    const q = await outboundOf(inst, peer);
    return q && ok(q) ? q : undefined;
  }, ms);
}

/** Exactly-once check: no two events share a seq or an event_id, and seqs run 1..n without a hole. */
export function expectLinear(events: Event[]): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length);
  for (let i = 1; i < events.length; i++) expect(events[i]!.prev_event).toBe(events[i - 1]!.event_id);
}

/** The application payloads `data.tag` of events of type test:msg, in order. */
export function tags(events: Event[]): string[] {
  return events.filter((e) => e.type === "test:msg").map((e) => String((e.data as { tag?: unknown }).tag));
}
