// Conformance harness: the fake federation peer ("mallory") — a real SMCP endpoint with its own Ed25519 key that the
// harness drives to send arbitrary signed or deliberately broken requests, act as a channel participant or hub, and
// record + validate every request an instance under test sends it (spec §4-§10).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import type { Dispatcher } from "undici";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import { canonicalBytes } from "../protocol/canonical-json.ts";
import { SmcpError, type ErrorCode } from "../protocol/errors.ts";
import { eventProblem, finaliseEvent, headVerifies, signHead } from "../protocol/events.ts";
import { createDispatcher, sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import { JSON_TYPE, parseJsonBody, readBody, sendError, sendJson } from "../protocol/http.ts";
import { parseChannelId } from "../protocol/identity.ts";
import { makeKeyDocument } from "../protocol/key-document.ts";
import { formatPublicKey, generateSeed, keyIdFor, parsePublicKey, signingKeyFromSeed, verifyKeyFrom, type SigningKey, type VerifyKey } from "../protocol/keys.ts";
import { assertBodyOrigin, authenticateRequest, ReplayCache, type AuthContext } from "../protocol/request-auth.ts";
import { validate } from "../protocol/schemas.ts";
import { AUTH_HEADER, formatAuthHeader, newNonce, parseAuthHeader, requestForm, sha256Base64Url, signForm } from "../protocol/signing.ts";
import type {
  ChannelHead,
  Event,
  Invite,
  InviteAnswer,
  RejectedItem,
  SequencedSubmission,
  ServerDiscovery,
  Submission,
  Transaction,
  TransactionResult,
} from "../protocol/types.ts";
import { bodyText, WireRecorder } from "./wire-log.ts";

export const FAKE_LIMITS = {
  max_body_bytes: 1_048_576,
  max_txn_items: 100,
  max_event_data_bytes: 65_536,
  rate_per_second: 200,
  rate_burst: 400,
  max_clock_skew_ms: 60_000,
};

/** One request an instance under test sent to the fake peer, with whatever was wrong with it. */
export interface InboundRecord {
  seq: number;
  at: number;
  method: string;
  path: string;
  route: "well-known" | "keys" | "ping" | "registry" | "invite" | "send" | "backfill" | "call" | "unexpected";
  origin?: string;
  body?: unknown;
  status: number;
  problems: string[];
  /** For `send`: the transaction ID. */
  txnId?: string;
  /** SHA-256 (base64url) of the body bytes, to recognise a retry that resends identical bytes. */
  sha?: string;
  /** The request signature's nonce: a retry must be freshly signed (SIGN-04). */
  nonce?: string;
}

/** How the fake answers the transactions instances send it; changed by checks at run time. */
export interface SendBehaviour {
  /** Delay before answering each transaction (makes concurrency and batching observable). */
  answerDelayMs: number;
  /** Answer this many coming transactions with `failWith` instead of processing them. */
  failNext: number;
  failWith: { errcode: ErrorCode; retryAfterMs?: number };
  /** Instead of `failWith`, answer these literal status/body pairs in turn (unknown errcodes, non-Error bodies: ERR-06). */
  failRaw?: Array<{ status: number; body: unknown }>;
}

/** What the fake knows of an instance under test: where its federation API is and its key. */
interface KnownInstance {
  baseUrl: string;
  key: VerifyKey;
}

/** A channel the instance hubs and the fake participates in, as the fake received it. */
export interface ParticipantChannel {
  hub: string;
  events: Map<number, Event>;
  heads: ChannelHead[];
}

/** A channel the fake hubs (`!name:<fake>`): its authoritative event list and members. */
export interface HubChannel {
  id: string;
  events: Event[];
  members: Set<string>;
  /** Backfill serves events up to this seq (lets a check withhold the tail or open a gap). */
  servedUpTo: number;
  submissions: Map<string, SequencedSubmission>;
  /** Backfill serves these events instead of the chain's at their seq (a check's deliberately bad backfill, DLV-21). */
  backfillOverride?: Map<number, Event>;
}

/**
 * Deliberate receiver bugs, so that the fake peer can also play a broken instance under test (the harness's
 * self-tests prove each check fails against the matching fault).
 */
export interface ReceiverFaults {
  /** Authentication failures the receiver ignores (e.g. SMCP_BAD_SIGNATURE: it skips signature checks). */
  ignoreAuth?: ErrorCode[];
  /** Errors answered with the wrong code. */
  rewriteErrcode?: Partial<Record<ErrorCode, ErrorCode>>;
  /** Delay before every answer. */
  delayMs?: number;
  /** Ping answered with a body that violates the Ping schema. */
  invalidPing?: boolean;
  /** Invites answered 200 with a body that is not a valid InviteAnswer (CTRL-33). */
  invalidInviteAnswer?: boolean;
  /** The well-known document is served with this status instead of 200 (DISC-18). */
  wellKnownStatus?: number;
  /** The well-known request is redirected (302) this many times before the document is served (DISC-15). */
  wellKnownRedirects?: number;
}

export interface OutboundOptions {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  /** Exact bytes to send (overrides `body`). */
  rawBody?: Buffer;
  /** Default `application/json` when there is a body; null omits the header. */
  contentType?: string | null;
  /** `sign` (default), `none`, or a literal X-SMCP-Authorization value. */
  auth?: "sign" | "none" | { header: string };
  /**
   * Overrides of what gets signed, to build precisely broken signatures. `key` signs and its key ID is named
   * (default: the fake's key under its advertised key ID); `sig` replaces the signature by literal text, or by one
   * derived from the correct signature and the exact signed bytes (to craft malleated signatures).
   */
  sign?: Partial<{
    ts: number;
    nonce: string;
    origin: string;
    destination: string;
    key: SigningKey;
    method: string;
    uri: string;
    body: Buffer;
    sig: string | ((correct: Buffer, message: Buffer) => Uint8Array);
  }>;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** What a route answers; headers only for the well-known redirects. */
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** The signed endpoints the fake serves (spec §5.6 check 1 is answered before any authentication). */
const FEDERATION_ROUTES = [
  /^\/federation\/v1\/(ping|registry|invite|call)$/,
  /^\/federation\/v1\/send\/[^/]+$/,
  /^\/federation\/v1\/channels\/[^/]+\/events$/,
];

export class FakePeer {
  readonly records: InboundRecord[] = [];
  readonly participant = new Map<string, ParticipantChannel>();
  readonly hubChannels = new Map<string, HubChannel>();
  /** Invites the fake received and accepted, by channel. */
  readonly invitedTo = new Set<string>();
  /** Channels the fake was removed from, with the seq of its leave: nothing later may be delivered (DLV-02). */
  readonly removedFrom = new Map<string, number>();
  private readonly instances = new Map<string, KnownInstance>();
  private readonly txnResults = new Map<string, { sha: string; result: TransactionResult }>();
  private readonly emitter = new EventEmitter();
  private readonly replay = new ReplayCache();
  private readonly startedAt = Date.now();
  private problemCursor = 0;
  /** Components it claims (none as the harness's peer; `vikunja` when it plays an instance under test). */
  components: string[] = [];
  /** Lies in its own discovery document (a malicious peer: small-order key, wrong key ID, wrong server name). */
  discoveryOverride: Partial<ServerDiscovery> = {};
  /** As hub: reject every submission from these origins with this errcode, on purpose (not recorded as a problem). */
  readonly refuseSubmissions = new Map<string, RejectedItem["errcode"]>();
  readonly sendBehaviour: SendBehaviour = { answerDelayMs: 0, failNext: 0, failWith: { errcode: "SMCP_INTERNAL" } };

  /** Runs `fn` with `patch` applied to how transactions are answered, then restores the previous behaviour. */
  async withSendBehaviour<T>(patch: Partial<SendBehaviour>, fn: () => Promise<T>): Promise<T> {
    const saved = { ...this.sendBehaviour };
    Object.assign(this.sendBehaviour, patch);
    try {
      return await fn();
    } finally {
      Object.assign(this.sendBehaviour, saved, { failRaw: saved.failRaw });
    }
  }
  /** Transactions being answered now, and the most ever at once, per origin (TXN-29: at most one in flight). */
  private readonly inFlight = new Map<string, number>();
  readonly maxInFlight = new Map<string, number>();
  private recordSeq = 0;
  private txnCounter = 0;
  url = "";

  private constructor(
    readonly name: string,
    readonly key: SigningKey,
    private readonly server: Server,
    readonly dispatcher: Dispatcher,
    private readonly recorder: WireRecorder,
    private readonly faults: ReceiverFaults,
  ) {
    this.emitter.setMaxListeners(0);
  }

  static async start(name: string, recorder = new WireRecorder(), faults: ReceiverFaults = {}): Promise<FakePeer> {
    const key = signingKeyFromSeed(generateSeed());
    let peer: FakePeer | undefined;
    const server = createServer((req, res) => void peer!.handle(req, res));
    peer = new FakePeer(name, key, server, createDispatcher({ connections: 64 }), recorder, faults);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    peer.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return peer;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.dispatcher.close();
  }

  /** Lets the fake verify (and reach) an instance under test. */
  addInstance(name: string, baseUrl: string, key: VerifyKey): void {
    this.instances.set(name, { baseUrl, key });
  }

  /** Learns an instance from its discovery document (for tests that do not hold its key). */
  async discover(name: string, baseUrl: string): Promise<void> {
    const key = await this.fetchKey(name, baseUrl);
    if (!key) throw new Error(`${baseUrl} serves no valid discovery document for ${name}`);
    this.addInstance(name, baseUrl, key);
  }

  /** The key a discovery document at `baseUrl` advertises for `name`; null for anything unusable. */
  private async fetchKey(name: string, baseUrl: string): Promise<VerifyKey | null> {
    try {
      const a = await sendRaw(this.dispatcher, `${baseUrl}/.well-known/smcp/server`, { method: "GET", headers: {}, timeoutMs: 5_000 });
      const doc = a.body as ServerDiscovery;
      if (a.status !== 200 || validate("ServerDiscovery", doc).length > 0 || doc.server_name !== name) return null;
      const raw = parsePublicKey(doc.public_key);
      return raw ? verifyKeyFrom(doc.key_id, raw) : null;
    } catch {
      return null;
    }
  }

  /** The key ID the fake advertises, which its requests name unless told otherwise. */
  get keyId(): string {
    return this.discoveryOverride.key_id ?? this.key.keyId;
  }

  /** Advertises `publicKey` (wire form, even one the spec forbids) under the key ID derived from it, if any. */
  advertiseKey(publicKey: string): void {
    const raw = parsePublicKey(publicKey);
    this.discoveryOverride = { ...this.discoveryOverride, public_key: publicKey, key_id: raw ? keyIdFor(raw) : this.key.keyId };
  }

  discoveryDocument(): ServerDiscovery {
    return {
      server_name: this.name,
      endpoint: this.url,
      version: "1.0",
      versions: ["1.0"],
      components: this.components,
      key_id: this.key.keyId,
      public_key: formatPublicKey(this.key.publicKey),
      limits: FAKE_LIMITS,
      ...this.discoveryOverride,
    };
  }

  // ---------------------------------------------------------------- outbound: requests the harness makes as mallory

  /** Sends a (possibly deliberately broken) request to an instance under test; recorded in the wire log. */
  async send(target: string, opts: OutboundOptions): Promise<HttpAnswer> {
    const inst = this.instance(target);
    const body = opts.rawBody ?? (opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body), "utf8"));
    const headers: Record<string, string> = {};
    if (body !== undefined && opts.contentType !== null) headers["content-type"] = opts.contentType ?? JSON_TYPE;
    const auth = opts.auth ?? "sign";
    if (auth === "sign") headers[AUTH_HEADER] = this.authHeader(target, opts);
    else if (auth !== "none") headers[AUTH_HEADER] = auth.header;
    Object.assign(headers, opts.headers);
    const url = inst.baseUrl + opts.path;
    const started = performance.now();
    const entry = { dir: "out" as const, via: `${this.name}->${target}`, method: opts.method, url, headers: pick(headers), body: bodyText(body) };
    try {
      const a = await sendRaw(this.dispatcher, url, { method: opts.method, headers, body, timeoutMs: opts.timeoutMs ?? 35_000 });
      this.recorder.record({ ...entry, status: a.status, response: bodyText(a.raw), ms: Math.round(performance.now() - started) });
      return a;
    } catch (err) {
      this.recorder.record({ ...entry, problems: [`network error: ${(err as Error).message}`] });
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${target} unreachable: ${(err as Error).message}`);
    }
  }

  /** The X-SMCP-Authorization header for `opts`, with any of its signed parts overridden. */
  authHeader(target: string, opts: OutboundOptions): string {
    const s = opts.sign ?? {};
    const key = s.key ?? { ...this.key, keyId: this.keyId };
    const body = s.body ?? opts.rawBody ?? (opts.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(opts.body), "utf8"));
    const fields = { origin: s.origin ?? this.name, destination: s.destination ?? target, keyId: key.keyId, ts: s.ts ?? Date.now(), nonce: s.nonce ?? newNonce() };
    const form = requestForm(fields, { method: s.method ?? opts.method, uri: s.uri ?? opts.path, body });
    return formatAuthHeader({ ...fields, sig: signatureFor(key, form, s.sig) });
  }

  nextTxnId(): string {
    return `fake-${this.startedAt.toString(36)}-${++this.txnCounter}`;
  }

  // ---------------------------------------------------------------- the fake as a hub

  /** Creates `!name:<fake>` with its `smcp:channel.create` event; members start with the fake alone. */
  hubCreate(name: string): HubChannel {
    const id = `!${name}:${this.name}`;
    const ch: HubChannel = { id, events: [], members: new Set([this.name]), servedUpTo: Number.MAX_SAFE_INTEGER, submissions: new Map() };
    this.hubChannels.set(id, ch);
    this.hubAppend(id, "smcp:channel.create", { creator: this.name });
    return ch;
  }

  /** Sequences, names and signs a new event in a channel the fake hubs. */
  hubAppend(channel: string, type: string, data: Record<string, unknown>, sender = this.name): Event {
    const ch = this.hubChannel(channel);
    const prev = ch.events[ch.events.length - 1];
    const now = Date.now();
    const event = finaliseEvent(this.key, {
      channel,
      seq: ch.events.length + 1,
      prev_event: prev ? prev.event_id : null,
      type,
      sender,
      origin_ts: now,
      hub_ts: now,
      data: data as Event["data"],
    });
    ch.events.push(event);
    return event;
  }

  /** A signed head for the channel at `seq` (default: the newest event). */
  hubHead(channel: string, seq?: number): ChannelHead {
    const ch = this.hubChannel(channel);
    const at = seq ?? ch.events.length;
    return signHead(this.key, { channel, seq: at, event_id: at === 0 ? null : ch.events[at - 1]!.event_id, hub_ts: Date.now() });
  }

  hubChannel(channel: string): HubChannel {
    const ch = this.hubChannels.get(channel);
    if (!ch) throw new Error(`the fake peer does not hub ${channel}`);
    return ch;
  }

  /** Sends a hub → participant transaction. */
  async sendTransaction(target: string, txn: Omit<Transaction, "origin" | "origin_ts">, txnId = this.nextTxnId()): Promise<HttpAnswer> {
    const body: Transaction = { origin: this.name, origin_ts: Date.now(), ...txn };
    return this.send(target, { method: "PUT", path: `/federation/v1/send/${txnId}`, body });
  }

  async sendInvite(target: string, channel: string): Promise<HttpAnswer> {
    const body: Invite = { origin: this.name, channel, inviter: this.name, invitee: target, origin_ts: Date.now() };
    return this.send(target, { method: "POST", path: "/federation/v1/invite", body });
  }

  // ---------------------------------------------------------------- observing what instances sent

  /** Resolves once `cond()` holds, re-evaluated after every inbound request; false after `timeoutMs`. */
  waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onRecord = (): void => {
        if (!cond()) return;
        cleanup();
        resolve(true);
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(cond());
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.emitter.off("record", onRecord);
      };
      this.emitter.on("record", onRecord);
    });
  }

  /** Problems found in inbound requests since the last call (the runner charges them to the running check). */
  takeProblems(): InboundRecord[] {
    const fresh = this.records.slice(this.problemCursor).filter((r) => r.problems.length > 0);
    this.problemCursor = this.records.length;
    return fresh;
  }

  // ---------------------------------------------------------------- inbound: the fake's federation endpoint

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? "/";
    const rec: InboundRecord = { seq: ++this.recordSeq, at: Date.now(), method: req.method ?? "GET", path, route: "unexpected", status: 0, problems: [] };
    let answer: Answer | undefined;
    let bytes: Buffer | undefined;
    try {
      bytes = await readBody(req, FAKE_LIMITS.max_body_bytes);
      answer = await this.route(req, path, bytes, rec);
      if (this.faults.delayMs) await new Promise((r) => setTimeout(r, this.faults.delayMs));
      sendJson(res, answer.status, answer.body, answer.headers);
      rec.status = answer.status;
    } catch (err) {
      const wrong = err instanceof SmcpError ? this.faults.rewriteErrcode?.[err.errcode] : undefined;
      const e = sendError(res, wrong ? new SmcpError(wrong, (err as Error).message, (err as SmcpError).extra) : err);
      rec.status = e.status;
      if (!(err instanceof SmcpError)) rec.problems.push(`harness-error in fake peer: ${(err as Error).message}`);
    }
    this.recorder.record({
      dir: "in",
      via: `${rec.origin ?? "?"}->${this.name}`,
      method: rec.method,
      url: path,
      body: bodyText(bytes),
      status: rec.status,
      response: answer ? bodyText(JSON.stringify(answer.body)) : undefined,
      ...(rec.problems.length ? { problems: rec.problems } : {}),
    });
    this.records.push(rec);
    this.emitter.emit("record", rec);
    const after = this.afterAnswer.get(rec) ?? [];
    this.afterAnswer.delete(rec);
    for (const fn of after) void fn();
  }

  /** Work to do once a request's answer is sent (hub fan-out must follow the sender's acknowledgement). */
  private readonly afterAnswer = new WeakMap<InboundRecord, Array<() => Promise<void>>>();

  private async route(req: IncomingMessage, path: string, bytes: Buffer, rec: InboundRecord): Promise<Answer> {
    const url = new URL(path, "http://fake");
    const method = req.method ?? "GET";
    if (method === "GET" && url.pathname === "/.well-known/smcp/server") {
      rec.route = "well-known";
      const hop = Number(url.searchParams.get("hop") ?? "0");
      if (hop < (this.faults.wellKnownRedirects ?? 0)) return { status: 302, body: {}, headers: { location: `${this.url}/.well-known/smcp/server?hop=${hop + 1}` } };
      return { status: this.faults.wellKnownStatus ?? 200, body: this.discoveryDocument() };
    }
    if (method === "GET" && url.pathname === "/federation/v1/keys") {
      rec.route = "keys";
      return { status: 200, body: makeKeyDocument(this.name, this.key, Date.now()) };
    }
    // Check 1 of spec §5.6 comes before authentication: a path naming no endpoint is 404 even when unsigned.
    if (!FEDERATION_ROUTES.some((r) => r.test(url.pathname))) {
      rec.problems.push(`unexpected request ${method} ${url.pathname}`);
      throw new SmcpError("SMCP_NOT_FOUND", `no route ${method} ${url.pathname}`);
    }
    const auth = await this.authenticate(req, path, bytes, rec);
    if (method === "GET" && url.pathname === "/federation/v1/ping") {
      rec.route = "ping";
      if (this.faults.invalidPing) return { status: 200, body: { server_name: this.name, ts: "now" } };
      return { status: 200, body: { server_name: this.name, ts: Date.now(), status: "ok", components: this.components.map((name) => ({ name, status: "up" })) } };
    }
    if (method === "GET" && url.pathname === "/federation/v1/registry") {
      rec.route = "registry";
      return { status: 200, body: { server_name: this.name, components: [] } };
    }
    if (method === "POST" && url.pathname === "/federation/v1/invite") {
      rec.route = "invite";
      return this.onInvite(req, bytes, rec, auth);
    }
    const send = /^\/federation\/v1\/send\/([^/]+)$/.exec(url.pathname);
    if (method === "PUT" && send) {
      rec.route = "send";
      rec.txnId = decodeURIComponent(send[1]!);
      return this.throttled(auth, () => this.onTransaction(req, bytes, rec, auth, rec.txnId!));
    }
    const backfill = /^\/federation\/v1\/channels\/([^/]+)\/events$/.exec(url.pathname);
    if (method === "GET" && backfill) {
      rec.route = "backfill";
      return this.onBackfill(decodeURIComponent(backfill[1]!), url, rec, auth);
    }
    if (url.pathname === "/federation/v1/call") {
      rec.route = "call";
      rec.problems.push("unexpected request: the harness never offered tools on the fake peer");
      throw new SmcpError("SMCP_FORBIDDEN", "the fake peer accepts no calls");
    }
    rec.problems.push(`unexpected request ${method} ${url.pathname}`);
    throw new SmcpError("SMCP_NOT_FOUND", `no route ${method} ${url.pathname}`);
  }

  /** Applies the run-time send behaviour and tracks how many transactions an origin has in flight at once. */
  private async throttled<T>(origin: string, answer: () => T): Promise<T> {
    const n = (this.inFlight.get(origin) ?? 0) + 1;
    this.inFlight.set(origin, n);
    this.maxInFlight.set(origin, Math.max(n, this.maxInFlight.get(origin) ?? 0));
    try {
      const b = this.sendBehaviour;
      if (b.answerDelayMs > 0) await new Promise((r) => setTimeout(r, b.answerDelayMs));
      if (b.failNext > 0) {
        b.failNext--;
        const raw = b.failRaw?.shift();
        if (raw) return raw as T;
        const extra = b.failWith.retryAfterMs === undefined ? {} : { retryAfterMs: b.failWith.retryAfterMs };
        throw new SmcpError(b.failWith.errcode, "the fake peer fails this transaction on purpose", extra);
      }
      return answer();
    } finally {
      this.inFlight.set(origin, (this.inFlight.get(origin) ?? 1) - 1);
    }
  }

  private readonly lastRediscovery = new Map<string, number>();

  /**
   * The origin's key; an unknown key ID forces one re-fetch of the origin's discovery document, at most once per
   * 5 s per origin (spec §4.2), so that the fake is also a correct receiver when it plays an instance under test.
   */
  private async lookupKey(origin: string, keyId: string): Promise<VerifyKey | null> {
    const inst = this.instances.get(origin);
    if (!inst) return null;
    if (inst.key.keyId === keyId) return inst.key;
    if (Date.now() - (this.lastRediscovery.get(origin) ?? 0) < 5_000) return null;
    this.lastRediscovery.set(origin, Date.now());
    const fresh = await this.fetchKey(origin, inst.baseUrl);
    if (!fresh) return null;
    inst.key = fresh;
    return fresh.keyId === keyId ? fresh : null;
  }

  /** Checks an instance's own request signature with the same code receivers use (spec §5.6). */
  private async authenticate(req: IncomingMessage, path: string, bytes: Buffer, rec: InboundRecord): Promise<string> {
    const ctx: AuthContext = {
      self: this.name,
      now: Date.now,
      maxSkewMs: FAKE_LIMITS.max_clock_skew_ms,
      notBefore: 0,
      replay: this.replay,
      lookupKey: (origin, keyId) => this.lookupKey(origin, keyId),
    };
    const header = req.headers[AUTH_HEADER];
    try {
      rec.sha = sha256Base64Url(bytes);
      const auth = await authenticateRequest(ctx, Array.isArray(header) ? header[0] : header, { method: req.method ?? "GET", uri: path, body: bytes });
      rec.origin = auth.origin;
      rec.nonce = auth.nonce;
      return auth.origin;
    } catch (err) {
      const parsed = parseAuthHeader(Array.isArray(header) ? header[0] : header);
      if (err instanceof SmcpError && parsed && this.faults.ignoreAuth?.includes(err.errcode)) {
        rec.origin = parsed.origin;
        return parsed.origin;
      }
      rec.problems.push(`instance sent a request that fails authentication: ${(err as Error).message}`);
      throw err;
    }
  }

  private parse<T>(req: IncomingMessage, bytes: Buffer, schema: string, rec: InboundRecord, origin: string): T {
    let body: unknown;
    try {
      body = parseJsonBody(req, bytes);
    } catch (err) {
      rec.problems.push(`instance sent an unparsable body: ${(err as Error).message}`);
      throw err;
    }
    rec.body = body;
    const issues = validate(schema, body);
    if (issues.length > 0) {
      rec.problems.push(`instance sent an invalid ${schema}: ${issues.map((i) => `${i.path || "/"} ${i.message}`).join("; ")}`);
      throw new SmcpError("SMCP_INVALID", `not a valid ${schema}`, { details: issues });
    }
    try {
      assertBodyOrigin({ origin } as never, body);
    } catch (err) {
      rec.problems.push(`body origin is not the signer: ${(err as Error).message}`);
      throw err;
    }
    return body as T;
  }

  private onInvite(req: IncomingMessage, bytes: Buffer, rec: InboundRecord, origin: string): { status: number; body: InviteAnswer } {
    const invite = this.parse<Invite>(req, bytes, "Invite", rec, origin);
    if (this.faults.invalidInviteAnswer) return { status: 200, body: { channel: invite.channel, accepted: "yes" } as never };
    const hub = parseChannelId(invite.channel)?.hub;
    if (hub !== origin || invite.inviter !== origin) rec.problems.push(`invite for ${invite.channel} does not come from its hub/admin (origin ${origin})`);
    if (invite.invitee !== this.name) rec.problems.push(`invite names invitee ${invite.invitee}, not ${this.name}`);
    this.invitedTo.add(invite.channel);
    if (!this.participant.has(invite.channel)) this.participant.set(invite.channel, { hub: origin, events: new Map(), heads: [] });
    const held = this.participant.get(invite.channel)!.events.size;
    return { status: 200, body: { channel: invite.channel, accepted: true, events_since: held > 0 ? held : null } };
  }

  private onTransaction(req: IncomingMessage, bytes: Buffer, rec: InboundRecord, origin: string, txnId: string): { status: number; body: unknown } {
    const txn = this.parse<Transaction>(req, bytes, "Transaction", rec, origin);
    const sha = sha256Base64Url(bytes);
    const prior = this.txnResults.get(`${origin} ${txnId}`);
    if (prior) {
      if (prior.sha !== sha) throw new SmcpError("SMCP_CONFLICT", `txn ${txnId} was sent before with other bytes`);
      return { status: 200, body: prior.result };
    }
    const items = (txn.events?.length ?? 0) + (txn.submissions?.length ?? 0);
    if (items > FAKE_LIMITS.max_txn_items) rec.problems.push(`transaction carries ${items} items, above the advertised ${FAKE_LIMITS.max_txn_items}`);
    const result: TransactionResult = { processed: [], rejected: [], sequenced: [] };
    for (const head of txn.heads ?? []) this.takeHead(head, origin, rec);
    for (const ev of sortBySeq(txn.events ?? [])) this.takeEvent(ev, origin, rec, result);
    for (const sub of txn.submissions ?? []) this.takeSubmission(sub, origin, rec, result);
    this.checkHeads(txn, origin, rec);
    this.txnResults.set(`${origin} ${txnId}`, { sha, result });
    return { status: 200, body: result };
  }

  /** DLV-09/DLV-10: a hub's every transaction carries a head for each channel we share, at or above its events. */
  private checkHeads(txn: Transaction, origin: string, rec: InboundRecord): void {
    const heads = new Map((txn.heads ?? []).map((h) => [h.channel, h]));
    for (const [channel, ch] of this.participant) {
      if (ch.hub !== origin || this.removedFrom.has(channel) || ch.events.size === 0) continue;
      if (!heads.has(channel)) rec.problems.push(`transaction from hub ${origin} lacks a head for shared channel ${channel} (DLV-09)`);
    }
    for (const ev of txn.events ?? []) {
      const head = heads.get(ev.channel);
      if (head && head.seq < ev.seq) rec.problems.push(`head for ${ev.channel} states seq ${head.seq}, below event seq ${ev.seq} of the same transaction (DLV-10)`);
    }
  }

  private takeHead(head: ChannelHead, origin: string, rec: InboundRecord): void {
    const ch = this.participant.get(head.channel);
    const inst = this.instances.get(origin);
    if (parseChannelId(head.channel)?.hub !== origin) rec.problems.push(`head for ${head.channel} sent by non-hub ${origin}`);
    else if (inst && !headVerifies(inst.key, head)) rec.problems.push(`head for ${head.channel} seq ${head.seq}: hub_signature does not verify`);
    if (ch) ch.heads.push(head);
    else rec.problems.push(`head for ${head.channel}, a channel the fake peer is not a member of`);
  }

  /** The fake as a participant: verifies everything a participant must (spec §7.4, §8.5). */
  private takeEvent(ev: Event, origin: string, rec: InboundRecord, result: TransactionResult): void {
    const reject = (errcode: RejectedItem["errcode"], why: string): void => {
      rec.problems.push(`event ${ev.event_id} (seq ${ev.seq}): ${why}`);
      result.rejected.push({ id: ev.event_id, errcode, error: why });
    };
    const ch = this.participant.get(ev.channel);
    if (parseChannelId(ev.channel)?.hub !== origin) return reject("SMCP_NOT_HUB", `sent by ${origin}, not the channel's hub`);
    if (!ch) return reject("SMCP_NOT_MEMBER", "channel the fake peer was never invited to");
    const left = this.removedFrom.get(ev.channel);
    if (left !== undefined && ev.seq > left) return reject("SMCP_NOT_MEMBER", `delivered after the fake peer's leave at seq ${left} (DLV-02)`);
    const problem = eventProblem(this.instances.get(origin)!.key, ev);
    if (problem) return reject("SMCP_BAD_EVENT", problem);
    const held = ch.events.get(ev.seq);
    if (held && held.event_id !== ev.event_id) return reject("SMCP_EQUIVOCATION", `seq ${ev.seq} was ${held.event_id} before`);
    const before = ch.events.get(ev.seq - 1);
    if (before && ev.prev_event !== before.event_id) rec.problems.push(`event seq ${ev.seq}: prev_event ${ev.prev_event} is not ${before.event_id}`);
    const after = ch.events.get(ev.seq + 1);
    if (after && after.prev_event !== ev.event_id) rec.problems.push(`event seq ${ev.seq + 1} does not chain to ${ev.event_id}`);
    ch.events.set(ev.seq, ev);
    if (ev.type === "smcp:member.leave" && (ev.data as { server?: unknown }).server === this.name) this.removedFrom.set(ev.channel, ev.seq);
    result.processed.push(ev.event_id);
  }

  /** The fake as a hub: sequences a participant's submission once, then fans the event out to every member. */
  private takeSubmission(sub: Submission, origin: string, rec: InboundRecord, result: TransactionResult): void {
    const reject = (errcode: RejectedItem["errcode"], why: string): void => {
      rec.problems.push(`submission ${sub.submission_id}: ${why}`);
      result.rejected.push({ id: sub.submission_id, errcode, error: why });
    };
    const refusal = this.refuseSubmissions.get(origin);
    if (refusal) {
      // A rejection the harness asked for (CTRL-21 relaying): answered per item, not an instance fault.
      result.rejected.push({ id: sub.submission_id, errcode: refusal, error: "the fake hub refuses this submission on purpose" });
      return;
    }
    const ch = this.hubChannels.get(sub.channel);
    if (!ch) return reject("SMCP_NOT_HUB", `${this.name} does not hub ${sub.channel}`);
    if (sub.sender !== origin) return reject("SMCP_ORIGIN_MISMATCH", `sender ${sub.sender} is not the origin ${origin}`);
    if (!ch.members.has(origin)) return reject("SMCP_NOT_MEMBER", `${origin} is not a member`);
    if (sub.type.startsWith("smcp:")) return reject("SMCP_INVALID", "the smcp: namespace is reserved");
    const key = `${origin} ${sub.submission_id}`;
    let done = ch.submissions.get(key);
    if (!done) {
      const ev = this.hubAppend(sub.channel, sub.type, sub.data, origin);
      done = { submission_id: sub.submission_id, event_id: ev.event_id, seq: ev.seq };
      ch.submissions.set(key, done);
      const after = this.afterAnswer.get(rec) ?? [];
      after.push(() => this.fanOut(ch, ev));
      this.afterAnswer.set(rec, after);
    }
    result.processed.push(sub.submission_id);
    result.sequenced.push(done);
  }

  private async fanOut(ch: HubChannel, ev: Event): Promise<void> {
    for (const member of ch.members) {
      if (member === this.name || !this.instances.has(member)) continue;
      try {
        await this.sendTransaction(member, { events: [ev], heads: [this.hubHead(ch.id)] });
      } catch {
        // A failed fan-out shows up in the check that waits for the event.
      }
    }
  }

  private onBackfill(channel: string, url: URL, rec: InboundRecord, origin: string): { status: number; body: unknown } {
    const ch = this.hubChannels.get(channel);
    if (!ch) {
      rec.problems.push(`backfill of ${channel}, which the fake peer does not hub`);
      throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `${channel} is not hubbed here`);
    }
    if (!ch.members.has(origin)) {
      rec.problems.push(`backfill of ${channel} by non-member ${origin}`);
      throw new SmcpError("SMCP_NOT_MEMBER", `${origin} is not a member`);
    }
    const after = Number(url.searchParams.get("after") ?? "NaN");
    const limit = Number(url.searchParams.get("limit") ?? "100");
    if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      rec.problems.push(`backfill with invalid after/limit: ${url.search}`);
      throw new SmcpError("SMCP_INVALID", "after must be an integer >= 0 and limit 1..1000");
    }
    const upTo = Math.min(ch.servedUpTo, ch.events.length);
    const events = ch.events.slice(after, Math.min(upTo, after + limit)).map((e) => ch.backfillOverride?.get(e.seq) ?? e);
    return { status: 200, body: { channel, events, head: this.hubHead(channel, upTo) } };
  }

  private instance(name: string): KnownInstance {
    const inst = this.instances.get(name);
    if (!inst) throw new Error(`the fake peer does not know instance ${name}`);
    return inst;
  }
}

function sortBySeq(events: Event[]): Event[] {
  return [...events].sort((a, b) => a.seq - b.seq);
}

/** The correct signature of `form`, or the `sig` override: literal text, or crafted from the correct one and the signed bytes. */
function signatureFor(key: SigningKey, form: Record<string, unknown>, sig: NonNullable<OutboundOptions["sign"]>["sig"]): string {
  if (typeof sig === "string") return sig;
  const correct = signForm(key, form);
  return sig ? encodeBase64Url(sig(decodeBase64Url(correct, 64)!, canonicalBytes(form))) : correct;
}

/** Headers worth logging: the signature header and content type. */
function pick(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k === AUTH_HEADER || k === "content-type") out[k] = v;
  return out;
}
