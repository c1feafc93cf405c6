// Paulina (registry) for every component that talks to peers: resolve by server name, sign, send (spec §5, §6), and
// hold back every request to a destination that answered 429 until its retry_after_ms has elapsed (spec §5.7 RATE-07).
import type { Dispatcher } from "undici";
import { SmcpError } from "../../protocol/errors.ts";
import { sendSigned, type HttpAnswer } from "../../protocol/http-client.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Discovery } from "./discovery.ts";

/** Wait after a 429 whose answer states no usable delay, and the longest wait a peer can impose. */
const DEFAULT_RETRY_AFTER_MS = 1_000;
const MAX_RETRY_AFTER_MS = 3_600_000;

export class PaulinaSender implements FederationSender {
  /** Destination → instant before which nothing may be sent to it (its last 429's retry_after_ms). */
  private readonly heldUntil = new Map<string, number>();

  constructor(
    private readonly self: string,
    private readonly key: SigningKey,
    private readonly discovery: Discovery,
    private readonly dispatcher: Dispatcher,
    private readonly now: () => number = Date.now,
  ) {}

  heldFor(destination: string): number {
    return Math.max(0, (this.heldUntil.get(destination) ?? 0) - this.now());
  }

  async request(
    destination: string,
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown,
    opts: { timeoutMs?: number } = {},
  ): Promise<HttpAnswer> {
    // One gate for pings, transactions, backfills, invites and calls alike: RATE-07 is per destination.
    const wait = this.heldFor(destination);
    if (wait > 0) {
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${destination} asked us to wait (429); ${wait} ms left`, { retryAfterMs: wait });
    }
    const peer = await this.discovery.discover(destination);
    const answer = await sendSigned(this.dispatcher, this.key, {
      baseUrl: peer.endpoint,
      origin: this.self,
      destination,
      method,
      path,
      body,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
    if (answer.status === 429) this.heldUntil.set(destination, this.now() + Math.min(MAX_RETRY_AFTER_MS, retryAfterMs(answer)));
    return answer;
  }
}

/** The 429's `retry_after_ms`, else its `Retry-After` seconds, else a default. */
function retryAfterMs(answer: HttpAnswer): number {
  const ms = (answer.body as { retry_after_ms?: unknown } | undefined)?.retry_after_ms;
  if (typeof ms === "number" && Number.isFinite(ms) && ms > 0) return Math.ceil(ms);
  const header = answer.headers["retry-after"];
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_RETRY_AFTER_MS;
}
