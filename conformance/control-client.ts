// Conformance harness: a validating client of an instance's Control API (spec §12), logging every exchange.
import type { Dispatcher } from "undici";
import { sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import { JSON_TYPE } from "../protocol/http.ts";
import type {
  CallTool,
  ChannelInfo,
  EventList,
  Event,
  InstanceInfo,
  InviteOutcome,
  PeerInfo,
  PublishResult,
  RemoteCallResult,
} from "../protocol/types.ts";
import { CheckFailure, expectOk } from "./assert.ts";
import { bodyText, type WireRecorder } from "./wire-log.ts";

export class ControlClient {
  constructor(
    private readonly dispatcher: Dispatcher,
    readonly baseUrl: string,
    private readonly token: string,
    private readonly recorder: WireRecorder,
    private readonly label: string,
  ) {}

  /** One Control API exchange, recorded in the running check's wire log. Network failures fail the check. */
  async request(method: string, path: string, body?: unknown, timeoutMs = 35_000): Promise<HttpAnswer> {
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body), "utf8");
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (bytes) headers["content-type"] = JSON_TYPE;
    const started = performance.now();
    const entry = { dir: "out" as const, via: `control@${this.label}`, method, url: this.baseUrl + path, body: bodyText(bytes) };
    try {
      const a = await sendRaw(this.dispatcher, this.baseUrl + path, { method, headers, body: bytes, timeoutMs });
      this.recorder.record({ ...entry, status: a.status, response: bodyText(a.raw), ms: round(performance.now() - started) });
      return a;
    } catch (err) {
      this.recorder.record({ ...entry, problems: [`network error: ${(err as Error).message}`] });
      throw new CheckFailure(`${this.label}: control API unreachable (${method} ${path})`, "an HTTP answer", (err as Error).message);
    }
  }

  async instance(): Promise<InstanceInfo> {
    return expectOk(await this.request("GET", "/control/v1/instance"), "InstanceInfo", `${this.label} GET /control/v1/instance`);
  }

  async mapHost(serverName: string, baseUrl: string): Promise<void> {
    const a = await this.request("PUT", `/control/v1/hosts/${serverName}`, { base_url: baseUrl });
    expectOk(a, null, `${this.label} PUT /control/v1/hosts/${serverName}`);
  }

  async discover(serverName: string): Promise<PeerInfo> {
    const a = await this.request("POST", "/control/v1/peers", { server_name: serverName });
    return expectOk(a, "PeerInfo", `${this.label} POST /control/v1/peers`);
  }

  async createChannel(name: string): Promise<ChannelInfo> {
    const a = await this.request("POST", "/control/v1/channels", { name });
    return expectOk(a, "ChannelInfo", `${this.label} POST /control/v1/channels`, 201);
  }

  async channel(channel: string): Promise<ChannelInfo> {
    return expectOk(await this.request("GET", `/control/v1/channels/${encodeURIComponent(channel)}`), "ChannelInfo", `${this.label} GET channel`);
  }

  async invite(channel: string, server: string): Promise<InviteOutcome> {
    const a = await this.request("POST", `/control/v1/channels/${encodeURIComponent(channel)}/invites`, { server });
    return expectOk(a, "InviteOutcome", `${this.label} POST invites`);
  }

  async publish(channel: string, type: string, data: Record<string, unknown>): Promise<PublishResult> {
    const a = await this.request("POST", `/control/v1/channels/${encodeURIComponent(channel)}/events`, { type, data });
    return expectOk(a, "PublishResult", `${this.label} POST events`);
  }

  async events(channel: string, after = 0, waitMs = 0, limit = 1000): Promise<EventList> {
    const q = `after=${after}&limit=${limit}${waitMs > 0 ? `&wait_ms=${waitMs}` : ""}`;
    const a = await this.request("GET", `/control/v1/channels/${encodeURIComponent(channel)}/events?${q}`, undefined, waitMs + 10_000);
    return expectOk(a, "EventList", `${this.label} GET events`);
  }

  /** Every stored event of a channel, paging through the 1000-event limit. */
  async allEvents(channel: string): Promise<Event[]> {
    const out: Event[] = [];
    for (let page = 0; page < 100; page++) {
      const list = await this.events(channel, out.length === 0 ? 0 : out[out.length - 1]!.seq);
      out.push(...list.events);
      if (list.events.length < 1000) return out;
    }
    return out;
  }

  /**
   * Long-polls until `done(events)` holds or `timeoutMs` passes; returns everything seen. Bounded: never
   * sleeps, each round waits on the instance's own long-poll.
   */
  async waitForEvents(channel: string, done: (events: Event[]) => boolean, timeoutMs = 10_000): Promise<Event[]> {
    const deadline = Date.now() + timeoutMs;
    const seen: Event[] = [];
    let after = 0;
    for (;;) {
      const remaining = deadline - Date.now();
      const list = await this.events(channel, after, Math.max(0, Math.min(remaining, 5_000)));
      seen.push(...list.events);
      if (list.events.length > 0) after = list.events[list.events.length - 1]!.seq;
      if (done(seen) || Date.now() >= deadline) return seen;
    }
  }

  async call(body: CallTool): Promise<RemoteCallResult> {
    const a = await this.request("POST", "/control/v1/calls", body);
    return expectOk(a, "RemoteCallResult", `${this.label} POST /control/v1/calls ${body.tool}`);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
