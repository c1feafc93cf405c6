// Conformance harness: the edges of the I-JSON rules at the receiver that the basic checks leave open — the negative
// integer bound, the bound itself accepted, surrogates in member names, content codings other than gzip, and a
// negative number without a canonical form (spec §3.1, §5.4, §7.3).
import type { TransactionResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known } from "./support/state.ts";
import { sendTxn, submission, uid, withMarker } from "./support/requests.ts";

function jsonCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>, prerequisite = "adv/sign/baseline@@"): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: [prerequisite], run: (ctx) => run(ctx, role) }));
}

const sendPath = (ctx: CheckContext): string => `/federation/v1/send/${ctx.fake.nextTxnId()}`;

/** Sends `text` as a correctly signed transaction body. */
function sendText(ctx: CheckContext, role: Role, text: string, headers?: Record<string, string>) {
  return ctx.fake.send(known(ctx, role).name, { method: "PUT", path: sendPath(ctx), rawBody: Buffer.from(text, "utf8"), ...(headers ? { headers } : {}) });
}

const txn = (ctx: CheckContext, extra = ""): string => `{"origin":"${ctx.fake.name}","origin_ts":${Date.now()}${extra}}`;

export const jsonEdgeChecks: Check[] = [
  ...jsonCheck("adv/json/negative-unsafe-integer", "an integer literal below −(2^53−1) gets 400 SMCP_BAD_JSON", ["JCS-03"], async (ctx, role) => {
    expectError(await sendText(ctx, role, txn(ctx, ',"x_note":-9007199254740993')), "SMCP_BAD_JSON", "member -9007199254740993");
  }),
  ...jsonCheck("adv/json/safe-integer-bounds", "integer literals of exactly ±(2^53−1) are valid JSON for the receiver (the transaction is accepted)", ["JCS-03", "VER-05"], async (ctx, role) => {
    const a = await sendText(ctx, role, txn(ctx, ',"x_max":9007199254740991,"x_min":-9007199254740991'));
    expectOk(a, "TransactionResult", "transaction with unknown members ±(2^53−1)", 200);
  }),
  ...jsonCheck("adv/json/surrogate-in-member-name", "a member name with an unpaired surrogate escape gets 400 SMCP_BAD_JSON", ["JCS-04"], async (ctx, role) => {
    expectError(await sendText(ctx, role, txn(ctx, ',"x_\\udc00":1')), "SMCP_BAD_JSON", "member name with an unpaired low surrogate");
  }),
  ...jsonCheck("adv/http/any-content-coding", "a request with any content coding (br, deflate, not only gzip) gets 415 SMCP_UNSUPPORTED_MEDIA_TYPE", ["SIGN-22"], async (ctx, role) => {
    for (const coding of ["br", "deflate"]) {
      expectError(await sendText(ctx, role, txn(ctx), { "content-encoding": coding }), "SMCP_UNSUPPORTED_MEDIA_TYPE", `Content-Encoding: ${coding}`);
    }
  }),
  ...jsonCheck("adv/txn/negative-non-canonical-data", "a submission whose data holds −1e21 (beyond −(2^53−1), no canonical form) is rejected per item with SMCP_BAD_EVENT", ["EVT-19", "JCS-08"], async (ctx, role) => {
    const marker = uid(ctx, "neg1e21");
    const sub = submission(ctx, role, { data: { marker, big: -1e21 } as never });
    const r = expectOk<TransactionResult>(await sendTxn(ctx, role, { submissions: [sub] }), "TransactionResult", "submission holding -1e21", 200);
    const item = r.rejected.find((x) => x.id === sub.submission_id);
    ensure(item?.errcode === "SMCP_BAD_EVENT" && !r.processed.includes(sub.submission_id), "the submission was not rejected with SMCP_BAD_EVENT", { rejected: [{ id: sub.submission_id, errcode: "SMCP_BAD_EVENT" }] }, r);
    ensure((await withMarker(ctx, role, marker)).length === 0, "a value without a canonical form was sequenced", 0, "sequenced");
  }, "adv/participant/invited@@"),
];
