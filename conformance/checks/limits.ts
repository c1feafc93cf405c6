// Conformance harness: the HTTP edge of the federation API — bad JSON, schema violations, media type, body size and
// per-origin rate limiting — checked against each instance under test (spec §5.6, §5.7, §13).
import { ensure, expectError, fail } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known, limitsOf } from "./support/state.ts";
import { awaitServedAgain, burst } from "./support/rate.ts";

function edgeCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>, level: Check["level"] = "MUST"): Check[] {
  return perTarget((role) => ({ id, name, requirements, level, prerequisites: ["adv/sign/baseline@@"], run: (ctx) => run(ctx, role) }));
}

const sendPath = (ctx: CheckContext): string => `/federation/v1/send/${ctx.fake.nextTxnId()}`;

export const edgeChecks: Check[] = [
  ...edgeCheck("adv/http/bad-json", "a signed body that is not JSON gets 400 SMCP_BAD_JSON", ["SIGN-37", "ERR-01", "ERR-02"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: Buffer.from(`{"origin":"${ctx.fake.name}",`) });
    expectError(a, "SMCP_BAD_JSON", "truncated JSON");
  }),
  ...edgeCheck("adv/http/schema-invalid", "a signed body violating the schema gets 400 SMCP_INVALID with details", ["SIGN-36", "ERR-05"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), body: { origin: ctx.fake.name, origin_ts: "yesterday" } });
    const err = expectError(a, "SMCP_INVALID", "transaction with a string origin_ts");
    ensure(Array.isArray(err.details) && err.details.length > 0, "SMCP_INVALID without details (§13)", "details: [{path, message}]", err);
  }),
  ...edgeCheck("adv/http/media-type", "a signed body sent as text/plain gets 415 SMCP_UNSUPPORTED_MEDIA_TYPE", ["SIGN-34"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), body: { origin: ctx.fake.name, origin_ts: Date.now() }, contentType: "text/plain" });
    expectError(a, "SMCP_UNSUPPORTED_MEDIA_TYPE", "text/plain body");
  }),
  ...edgeCheck("adv/limits/too-large", "a body of limits.max_body_bytes + 1 bytes gets 413 SMCP_TOO_LARGE", ["SIGN-30", "DISC-09"], async (ctx, role) => {
    const t = known(ctx, role);
    const size = limitsOf(t).max_body_bytes + 1;
    const head = `{"origin":"${ctx.fake.name}","origin_ts":${Date.now()},"heads":[],"pad":"`;
    const body = Buffer.from(head + "x".repeat(size - head.length - 2) + `"}`);
    ensure(body.length === size, "harness built a body of the wrong size", size, body.length);
    const a = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: body });
    expectError(a, "SMCP_TOO_LARGE", `${size}-byte body`);
  }),
  ...edgeCheck("adv/http/unknown-route", "an unknown federation path gets 404 with the spec's error body", ["SIGN-29"], async (ctx, role) => {
    const t = known(ctx, role);
    expectError(await ctx.fake.send(t.name, { method: "GET", path: "/federation/v1/no-such-endpoint" }), "SMCP_NOT_FOUND", "unknown path");
  }),
  ...edgeCheck("adv/http/method-not-allowed", "a method an endpoint does not take gets 405 SMCP_METHOD_NOT_ALLOWED", ["SIGN-29"], async (ctx, role) => {
    const t = known(ctx, role);
    expectError(await ctx.fake.send(t.name, { method: "DELETE", path: "/federation/v1/ping" }), "SMCP_METHOD_NOT_ALLOWED", "DELETE /federation/v1/ping");
  }),
  ...edgeCheck("adv/http/allow-header", "a 405 answer names the allowed methods in Allow", ["ERR-09"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "DELETE", path: "/federation/v1/ping" });
    expectError(a, "SMCP_METHOD_NOT_ALLOWED", "DELETE /federation/v1/ping");
    const allow = String(a.headers["allow"] ?? "");
    ensure(/\bGET\b/.test(allow), "405 without an Allow header listing GET", "Allow: GET", allow || "(none)");
  }, "SHOULD"),
];

export const rateLimit = perTarget((role) => ({
  id: "adv/limits/rate-limited",
  name: "a burst above limits.rate_burst gets 429 SMCP_RATE_LIMITED with retry_after_ms and Retry-After; service resumes after it",
  requirements: ["RATE-01", "RATE-03", "RATE-04", "RATE-05", "RATE-06"],
  level: "MUST",
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const { sent, ms, limited } = await burst(ctx, role);
    if (!limited) fail(`no 429 after ${sent} signed requests in a burst`, `429 once above rate_burst ${limitsOf(t).rate_burst} + ${limitsOf(t).rate_per_second}/s`, `${sent} requests in ${ms} ms all served`);
    ensure(typeof limited.retry_after_ms === "number" && limited.retry_after_ms >= 0, "429 without retry_after_ms", "retry_after_ms", limited);
    const want = String(Math.max(1, Math.ceil(limited.retry_after_ms / 1000)));
    ensure(limited.retryAfter === want, "Retry-After header missing or not retry_after_ms in whole seconds, rounded up", want, limited.retryAfter);
    ctx.note(`first 429 after ${sent} requests; retry_after_ms ${limited.retry_after_ms}`);
    await awaitServedAgain(ctx, role, limited.retry_after_ms);
  },
}));
