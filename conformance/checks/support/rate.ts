// Conformance harness, check support: exhausting an origin's token bucket on an instance, and waiting until it is served again (spec §5.7).
import type { Error as ErrorBody, Ping } from "../../../protocol/types.ts";
import { expectError, expectOk, fail } from "../../assert.ts";
import type { CheckContext, Role } from "../../context.ts";
import type { FakePeer } from "../../fake-peer.ts";
import { known, limitsOf } from "./state.ts";

const PING = "/federation/v1/ping";

export interface Burst {
  sent: number;
  ms?: number;
  limited?: ErrorBody & { retryAfter?: string };
}

/** Signed pings from `from` in parallel waves until one is refused with 429, bounded by what the advertised limits allow. */
export async function burst(ctx: CheckContext, role: Role, from: FakePeer = ctx.fake): Promise<Burst> {
  const t = known(ctx, role);
  const { rate_burst, rate_per_second } = limitsOf(t);
  const started = Date.now();
  const keep = ctx.recorder.current.length;
  let sent = 0;
  for (;;) {
    const elapsed = Date.now() - started;
    const allowed = rate_burst + (rate_per_second * elapsed) / 1000;
    // Bounded: well past what the bucket can hold, or 10 s (an instance slower than its own rate cannot be overrun).
    if (sent > allowed * 1.5 + 100 || elapsed > 10_000) return { sent, ms: elapsed };
    const wave = await Promise.all(Array.from({ length: 50 }, () => from.send(t.name, { method: "GET", path: PING })));
    sent += wave.length;
    ctx.recorder.current.length = Math.min(ctx.recorder.current.length, keep + 3);
    const limited = wave.find((a) => a.status === 429);
    if (limited) {
      const body = expectError(limited, "SMCP_RATE_LIMITED", "rate-limited ping");
      const h = limited.headers["retry-after"];
      return { sent, limited: { ...body, ...(typeof h === "string" ? { retryAfter: h } : {}) } };
    }
    const wrong = wave.find((a) => a.status !== 200);
    if (wrong) expectOk<Ping>(wrong, "Ping", "ping during the burst", 200);
  }
}

/** After a 429, waits as told and confirms `from` is served again (later checks need it); bounded: 10 rounds. */
export async function awaitServedAgain(ctx: CheckContext, role: Role, retryAfterMs: number, from: FakePeer = ctx.fake): Promise<void> {
  const t = known(ctx, role);
  let wait = retryAfterMs;
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, Math.min(Math.max(wait, 50), 5_000)));
    const a = await from.send(t.name, { method: "GET", path: PING });
    if (a.status === 200) return;
    wait = (a.body as ErrorBody | undefined)?.retry_after_ms ?? 1_000;
  }
  fail(`${from.name} still rate-limited after waiting retry_after_ms ten times`, "service resumes", "429");
}
