// Conformance harness: bounds at the federation edge that only show with unusual framing or sizes — a chunked body
// (no Content-Length) over max_body_bytes, and an error message echoing a long request path (spec §5.6, §13).
import { Readable } from "node:stream";
import { parseAnswerBody, type HttpAnswer } from "../../protocol/http-client.ts";
import { JSON_TYPE } from "../../protocol/http.ts";
import { AUTH_HEADER } from "../../protocol/signing.ts";
import { CheckFailure, expectError } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known, limitsOf } from "./support/state.ts";

function edgeCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: ["adv/sign/baseline@@"], run: (ctx) => run(ctx, role) }));
}

/** A correctly signed PUT whose body goes out in chunks (Transfer-Encoding: chunked), so only reading can bound it. */
async function sendChunked(ctx: CheckContext, role: Role, path: string, chunks: Buffer[]): Promise<HttpAnswer> {
  const t = known(ctx, role);
  const body = Buffer.concat(chunks);
  const header = ctx.fake.authHeader(t.name, { method: "PUT", path, rawBody: body });
  const url = t.discovery.endpoint + path;
  ctx.recorder.record({ dir: "out", via: `fake→${role} (chunked)`, method: "PUT", url, body: `${body.length} bytes in ${chunks.length} chunks` });
  try {
    const res = await ctx.dispatcher.request({
      origin: new URL(url).origin, path: new URL(url).pathname, method: "PUT",
      headers: { "content-type": JSON_TYPE, [AUTH_HEADER.toLowerCase()]: header },
      body: Readable.from(chunks), headersTimeout: 20_000, bodyTimeout: 20_000,
    });
    const raw = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, ...parseAnswerBody(raw), raw };
  } catch (err) {
    throw new CheckFailure(`the chunked request got no answer: ${(err as Error).message}`, "413 SMCP_TOO_LARGE", (err as Error).message);
  }
}

export const edgeBoundChecks: Check[] = [
  ...edgeCheck("adv/limits/too-large-chunked", "a chunked body (no Content-Length) of limits.max_body_bytes + 1 bytes gets 413 SMCP_TOO_LARGE", ["SIGN-30", "DISC-09"], async (ctx, role) => {
    const t = known(ctx, role);
    const size = limitsOf(t).max_body_bytes + 1;
    // A valid transaction with an unknown padding member: read whole, it would be accepted.
    const head = `{"origin":"${ctx.fake.name}","origin_ts":${Date.now()},"heads":[],"pad":"`;
    const body = Buffer.from(head + "x".repeat(size - head.length - 2) + `"}`);
    const half = Math.floor(size / 2);
    const a = await sendChunked(ctx, role, `/federation/v1/send/${ctx.fake.nextTxnId()}`, [body.subarray(0, half), body.subarray(half)]);
    expectError(a, "SMCP_TOO_LARGE", `${size}-byte chunked body`);
  }),
  ...edgeCheck("adv/http/long-path-error", "an unknown path of 6000 characters gets 404 with an Error body inside the schema's bounds (message ≤ 4096)", ["ERR-01", "SIGN-29"], async (ctx, role) => {
    const t = known(ctx, role);
    const path = `/federation/v1/${"x".repeat(6_000)}`;
    // expectError validates the body against the Error schema, whose error message is at most 4096 characters.
    expectError(await ctx.fake.send(t.name, { method: "GET", path }), "SMCP_NOT_FOUND", "GET of a 6000-character unknown path");
  }),
];
