// Conformance harness: the exact edges of the signing window and of replay retention at each instance under test —
// ts half a second beyond the advertised skew is refused on either side, two seconds inside it is accepted, and a
// nonce is still a replay after the first second (spec §5.5, §5.8).
import { newNonce } from "../../protocol/signing.ts";
import { expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known, limitsOf } from "./support/state.ts";

const PING = "/federation/v1/ping";

/** Beyond the window by less than a second: a whole-second comparison or a grace period accepts it (SIGN-25). */
const BEYOND_MS = 500;
/** Inside the window by this much: the margin left for the time between signing and the receiver's clock read. */
const INSIDE_MS = 2_000;
/** A nonce kept only a second after receipt (not until ts + 2W) is forgotten by then (SIGN-40). */
const REPLAY_AFTER_MS = 1_500;

function windowCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  // Each half signs its own pings to its own instance: the two wait out REPLAY_AFTER_MS side by side.
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: ["adv/sign/baseline@@"], sideBySide: true, run: (ctx) => run(ctx, role) }));
}

export const windowChecks: Check[] = [
  ...windowCheck("adv/window/edges", `ts ${BEYOND_MS} ms beyond max_clock_skew_ms (past or future) gets 401 SMCP_BAD_TIMESTAMP; ${INSIDE_MS / 1000} s inside it is accepted`, ["SIGN-25", "DISC-09"], async (ctx, role) => {
    const t = known(ctx, role);
    const w = limitsOf(t).max_clock_skew_ms;
    // ts is taken just before each send; the receiver reads its clock later, which only moves a stale ts further out
    // and a future one (by the request's latency, far below BEYOND_MS on loopback) closer in.
    expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { ts: Date.now() - w - BEYOND_MS } }), "SMCP_BAD_TIMESTAMP", `ping with ts W + ${BEYOND_MS} ms in the past`);
    expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { ts: Date.now() + w + BEYOND_MS } }), "SMCP_BAD_TIMESTAMP", `ping with ts W + ${BEYOND_MS} ms in the future`);
    // The future side only: a ts before the instance started may be refused (SIGN-42), and the run may have begun
    // less than W ago.
    const inside = Math.min(INSIDE_MS, w / 2); // W may be as small as 1 s (Limits schema)
    expectOk(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { ts: Date.now() + w - inside } }), "Ping", `ping with ts W − ${inside} ms in the future`, 200);
    ctx.note(`max_clock_skew_ms ${w}: ±(W + ${BEYOND_MS} ms) refused, +(W − ${inside} ms) accepted`);
  }),
  ...windowCheck("adv/replay/retained", `a nonce is still refused as a replay ${REPLAY_AFTER_MS / 1000} s after its first use (kept until ts + 2W)`, ["SIGN-40", "SIGN-38"], async (ctx, role) => {
    const t = known(ctx, role);
    const header = ctx.fake.authHeader(t.name, { method: "GET", path: PING, sign: { nonce: newNonce() } });
    expectOk(await ctx.fake.send(t.name, { method: "GET", path: PING, auth: { header } }), "Ping", "first ping", 200);
    const answered = Date.now();
    // A real-time property: nothing the instance does can be awaited instead, so this one wait is bounded and short.
    // With the usual W (60 s) the ts is still well inside the window, so only retention decides the answer.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, answered + REPLAY_AFTER_MS - Date.now())));
    const again = await ctx.fake.send(t.name, { method: "GET", path: PING, auth: { header } });
    const w = limitsOf(t).max_clock_skew_ms;
    if (w > REPLAY_AFTER_MS + 1_000) expectError(again, "SMCP_REPLAY", `ping replayed ${REPLAY_AFTER_MS} ms later`);
    else {
      expectError(again, ["SMCP_REPLAY", "SMCP_BAD_TIMESTAMP"], `ping replayed ${REPLAY_AFTER_MS} ms later`);
      ctx.note(`max_clock_skew_ms ${w} is too small to tell retention from the window: either refusal accepted`);
    }
  }),
];
