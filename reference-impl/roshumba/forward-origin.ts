// Roshumba (1.1 forwarding, spec §10.6 FWD-01–FWD-05, FWD-25–FWD-28): the origin's side of a forwarded call — build or
// reuse the signed envelope, send it to an intermediate, accept only a result the destination signed for it.
import { SmcpError } from "../../protocol/errors.ts";
import { forwardResultProblem, FORWARD_PATH, paramsSha256, signEnvelope } from "../../protocol/forward-envelope.ts";
import { errorFromAnswer, type HttpAnswer } from "../../protocol/http-client.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import { CALL_ANSWER_MARGIN_MS, CALL_TIMEOUT_MAX_MS, FORWARD_ENVELOPE_GRACE_MS } from "../../protocol/limits.ts";
import { validate } from "../../protocol/schemas.ts";
import type { ForwardedCall, ForwardEnvelope, ForwardResult, RemoteCall, RemoteCallResult } from "../../protocol/types.ts";
import { speaks } from "../../protocol/versions.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Peer } from "../paulina/discovery.ts";
import type { ForwardEnvelopeStore } from "./forward-envelopes.ts";

/** The hop ceiling the reference puts in its envelopes (FWD-02: 1–8). */
export const DEFAULT_MAX_HOPS = 4;
/** Failures of a route rather than of the call: another intermediate may still get it through. */
const ROUTE_FAILURES: ReadonlySet<string> = new Set(["SMCP_FORWARD_REFUSED", "SMCP_PEER_UNREACHABLE", "SMCP_HOP_LIMIT", "SMCP_FORWARD_LOOP"]);

export interface ForwardOriginOptions {
  self: string;
  key: SigningKey;
  skewMs: number;
  federation: FederationSender;
  envelopes: ForwardEnvelopeStore;
  /** The destination as this instance itself discovered it (FWD-03): a record made earlier counts. */
  knownPeer: (server: string) => Peer | undefined;
  /** Paulina discovery of an intermediate (throws SMCP_PEER_UNREACHABLE): only one listing "1.1" gets a forward (FWD-01). */
  discover: (server: string) => Promise<Peer>;
  now?: () => number;
  networkMarginMs?: number;
}

export class ForwardOrigin {
  private readonly now: () => number;
  private readonly marginMs: number;

  constructor(private readonly opts: ForwardOriginOptions) {
    this.now = opts.now ?? Date.now;
    this.marginMs = opts.networkMarginMs ?? CALL_ANSWER_MARGIN_MS;
  }

  /** Whether this instance may forward to `destination` at all: it holds its key and it speaks 1.1 (FWD-01, FWD-03). */
  canForwardTo(destination: string): boolean {
    const peer = this.opts.knownPeer(destination);
    return peer !== undefined && speaks(peer.versions, "1.1");
  }

  /**
   * Sends `call` through the first of `vias` that takes it; a via that cannot be reached or refuses (FWD_REFUSED) lets
   * the next one try with the same envelope (FWD-04). Answers as a direct call would (FWD-26).
   */
  async call(call: RemoteCall, destination: string, vias: readonly string[]): Promise<RemoteCallResult> {
    const peer = this.opts.knownPeer(destination);
    if (!peer || !speaks(peer.versions, "1.1")) {
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `cannot forward to ${destination}: no 1.1 discovery of it held`, { retryAfterMs: 1000, hop: destination });
    }
    const { envelope, params } = this.envelopeFor(call, destination);
    let last: SmcpError | undefined;
    for (const via of vias) {
      try {
        return await this.through(via, envelope, params, peer);
      } catch (err) {
        last = err instanceof SmcpError ? err : new SmcpError("SMCP_PEER_UNREACHABLE", String(err), { retryAfterMs: 1000, hop: via });
        // A route that failed as a route lets the next one try the same envelope; the destination deduplicates (FWD-21).
        if (!ROUTE_FAILURES.has(last.errcode)) throw last;
      }
    }
    throw last ?? new SmcpError("SMCP_PEER_UNREACHABLE", `${destination} unreachable and no route to it is known`, { retryAfterMs: 1000, hop: destination });
  }

  /** FWD-28: the stored envelope for this call_id when it is the same call and still acceptable, else a new one. */
  private envelopeFor(call: RemoteCall, destination: string): { envelope: ForwardEnvelope; params: Record<string, unknown> } {
    const now = this.now();
    const stored = this.opts.envelopes.get(call.call_id);
    const digest = paramsSha256(call.params);
    if (stored && stored.envelope.target === call.target && stored.envelope.tool === call.tool && stored.envelope.params_sha256 === digest
      && stored.envelope.ts + this.opts.skewMs + FORWARD_ENVELOPE_GRACE_MS > now) {
      return stored;
    }
    this.opts.envelopes.pruneExpired(now, this.opts.skewMs);
    const envelope = signEnvelope(this.opts.key, {
      origin: this.opts.self, destination, call_id: call.call_id, target: call.target, tool: call.tool, params: call.params,
      timeout_ms: call.timeout_ms ?? CALL_TIMEOUT_MAX_MS, max_hops: DEFAULT_MAX_HOPS, ts: now,
    });
    this.opts.envelopes.put(envelope, call.params, now);
    return { envelope, params: call.params };
  }

  private async through(via: string, envelope: ForwardEnvelope, params: Record<string, unknown>, destination: Peer): Promise<RemoteCallResult> {
    await requireForwarder(this.opts.discover, via);
    const body: ForwardedCall = { origin: this.opts.self, hops: [this.opts.self], envelope, params };
    // A hop waits T + margin for the next and may retry once (FWD-06): the origin waits one margin longer per hop.
    const waitMs = envelope.timeout_ms + this.marginMs * 2;
    let answer: HttpAnswer;
    try {
      answer = await this.opts.federation.request(via, "POST", FORWARD_PATH, body, { timeoutMs: waitMs });
    } catch (err) {
      const e = err instanceof SmcpError ? err : new SmcpError("SMCP_PEER_UNREACHABLE", String(err));
      throw new SmcpError("SMCP_PEER_UNREACHABLE", e.message, { retryAfterMs: e.extra.retryAfterMs ?? 1000, hop: via });
    }
    if (answer.status !== 200) {
      const err = errorFromAnswer(answer, via);
      if (err.errcode === "SMCP_INTERNAL" || err.errcode === "SMCP_NOT_FOUND" || err.errcode === "SMCP_METHOD_NOT_ALLOWED") {
        throw new SmcpError("SMCP_PEER_UNREACHABLE", `${via} answered ${answer.status} ${err.errcode}: it cannot take forwarded calls`, { retryAfterMs: 1000, hop: via });
      }
      throw new SmcpError(err.errcode, err.message, { ...err.extra, hop: err.extra.hop ?? via });
    }
    return this.accept(answer, envelope, destination);
  }

  /** FWD-25: only a ForwardResult for this envelope, signed by the destination's own key, is a result. */
  private accept(answer: HttpAnswer, envelope: ForwardEnvelope, destination: Peer): RemoteCallResult {
    const fail = (why: string) => new SmcpError("SMCP_PEER_UNREACHABLE", `the answer to forwarded call ${envelope.call_id} ${why}`, { retryAfterMs: 1000, hop: envelope.destination });
    if (validate("ForwardResult", answer.body).length > 0) throw fail("is not a ForwardResult");
    const result = answer.body as ForwardResult;
    const problem = forwardResultProblem(destination.key, envelope, result);
    if (problem) throw fail(problem);
    return { call_id: result.call_id, target: result.target, tool: result.tool, result: result.result };
  }
}

/** FWD-01: forwarded calls go only to a peer whose discovery lists "1.1"; any other is a route that failed. */
export async function requireForwarder(discover: (server: string) => Promise<Peer>, via: string): Promise<void> {
  let peer: Peer;
  try {
    peer = await discover(via);
  } catch (err) {
    const e = err instanceof SmcpError ? err : new SmcpError("SMCP_PEER_UNREACHABLE", String(err));
    throw new SmcpError("SMCP_PEER_UNREACHABLE", e.message, { retryAfterMs: e.extra.retryAfterMs ?? 1000, hop: via });
  }
  if (!speaks(peer.versions, "1.1")) {
    throw new SmcpError("SMCP_PEER_UNREACHABLE", `${via} does not speak 1.1 (versions ${peer.versions.join(", ")}): it cannot forward`, { retryAfterMs: 1000, hop: via });
  }
}
