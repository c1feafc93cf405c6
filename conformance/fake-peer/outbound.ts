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
import { sendOverlapping, type PacedRequest } from "./last-byte-sync.ts";
import { runTls } from "../tls-transport.ts";

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
    const { headers } = this.prepare(target, opts);
    const url = inst.baseUrl + opts.path;
    const started = performance.now();
    const entry = this.logEntry(target, opts, { url, headers, body });
    try {
      const at = Date.now();
      const a = await sendRaw(this.dispatcher, url, { method: opts.method, headers, body, timeoutMs: opts.timeoutMs ?? 35_000 });
      if ((opts.auth ?? "sign") === "sign" && opts.sign === undefined) this.noteSigned(target, at, a.status);
      this.recorder.record({ ...entry, status: a.status, response: bodyText(a.raw), ms: Math.round(performance.now() - started) });
      return a;
    } catch (err) {
      this.recorder.record({ ...entry, problems: [`network error: ${(err as Error).message}`] });
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${target} unreachable: ${(err as Error).message}`);
    }
  }

  /** One request of this identity ready to be sent together with others (sendTogether), and how its answer is logged. */
  paced(target: string, opts: OutboundOptions): PacedSend {
    const inst = this.directory.get(target);
    const request = { ...this.prepare(target, opts), url: inst.baseUrl + opts.path, method: opts.method, body: bodyBytes(opts) ?? Buffer.alloc(0) };
    const entry = this.logEntry(target, opts, request);
    return {
      request,
      record: (answer, err) => this.recorder.record(answer ? { ...entry, status: answer.status, response: bodyText(answer.raw) } : { ...entry, problems: [`network error: ${err?.message}`] }),
    };
  }

  /** The headers of `opts` as the fake sends them: content type, its signature (or the given broken one), extras. */
  private prepare(target: string, opts: OutboundOptions): { headers: Record<string, string> } {
    const body = bodyBytes(opts);
    const headers: Record<string, string> = {};
    if (body !== undefined && opts.contentType !== null) headers["content-type"] = opts.contentType ?? JSON_TYPE;
    const auth = opts.auth ?? "sign";
    if (auth === "sign") headers[AUTH_HEADER] = authHeader(this.identity, target, opts);
    else if (auth !== "none") headers[AUTH_HEADER] = auth.header;
    Object.assign(headers, opts.headers);
    return { headers };
  }

  private logEntry(target: string, opts: OutboundOptions, sent: { url: string; headers: Record<string, string>; body: Buffer | undefined }) {
    return { dir: "out" as const, via: `${this.identity.name}->${target}`, method: opts.method, url: sent.url, headers: loggable(sent.headers), body: bodyText(sent.body) };
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

/** A request prepared by one identity for sendTogether. */
export interface PacedSend {
  request: PacedRequest;
  record(answer: HttpAnswer | undefined, err?: Error): void;
}

/**
 * Sends the requests (of one identity or several, each signed on its own) so that they overlap at their target:
 * each on its own connection, written but for its last body byte, then all last bytes at once (last-byte-sync.ts).
 */
export async function sendTogether(sends: PacedSend[]): Promise<HttpAnswer[]> {
  const tls = runTls();
  try {
    const answers = await sendOverlapping(sends.map((s) => s.request), { timeoutMs: 35_000, ...(tls ? { ca: tls.caPem } : {}) });
    answers.forEach((a, i) => sends[i]!.record(a));
    return answers;
  } catch (err) {
    for (const s of sends) s.record(undefined, err as Error);
    throw new SmcpError("SMCP_PEER_UNREACHABLE", `unreachable: ${(err as Error).message}`);
  }
}
