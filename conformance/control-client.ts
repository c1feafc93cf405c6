// Conformance harness: a validating client of an instance's Control API (spec §12), logging every exchange.
import type { Dispatcher } from "undici";
import { sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import { JSON_TYPE } from "../protocol/http.ts";
import type { CallTool, Event } from "../protocol/types.ts";
import { fillPath, type ApiMethod, type ApiPath, type RequestBody, type SuccessBody } from "../protocol/typed-api.ts";
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

  /**
   * A typed exchange: the body and the answer's type come from the client generated from our OpenAPI
   * (protocol/typed-api.ts), so a spec change that breaks the harness's calls fails the type check.
   */
  private async op<P extends ApiPath, M extends ApiMethod>(
    method: M,
    path: P,
    schema: string | null,
    opts: { params?: Record<string, string>; query?: string; body?: RequestBody<P, M>; status?: number; timeoutMs?: number } = {},
  ): Promise<SuccessBody<P, M>> {
    const url = fillPath(path, opts.params) + (opts.query ? `?${opts.query}` : "");
    const a = await this.request(method.toUpperCase(), url, opts.body, opts.timeoutMs);
    return expectOk(a, schema, `${this.label} ${method.toUpperCase()} ${path}`, opts.status) as SuccessBody<P, M>;
  }

  instance() {
    return this.op("get", "/control/v1/instance", "InstanceInfo");
  }

  async mapHost(serverName: string, baseUrl: string): Promise<void> {
    await this.op("put", "/control/v1/hosts/{server_name}", null, { params: { server_name: serverName }, body: { base_url: baseUrl } });
  }

  discover(serverName: string) {
    return this.op("post", "/control/v1/peers", "PeerInfo", { body: { server_name: serverName } });
  }

  createChannel(name: string) {
    return this.op("post", "/control/v1/channels", "ChannelInfo", { body: { name }, status: 201 });
  }

  channel(channel: string) {
    return this.op("get", "/control/v1/channels/{channel}", "ChannelInfo", { params: { channel } });
  }

  invite(channel: string, server: string) {
    return this.op("post", "/control/v1/channels/{channel}/invites", "InviteOutcome", { params: { channel }, body: { server } });
  }

  publish(channel: string, type: string, data: Record<string, unknown>) {
    return this.op("post", "/control/v1/channels/{channel}/events", "PublishResult", { params: { channel }, body: { type, data } });
  }

  events(channel: string, after = 0, waitMs = 0, limit = 1000) {
    const query = `after=${after}&limit=${limit}${waitMs > 0 ? `&wait_ms=${waitMs}` : ""}`;
    return this.op("get", "/control/v1/channels/{channel}/events", "EventList", { params: { channel }, query, timeoutMs: waitMs + 10_000 });
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

  call(body: CallTool) {
    return this.op("post", "/control/v1/calls", "RemoteCallResult", { body });
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
