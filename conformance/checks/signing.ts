// Conformance harness: adversarial request-signing checks against each instance under test (spec §5), sent by the fake peer.
import { generateSeed, signingKeyFromSeed } from "../../protocol/keys.ts";
import { newNonce } from "../../protocol/signing.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { Ping } from "../../protocol/types.ts";
import { answerSummary, CheckFailure, ensure, expectError, expectOk, fail } from "../assert.ts";
import { ERROR_STATUS, type ErrorCode } from "../../protocol/errors.ts";
import { perTarget, target, type Check, type CheckContext, type Role } from "../context.ts";
import { known, limitsOf } from "./support/state.ts";
import { impostorKey, transaction } from "./support/requests.ts";

const PING = "/federation/v1/ping";

export const setupFakePeer = perTarget((role) => ({
  id: "adv/setup/fake-peer",
  name: `${role} maps and discovers the harness's fake peer (PUT /control/v1/hosts, POST /control/v1/peers)`,
  requirements: ["DISC-20", "CTRL-10", "CTRL-08"],
  level: "MUST",
  prerequisites: ["sc/discovery/well-known@@"],
  async run(ctx) {
    const t = target(ctx, role);
    await t.control.mapHost(ctx.fake.name, ctx.fake.url);
    const info = await t.control.discover(ctx.fake.name);
    ensure(info.key_id === ctx.fake.key.keyId, "discovered fake-peer key differs from its well-known key", ctx.fake.key.keyId, info.key_id);
  },
}));

const baseline = perTarget((role) => ({
  id: "adv/sign/baseline",
  name: `${role} accepts a correctly signed request from the fake peer (control case for every signing check)`,
  requirements: ["SIGN-01", "DISC-25", "DISC-26"],
  level: "MUST",
  prerequisites: ["adv/setup/fake-peer@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const ping = expectOk<Ping>(await ctx.fake.send(t.name, { method: "GET", path: PING }), "Ping", "signed GET /federation/v1/ping", 200);
    ensure(ping.server_name === t.name, "ping answered for another server", t.name, ping.server_name);
    const vik = ping.components.find((c) => c.name === "vikunja");
    ensure(vik?.status === "up", "ping does not report vikunja up", "vikunja up", ping.components);
    const allUp = ping.components.every((c) => c.status === "up");
    ensure(ping.status === (allUp ? "ok" : "degraded"), "ping status must be ok exactly when every component is up (§6.5)", allUp ? "ok" : "degraded", ping.status);
  },
}));

/** A signing check: prerequisite is the baseline, so that "everything is rejected" cannot pass as conformance. */
function signingCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>, level: Check["level"] = "MUST"): Check[] {
  return perTarget((role) => ({ id, name, requirements, level, prerequisites: ["adv/sign/baseline@@"], run: (ctx) => run(ctx, role) }));
}

/** Fetches of the fake peer's discovery or key document since record `since` (unsigned, so not attributable by origin). */
function keyFetches(ctx: CheckContext, since: number): number {
  return ctx.fake.records.slice(since).filter((r) => r.route === "well-known" || r.route === "keys").length;
}

/** Mutations of a valid header that break the exact grammar of spec §5.2; each must be refused with SMCP_UNAUTHORIZED. */
export const GRAMMAR_VARIANTS: Array<[string, (h: string) => string]> = [
  ["quoted values", (h) => h.replace(/=([^ ]+)/g, '="$1"')],
  ["two spaces between fields", (h) => h.replace(" destination=", "  destination=")],
  ["fields reordered", (h) => h.replace(/origin=(\S+) destination=(\S+)/, "destination=$2 origin=$1")],
  ["lower-case scheme", (h) => h.replace("SMCP-Ed25519", "smcp-ed25519")],
  ["Matrix-style scheme", (h) => h.replace("SMCP-Ed25519", "X-Matrix")],
  ["comma-separated fields", (h) => h.replace(/ (?=\w+=)/g, ",")],
  ["nonce missing", (h) => h.replace(/ nonce=\S+/, "")],
  ["extra field", (h) => `${h} foo=bar`],
  ["two values combined with a comma", (h) => `${h}, ${h}`],
  ["ts above 2^53-1", (h) => h.replace(/ts=\d+/, "ts=9007199254740992")],
  ["padded signature", (h) => `${h}==`],
  ["standard-alphabet signature", (h) => h.replace(/sig=./, "sig=+")],
  ["ts with a leading zero", (h) => h.replace(/ts=(\d+)/, "ts=0$1")],
  ["ts in seconds with a fraction", (h) => h.replace(/ts=(\d+)/, (_, ts: string) => `ts=${Number(ts) / 1000}`)],
  ["field named signature instead of sig", (h) => h.replace(" sig=", " signature=")],
  ["key_id without the ed25519: prefix", (h) => h.replace("key_id=ed25519:", "key_id=")],
  ["upper-case origin", (h) => h.replace(/origin=(\S+)/, (_, o: string) => `origin=${o.toUpperCase()}`)],
  ["signature with non-canonical trailing bits", (h) => h.replace(/(sig=\S{85})\S/, (_, p: string) => `${p}B`)],
  ["nonce of 15 bytes", (h) => h.replace(/nonce=\S+/, "nonce=AAAAAAAAAAAAAAAAAAAA")],
  // 22 characters carry 132 bits; the last 4 must be zero (strict base64url, JCS-11): "B" sets one of them.
  ["nonce with non-zero trailing bits", (h) => h.replace(/nonce=\S+/, "nonce=AAAAAAAAAAAAAAAAAAAAAB")],
];

const checks: Check[][] = [
  signingCheck("adv/sign/unsigned", "a request without X-SMCP-Authorization is refused with 401 SMCP_UNAUTHORIZED", ["SIGN-07"], async (ctx, role) => {
    const a = await ctx.fake.send(known(ctx, role).name, { method: "GET", path: PING, auth: "none" });
    expectError(a, "SMCP_UNAUTHORIZED", "unsigned ping");
  }),
  signingCheck("adv/sign/header-grammar", "headers breaking the exact grammar (quotes, spacing, order, case, extras, padding) get SMCP_UNAUTHORIZED", ["SIGN-06", "SIGN-07", "SIGN-08", "NAME-04", "JCS-11", "JCS-12"], async (ctx, role) => {
    const t = known(ctx, role);
    const wrong: string[] = [];
    for (const [what, mutate] of GRAMMAR_VARIANTS) {
      const header = mutate(ctx.fake.authHeader(t.name, { method: "GET", path: PING }));
      const a = await ctx.fake.send(t.name, { method: "GET", path: PING, auth: { header } });
      try {
        expectError(a, "SMCP_UNAUTHORIZED", what);
      } catch {
        wrong.push(`${what}: ${answerSummary(a)}`);
      }
    }
    if (wrong.length > 0) fail(`${wrong.length} of ${GRAMMAR_VARIANTS.length} malformed headers were not refused with SMCP_UNAUTHORIZED`, "401 SMCP_UNAUTHORIZED for every variant", wrong.join("\n"));
    ctx.note(`${GRAMMAR_VARIANTS.length} variants refused`);
  }),
  signingCheck("adv/sign/bad-signature", "a well-formed header whose signature does not verify gets 401 SMCP_BAD_SIGNATURE", ["SIGN-33", "KEY-22"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { key: impostorKey(ctx) } });
    expectError(a, "SMCP_BAD_SIGNATURE", "ping signed by another key");
  }),
  signingCheck("adv/sign/body-bound", "the signature covers the exact body bytes: a body changed after signing gets SMCP_BAD_SIGNATURE", ["SIGN-19", "SIGN-21", "SIGN-33"], async (ctx, role) => {
    const t = known(ctx, role);
    const sent = transaction(ctx, { heads: [] });
    const signed = Buffer.from(JSON.stringify({ ...sent, origin_ts: sent.origin_ts - 1 }), "utf8");
    const a = await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${ctx.fake.nextTxnId()}`, body: sent, sign: { body: signed } });
    expectError(a, "SMCP_BAD_SIGNATURE", "transaction with a body changed after signing");
  }),
  signingCheck("adv/sign/uri-bound", "the signature covers the request-target: another path/query gets SMCP_BAD_SIGNATURE", ["SIGN-14", "SIGN-17", "SIGN-33"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { uri: `${PING}?probe=1` } });
    expectError(a, "SMCP_BAD_SIGNATURE", "ping signed for another URI");
  }),
  signingCheck("adv/sign/method-bound", "the signature covers the method: a GET signed as POST gets SMCP_BAD_SIGNATURE", ["SIGN-13", "SIGN-33"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { method: "POST" } });
    expectError(a, "SMCP_BAD_SIGNATURE", "GET signed as POST");
  }),
  signingCheck("adv/sign/wrong-destination", "a request signed for another destination gets 401 SMCP_WRONG_DESTINATION", ["SIGN-31"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { destination: "someone-else.test" } });
    expectError(a, "SMCP_WRONG_DESTINATION", "ping for another destination");
  }),
  signingCheck("adv/sign/stale-ts", "a request whose ts is older than the skew window (+5 s) gets 401 SMCP_BAD_TIMESTAMP", ["SIGN-25"], async (ctx, role) => {
    const t = known(ctx, role);
    const ts = Date.now() - limitsOf(t).max_clock_skew_ms - 5_000;
    expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { ts } }), "SMCP_BAD_TIMESTAMP", "stale ping");
  }),
  signingCheck("adv/sign/future-ts", "a request whose ts is ahead by more than the skew window (+5 s) gets 401 SMCP_BAD_TIMESTAMP", ["SIGN-25"], async (ctx, role) => {
    const t = known(ctx, role);
    const ts = Date.now() + limitsOf(t).max_clock_skew_ms + 5_000;
    expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { ts } }), "SMCP_BAD_TIMESTAMP", "future ping");
  }),
  signingCheck("adv/sign/unknown-key", "a key ID the origin does not publish makes the instance re-fetch the origin's keys once, then answer 401 SMCP_UNKNOWN_KEY", ["SIGN-32", "KEY-09"], async (ctx, role) => {
    const t = known(ctx, role);
    const start = ctx.fake.records.length;
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { key: signingKeyFromSeed(generateSeed()) } });
    expectError(a, "SMCP_UNKNOWN_KEY", "ping under an unpublished key ID");
    const n = keyFetches(ctx, start);
    ensure(n >= 1, "the instance refused an unknown key ID without the forced re-discovery of §4.2", "a fetch of the fake peer's well-known or keys", "none");
  }),
  signingCheck("adv/keys/rediscovery-limited", "repeated unknown key IDs within 5 s cause at most one more forced re-discovery", ["KEY-10"], async (ctx, role) => {
    const t = known(ctx, role);
    const start = ctx.fake.records.length;
    for (let i = 0; i < 3; i++) {
      expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { key: signingKeyFromSeed(generateSeed()) } }), "SMCP_UNKNOWN_KEY", "repeated unknown key ID");
    }
    ensure(keyFetches(ctx, start) <= 1, "forced re-discovery not limited", "≤ 1 re-fetch", keyFetches(ctx, start));
  }, "SHOULD"),
  signingCheck("adv/sign/replay", "an identical signed request sent twice: the first is served, the second gets 401 SMCP_REPLAY", ["SIGN-38"], async (ctx, role) => {
    const t = known(ctx, role);
    const header = ctx.fake.authHeader(t.name, { method: "GET", path: PING, sign: { nonce: newNonce() } });
    expectOk(await ctx.fake.send(t.name, { method: "GET", path: PING, auth: { header } }), "Ping", "first ping", 200);
    expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, auth: { header } }), "SMCP_REPLAY", "replayed ping");
  }),
  signingCheck("adv/sign/nonce-not-burned", "a nonce used by a request that failed signature verification is still accepted on a valid request", ["SIGN-39"], async (ctx, role) => {
    const t = known(ctx, role);
    const nonce = newNonce();
    expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { key: impostorKey(ctx), nonce } }), "SMCP_BAD_SIGNATURE", "badly signed ping");
    expectOk(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { nonce } }), "Ping", "valid ping reusing the refused request's nonce", 200);
  }),
  signingCheck("adv/sign/origin-mismatch", "a body whose origin is not the signer gets 403 SMCP_ORIGIN_MISMATCH", ["SIGN-35"], async (ctx, role) => {
    const t = known(ctx, role);
    const body = { ...transaction(ctx, { heads: [] }), origin: "eve.test" };
    const a = await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${ctx.fake.nextTxnId()}`, body });
    expectError(a, "SMCP_ORIGIN_MISMATCH", "transaction claiming origin eve.test");
  }),
  signingCheck("adv/sign/check-order", "a request failing several checks gets the error of the first in the §5.6 table order", ["SIGN-28"], async (ctx, role) => {
    const t = known(ctx, role);
    const stale = (): number => Date.now() - limitsOf(t).max_clock_skew_ms - 5_000;
    const txnPath = (): string => `/federation/v1/send/${ctx.fake.nextTxnId()}`;
    const cases: Array<[string, () => Promise<HttpAnswer>, ErrorCode]> = [
      ["unknown path, unsigned (1 before 3)", () => ctx.fake.send(t.name, { method: "GET", path: "/federation/v1/no-such-endpoint", auth: "none" }), "SMCP_NOT_FOUND"],
      ["wrong destination, stale ts, foreign key (4 before 5, 7)", () => ctx.fake.send(t.name, { method: "GET", path: PING, sign: { destination: "someone-else.test", ts: stale(), key: impostorKey(ctx) } }), "SMCP_WRONG_DESTINATION"],
      ["wrong destination, unpublished key ID (4 before 6)", () => ctx.fake.send(t.name, { method: "GET", path: PING, sign: { destination: "someone-else.test", key: signingKeyFromSeed(generateSeed()) } }), "SMCP_WRONG_DESTINATION"],
      ["stale ts, bad signature (5 before 7)", () => ctx.fake.send(t.name, { method: "GET", path: PING, sign: { ts: stale(), key: impostorKey(ctx) } }), "SMCP_BAD_TIMESTAMP"],
      ["bad signature, body not JSON (7 before 9)", () => ctx.fake.send(t.name, { method: "PUT", path: txnPath(), rawBody: Buffer.from("{not json"), sign: { key: impostorKey(ctx) } }), "SMCP_BAD_SIGNATURE"],
      ["bad signature, body origin mismatch (7 before 10)", () => ctx.fake.send(t.name, { method: "PUT", path: txnPath(), body: { ...transaction(ctx, { heads: [] }), origin: "eve.test" }, sign: { key: impostorKey(ctx) } }), "SMCP_BAD_SIGNATURE"],
    ];
    const wrong: string[] = [];
    for (const [what, send, errcode] of cases) {
      const a = await send();
      try {
        expectError(a, errcode, what);
      } catch {
        wrong.push(`${what}: expected ${ERROR_STATUS[errcode]} ${errcode}, got ${answerSummary(a)}`);
      }
    }
    // 8 before 9: a correctly signed request that reuses a recorded nonce is a replay whatever its body.
    const nonce = newNonce();
    expectOk(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { nonce } }), "Ping", "ping recording the nonce", 200);
    const replay = await ctx.fake.send(t.name, { method: "PUT", path: txnPath(), rawBody: Buffer.from("{not json"), sign: { nonce } });
    try {
      expectError(replay, "SMCP_REPLAY", "replayed nonce, body not JSON");
    } catch {
      wrong.push(`replayed nonce, body not JSON (8 before 9): expected 401 SMCP_REPLAY, got ${answerSummary(replay)}`);
    }
    if (wrong.length > 0) fail(`${wrong.length} requests got the error of a later check`, "the first failing check's error", wrong.join("\n"));
  }),
  signingCheck("adv/sign/own-origin", "a request signed in the receiver's own name (under its own key ID) gets 401 SMCP_UNKNOWN_KEY", ["SIGN-43"], async (ctx, role) => {
    const t = known(ctx, role);
    // Naming the receiver's real key ID separates the rule from an ordinary key lookup, which would end in SMCP_BAD_SIGNATURE.
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { origin: t.name, key: { ...impostorKey(ctx), keyId: t.key.keyId } } });
    expectError(a, "SMCP_UNKNOWN_KEY", "ping in the receiver's own name");
  }),
  signingCheck("adv/sign/destination-byte-exact", "a destination naming the receiver with an explicit :443 port is another server: 401 SMCP_WRONG_DESTINATION", ["NAME-03", "SIGN-31"], async (ctx, role) => {
    const t = known(ctx, role);
    if (/:\d+$/.test(t.name)) throw new CheckFailure(`${t.name} already carries a port; the check needs a port-less server name`, undefined, undefined, "harness-error");
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { destination: `${t.name}:443` } });
    expectError(a, "SMCP_WRONG_DESTINATION", `ping for ${t.name}:443`);
  }),
  signingCheck("adv/sign/s-not-reduced", "a signature whose S is replaced by S + L (same value mod L) gets 401 SMCP_BAD_SIGNATURE", ["KEY-21", "SIGN-33"], async (ctx, role) => {
    const t = known(ctx, role);
    const a = await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { sig: (correct) => Buffer.concat([correct.subarray(0, 32), addL(correct.subarray(32))]) } });
    expectError(a, "SMCP_BAD_SIGNATURE", "ping whose signature has S + L");
  }),
];

export const signingChecks: Check[] = [...setupFakePeer, ...baseline, ...checks.flat()];

/** The group order L of Ed25519 (RFC 8032). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** S + L as 32 little-endian bytes: the malleated twin of a valid S, which a verifier must refuse (S < L). */
function addL(s: Buffer): Buffer {
  let n = 0n;
  for (let i = 31; i >= 0; i--) n = (n << 8n) | BigInt(s[i]!);
  n += L;
  const out = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  if (n >> 256n) throw new Error("S + L does not fit 32 bytes");
  return out;
}
