// Conformance harness, fake peer: the requests the harness sends as the fake — signed or broken — recorded in the wire log (spec §5, §6.4, §7.2).
import type { Dispatcher } from "undici";
import { SmcpError } from "../../protocol/errors.ts";
import { sendRaw, type HttpAnswer } from "../../protocol/http-client.ts";
import { JSON_TYPE } from "../../protocol/http.ts";
import { AUTH_HEADER } from "../../protocol/signing.ts";
import type { Invite, Transaction } from "../../protocol/types.ts";
import { bodyText, type WireRecorder } from "../wire-log.ts";
import { authHeader, bodyBytes, type OutboundOptions } from "./crafting.ts";
import type { InstanceDirectory } from "./directory.ts";
import type { FakeIdentity } from "./identity.ts";

export class Outbound {
  private readonly startedAt = Date.now();
  private txnCounter = 0;
  /** When each signed request went out and how it was answered, per target (TXN-39: the destination showed it is reachable). */
  private readonly signedSends = new Map<string, Array<{ at: number; status: number }>>();

  constructor(
    private readonly identity: FakeIdentity,
    private readonly directory: InstanceDirectory,
    readonly dispatcher: Dispatcher,
    private readonly recorder: WireRecorder,
  ) {}

  /** Sends a (possibly deliberately broken) request to an instance under test; recorded in the wire log. */
  async send(target: string, opts: OutboundOptions): Promise<HttpAnswer> {
    const inst = this.directory.get(target);
    const body = bodyBytes(opts);
    const headers: Record<string, string> = {};
    if (body !== undefined && opts.contentType !== null) headers["content-type"] = opts.contentType ?? JSON_TYPE;
    const auth = opts.auth ?? "sign";
    if (auth === "sign") headers[AUTH_HEADER] = authHeader(this.identity, target, opts);
    else if (auth !== "none") headers[AUTH_HEADER] = auth.header;
    Object.assign(headers, opts.headers);
    const url = inst.baseUrl + opts.path;
    const started = performance.now();
    const entry = { dir: "out" as const, via: `${this.identity.name}->${target}`, method: opts.method, url, headers: loggable(headers), body: bodyText(body) };
    try {
      const at = Date.now();
      const a = await sendRaw(this.dispatcher, url, { method: opts.method, headers, body, timeoutMs: opts.timeoutMs ?? 35_000 });
      if (auth === "sign" && opts.sign === undefined) this.noteSigned(target, at, a.status);
      this.recorder.record({ ...entry, status: a.status, response: bodyText(a.raw), ms: Math.round(performance.now() - started) });
      return a;
    } catch (err) {
      this.recorder.record({ ...entry, problems: [`network error: ${(err as Error).message}`] });
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${target} unreachable: ${(err as Error).message}`);
    }
  }

  private noteSigned(target: string, at: number, status: number): void {
    const list = this.signedSends.get(target) ?? [];
    list.push({ at, status });
    if (list.length > 1_000) list.splice(0, list.length - 1_000);
    this.signedSends.set(target, list);
  }

  /** The first correctly signed request sent to `target` after `since` that it authenticated (any answer but 401). */
  authenticatedSendAfter(target: string, since: number): number | undefined {
    return this.signedSends.get(target)?.find((s) => s.at > since && s.status !== 401)?.at;
  }

  /** A transaction ID unique to this fake and run. */
  nextTxnId(): string {
    return `fake-${this.startedAt.toString(36)}-${++this.txnCounter}`;
  }

  /** Sends a transaction with the fake as origin. */
  sendTransaction(target: string, txn: Omit<Transaction, "origin" | "origin_ts">, txnId = this.nextTxnId()): Promise<HttpAnswer> {
    const body: Transaction = { origin: this.identity.name, origin_ts: Date.now(), ...txn };
    return this.send(target, { method: "PUT", path: `/federation/v1/send/${txnId}`, body });
  }

  /** Invites `target` to a channel the fake hubs. */
  sendInvite(target: string, channel: string): Promise<HttpAnswer> {
    const body: Invite = { origin: this.identity.name, channel, inviter: this.identity.name, invitee: target, origin_ts: Date.now() };
    return this.send(target, { method: "POST", path: "/federation/v1/invite", body });
  }
}

/** Headers worth logging: the signature header and content type. */
function loggable(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k === AUTH_HEADER || k === "content-type") out[k] = v;
  return out;
}
