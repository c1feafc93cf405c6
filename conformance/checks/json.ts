// Conformance harness: I-JSON and compatibility rules at the receiver — BOM, top-level type, duplicate members, unsafe
// integers, bad Unicode, content codings, bodies on GET, unknown members and query parameters (spec §3.1, §5.4, §14).
import { expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known } from "./support/state.ts";

function jsonCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: ["adv/sign/baseline@@"], run: (ctx) => run(ctx, role) }));
}

/** Sends `bytes` as a correctly signed transaction body and expects 400 SMCP_BAD_JSON. */
async function badJson(ctx: CheckContext, role: Role, bytes: Buffer, what: string): Promise<void> {
  const t = known(ctx, role);
  const a = await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${ctx.fake.nextTxnId()}`, rawBody: bytes });
  expectError(a, "SMCP_BAD_JSON", what);
}

const txnText = (ctx: CheckContext, extra = ""): string => `{"origin":"${ctx.fake.name}","origin_ts":${Date.now()}${extra}}`;

export const jsonChecks: Check[] = [
  ...jsonCheck("adv/json/bom", "a body starting with a UTF-8 byte order mark gets 400 SMCP_BAD_JSON", ["JCS-01"], (ctx, role) =>
    badJson(ctx, role, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(txnText(ctx))]), "body with a BOM"),
  ),
  ...jsonCheck("adv/json/top-level-array", "a body whose top-level value is not an object gets 400 SMCP_BAD_JSON", ["JCS-01"], (ctx, role) =>
    badJson(ctx, role, Buffer.from(`[${txnText(ctx)}]`), "top-level array"),
  ),
  ...jsonCheck("adv/json/duplicate-member", "an object with two members of one name gets 400 SMCP_BAD_JSON", ["JCS-02"], (ctx, role) =>
    badJson(ctx, role, Buffer.from(txnText(ctx, `,"origin":"${ctx.fake.name}"`)), "duplicate member"),
  ),
  ...jsonCheck("adv/json/unsafe-integer", "an integer literal beyond 2^53-1 gets 400 SMCP_BAD_JSON", ["JCS-03"], (ctx, role) =>
    badJson(ctx, role, Buffer.from(`{"origin":"${ctx.fake.name}","origin_ts":9007199254740993}`), "origin_ts 2^53+1"),
  ),
  ...jsonCheck("adv/json/lone-surrogate", "a string with an unpaired surrogate escape gets 400 SMCP_BAD_JSON", ["JCS-04"], (ctx, role) =>
    badJson(ctx, role, Buffer.from(txnText(ctx, `,"x_note":"\\ud800"`)), "unpaired surrogate"),
  ),
  ...jsonCheck("adv/json/invalid-utf8", "a body that is not valid UTF-8 gets 400 SMCP_BAD_JSON", ["JCS-04", "JCS-01"], (ctx, role) =>
    badJson(ctx, role, Buffer.concat([Buffer.from(txnText(ctx, `,"x_note":"`).slice(0, -1)), Buffer.from([0xc3, 0x28]), Buffer.from(`"}`)]), "invalid UTF-8"),
  ),
  ...jsonCheck("adv/http/content-encoding", "a request with a content coding gets 415 SMCP_UNSUPPORTED_MEDIA_TYPE", ["SIGN-22"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${ctx.fake.nextTxnId()}`, rawBody: Buffer.from(txnText(ctx)), headers: { "content-encoding": "gzip" } });
    expectError(a, "SMCP_UNSUPPORTED_MEDIA_TYPE", "Content-Encoding: gzip");
  }),
  ...jsonCheck("adv/http/body-on-get", "a body sent to an endpoint that takes none gets 400 SMCP_INVALID", ["SIGN-23"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "GET", path: "/federation/v1/ping", rawBody: Buffer.from("{}") });
    expectError(a, "SMCP_INVALID", "GET with a body");
  }),
  ...jsonCheck("adv/compat/unknown-members", "unknown members in a request body are ignored, not rejected", ["VER-05"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${ctx.fake.nextTxnId()}`, rawBody: Buffer.from(txnText(ctx, `,"x_future":{"a":1}`)) });
    expectOk(a, "TransactionResult", "transaction with an unknown member", 200);
  }),
  ...jsonCheck("adv/compat/unknown-query", "unknown query parameters are ignored", ["VER-07"], async (ctx, role) => {
    const t = known(ctx, role);
    expectOk(await ctx.fake.send(t.name, { method: "GET", path: "/federation/v1/ping?x_future=1" }), "Ping", "ping with an unknown query parameter", 200);
  }),
];
