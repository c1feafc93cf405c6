// Roshumba (1.1 forwarding, spec §10.6): `POST /federation/v1/forward` — checks F1–F8 on every hop, then either
// executes the call as its destination (at most once, signed result) or carries it one hop onward as a consenting,
// rate-limited, bounded intermediate that relays the answer and names the hop that failed.
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import {
  checkEnvelopeTime, checkHops, envelopeSha256, FORWARD_PATH, paramsSha256, signForwardResult, verifyEnvelope,
} from "../../protocol/forward-envelope.ts";
import { errorFromAnswer, type HttpAnswer } from "../../protocol/http-client.ts";
import type { SigningKey, VerifyKey } from "../../protocol/keys.ts";
import { CALL_ANSWER_MARGIN_MS, FORWARD_INFLIGHT_PER_ORIGIN, FORWARD_INFLIGHT_TOTAL } from "../../protocol/limits.ts";
import { validate } from "../../protocol/schemas.ts";
import type { ForwardedCall, ForwardEnvelope, ForwardResult, RemoteCall, RemoteCallResult } from "../../protocol/types.ts";
import { speaks } from "../../protocol/versions.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Peer } from "../paulina/discovery.ts";
import type { ForwardConsent } from "./forward-consent.ts";
import { requireForwarder } from "./forward-origin.ts";
import type { ForwardRoutes } from "./forward-routes.ts";

export interface ForwarderOptions {
  self: string;
  key: SigningKey;
  /** The receiver's advertised `max_clock_skew_ms` (W of check F4). */
  skewMs: number;
  consent: ForwardConsent;
  routes: ForwardRoutes;
  federation: FederationSender;
  /** §10.5: whether `origin` may call this instance's components (the destination's check F5). */
  mayCall: (origin: string) => boolean;
  /** RATE-01 bucket of an envelope origin (FWD-14); throws 429. */
  chargeOrigin: (origin: string) => void;
  /** §4.2 key of an origin (Paulina), null when it cannot be obtained or `keyId` is not its key. */
  lookupKey: (origin: string, keyId: string) => Promise<VerifyKey | null>;
  /** Paulina discovery of a possible next hop (throws SMCP_PEER_UNREACHABLE). */
  discover: (server: string) => Promise<Peer>;
  /** Roshumba's at-most-once execution, keyed by (origin, call_id) with `identity` for the body bytes (FWD-21). */
  execute: (origin: string, call: RemoteCall, identity: string) => Promise<RemoteCallResult>;
  now?: () => number;
  logger?: Logger;
  /** How much longer than the call's timeout a hop waits for the next (CALL-19; tests shorten it). */
  networkMarginMs?: number;
}

/** Counters of what others made this intermediate do (tests read exact counts). */
export interface ForwarderStats {
  accepted: number;
  executed: number;
  onwardRequests: number;
  joined: number;
}

export class Forwarder {
  private readonly now: () => number;
  private readonly marginMs: number;
  /** Envelopes being carried onward, by envelope hash: a repeat joins the pending answer (FWD-15). */
  private readonly inFlight = new Map<string, Promise<ForwardResult>>();
  private readonly perOrigin = new Map<string, number>();
  readonly stats: ForwarderStats = { accepted: 0, executed: 0, onwardRequests: 0, joined: 0 };

  constructor(private readonly opts: ForwarderOptions) {
    this.now = opts.now ?? Date.now;
    this.marginMs = opts.networkMarginMs ?? CALL_ANSWER_MARGIN_MS;
  }

  /** `sender` is the authenticated hop (the request's signer); `call` validated as `ForwardedCall` at check 12. */
  async handle(sender: string, call: ForwardedCall): Promise<ForwardResult> {
    const self = this.opts.self;
    const env = call.envelope;
    checkHops(call, sender, self); // F1–F3
    checkEnvelopeTime(env, this.now(), this.opts.skewMs, self); // F4
    const destination = env.destination === self;
    this.gate(env, destination); // F5
    await this.checkEnvelope(call); // F6–F8
    this.stats.accepted++;
    return destination ? this.executeHere(call) : this.carryOnward(call);
  }

  /** F5: the destination authorises the origin (§10.5); an intermediate needs consent and the origin's token. */
  private gate(env: ForwardEnvelope, destination: boolean): void {
    const hop = { hop: this.opts.self };
    if (destination) {
      if (!this.opts.mayCall(env.origin)) throw new SmcpError("SMCP_FORBIDDEN", `${env.origin} may not call ${this.opts.self} (§10.5), forwarded or not`, hop);
      return;
    }
    if (!this.opts.consent.allows(env.origin, env.destination)) {
      throw new SmcpError("SMCP_FORWARD_REFUSED", `${this.opts.self} does not forward calls from ${env.origin} to ${env.destination}`, hop);
    }
    try {
      this.opts.chargeOrigin(env.origin);
    } catch (err) {
      throw withHop(err, this.opts.self);
    }
  }

  /** F6–F8: the origin's key, the envelope's signature, the arguments' hash. */
  private async checkEnvelope(call: ForwardedCall): Promise<void> {
    const env = call.envelope;
    const hop = { hop: this.opts.self };
    const key = await this.opts.lookupKey(env.origin, env.key_id);
    if (!key) throw new SmcpError("SMCP_UNKNOWN_KEY", `cannot obtain ${env.origin}'s key ${env.key_id}`, hop);
    if (!verifyEnvelope(key, env)) throw new SmcpError("SMCP_BAD_ENVELOPE", `the envelope's signature does not verify under ${env.origin}'s key`, hop);
    let digest: string;
    try {
      digest = paramsSha256(call.params);
    } catch (err) {
      throw withHop(err, this.opts.self);
    }
    if (digest !== env.params_sha256) throw new SmcpError("SMCP_BAD_ENVELOPE", "params do not hash to the envelope's params_sha256 (changed arguments)", hop);
  }

  /** F9 at the destination: §10.1–§10.4 under (origin, call_id), the envelope hash standing for the body (FWD-21). */
  private async executeHere(call: ForwardedCall): Promise<ForwardResult> {
    const env = call.envelope;
    const remote: RemoteCall = { origin: env.origin, call_id: env.call_id, target: env.target, tool: env.tool, params: call.params, timeout_ms: env.timeout_ms };
    this.stats.executed++;
    try {
      const answer = await this.opts.execute(env.origin, remote, `fwd:${envelopeSha256(env)}`);
      return signForwardResult(this.opts.key, env, answer.result);
    } catch (err) {
      throw withHop(err, this.opts.self);
    }
  }

  /** F9 at an intermediate: in-flight bounds, one pending onward request per envelope (FWD-15). */
  private carryOnward(call: ForwardedCall): Promise<ForwardResult> {
    const env = call.envelope;
    const id = envelopeSha256(env);
    const pending = this.inFlight.get(id);
    if (pending) {
      this.stats.joined++;
      return pending;
    }
    const mine = this.perOrigin.get(env.origin) ?? 0;
    if (mine >= FORWARD_INFLIGHT_PER_ORIGIN || this.inFlight.size >= FORWARD_INFLIGHT_TOTAL) {
      throw new SmcpError("SMCP_RATE_LIMITED", `${this.opts.self} already carries ${mine} calls of ${env.origin} (${this.inFlight.size} in all)`, { retryAfterMs: 1000, hop: this.opts.self });
    }
    this.perOrigin.set(env.origin, mine + 1);
    const promise = this.sendOnward(call).finally(() => {
      this.inFlight.delete(id);
      const left = (this.perOrigin.get(env.origin) ?? 1) - 1;
      if (left > 0) this.perOrigin.set(env.origin, left);
      else this.perOrigin.delete(env.origin);
    });
    this.inFlight.set(id, promise);
    return promise;
  }

  private async sendOnward(call: ForwardedCall): Promise<ForwardResult> {
    const env = call.envelope;
    const self = this.opts.self;
    if (call.hops.length + 1 > env.max_hops) throw new SmcpError("SMCP_HOP_LIMIT", `one more hop would exceed max_hops ${env.max_hops}`, { hop: self });
    const next = await this.nextHop(env.destination, new Set([...call.hops, self]));
    if (next !== env.destination) await requireForwarder(this.opts.discover, next); // FWD-01 for a configured route
    const body: ForwardedCall = { origin: self, hops: [...call.hops, self], envelope: env, params: call.params };
    const deadline = this.now() + env.timeout_ms + this.marginMs;
    // FWD-06/FWD-17: at most two requests onward, the retry only for a request that brought no answer.
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - this.now();
      if (remaining <= 0) throw new SmcpError("SMCP_CALL_TIMEOUT", `no answer from ${next} within the call's timeout`, { hop: next });
      let answer: HttpAnswer;
      try {
        this.stats.onwardRequests++;
        answer = await this.opts.federation.request(next, "POST", FORWARD_PATH, body, { timeoutMs: remaining });
      } catch (err) {
        if (attempt < 2 && deadline - this.now() > 0) continue;
        const e = err instanceof SmcpError ? err : new SmcpError("SMCP_PEER_UNREACHABLE", String(err));
        throw new SmcpError("SMCP_PEER_UNREACHABLE", `${self} could not reach ${next}: ${e.message}`, { retryAfterMs: e.extra.retryAfterMs ?? 1000, hop: next });
      }
      return relay(answer, next, env);
    }
  }

  /** FWD-16: the destination itself when it speaks 1.1 and can be discovered, else a known route not yet visited. */
  private async nextHop(destination: string, visited: ReadonlySet<string>): Promise<string> {
    try {
      const peer = await this.opts.discover(destination);
      if (speaks(peer.versions, "1.1")) return destination;
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${destination} does not speak 1.1 (versions ${peer.versions.join(", ")})`, { retryAfterMs: 1000, hop: destination });
    } catch (err) {
      const via = (await this.opts.routes.candidates(destination, visited))[0];
      if (via !== undefined) return via;
      throw withHop(err, destination);
    }
  }
}

/** FWD-18: a next hop's answer as this hop answers it; FWD-32: a 404 from a hop is a hop that cannot forward. */
function relay(answer: HttpAnswer, next: string, env: ForwardEnvelope): ForwardResult {
  if (answer.status === 200) {
    const body = answer.body as ForwardResult | undefined;
    if (validate("ForwardResult", body).length === 0 && body!.call_id === env.call_id && body!.origin === env.origin && body!.destination === env.destination) {
      return body!;
    }
    throw new SmcpError("SMCP_PEER_UNREACHABLE", `${next} answered 200 without a ForwardResult for call ${env.call_id}`, { retryAfterMs: 1000, hop: next });
  }
  const err = errorFromAnswer(answer, next);
  if (err.errcode === "SMCP_INTERNAL" || err.errcode === "SMCP_NOT_FOUND" || err.errcode === "SMCP_METHOD_NOT_ALLOWED") {
    throw new SmcpError("SMCP_PEER_UNREACHABLE", `${next} answered ${answer.status} ${err.errcode}: it cannot take forwarded calls`, { retryAfterMs: 1000, hop: next });
  }
  return rethrow(err, next);
}

function rethrow(err: SmcpError, next: string): never {
  throw new SmcpError(err.errcode, err.message, { ...err.extra, hop: err.extra.hop ?? next });
}

/** The same error with `hop` set, unless it already names one (FWD-24, FWD-30). */
export function withHop(err: unknown, hop: string): SmcpError {
  if (!(err instanceof SmcpError)) return new SmcpError("SMCP_INTERNAL", "internal error while handling a forwarded call", { hop });
  if (err.extra.hop !== undefined) return err;
  return new SmcpError(err.errcode, err.message, { ...err.extra, hop });
}
