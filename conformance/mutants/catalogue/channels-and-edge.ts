// Mutation testing of the conformance harness: mutants of Naomi (channels, transactions, delivery), the HTTP edge,
// Paulina (discovery, the sender) and request authentication (spec §5.5–§5.8, §6.3, §7, §8, §9, §12.3). Written
// against the code before the Naomi split and the edge hardening, re-targeted after those merges: same bug, same
// requirement, new file and find.
import type { Mutant } from "../mutant.ts";

const AUTH = "protocol/request-auth.ts";
const EDGE = "reference-impl/http/server.ts";
const DISCOVERY = "reference-impl/paulina/discovery.ts";
const SENDER = "reference-impl/paulina/sender.ts";
const TXNS = "reference-impl/naomi/transactions.ts";
const RECEIVER = "reference-impl/naomi/receiver.ts";
const AUTHENTICATE = "reference-impl/naomi/authenticate.ts";
const SEQUENCER = "reference-impl/naomi/sequencer.ts";
const HUB_LOG = "reference-impl/naomi/hub-log.ts";
const MEMBERSHIP = "reference-impl/naomi/membership.ts";
const INVITES = "reference-impl/naomi/invites.ts";
const WAITERS = "reference-impl/naomi/waiters.ts";
const OUTBOUND = "reference-impl/naomi/outbound.ts";

export const CHANNEL_AND_EDGE_MUTANTS: Mutant[] = [
  // §5.5 window, §5.6 order of checks, §5.8 replay cache
  { id: "window/whole-seconds", file: AUTH, find: "if (Math.abs(now - auth.ts) > ctx.maxSkewMs) {",
    replace: "if (Math.floor(Math.abs(now - auth.ts) / 1000) > ctx.maxSkewMs / 1000) {",
    requirements: ["SIGN-25"], section: "§5.5", why: "the window is compared in whole seconds: a ts up to 999 ms beyond it is accepted" },
  { id: "window/future-unbounded", file: AUTH, find: "if (Math.abs(now - auth.ts) > ctx.maxSkewMs) {", replace: "if (now - auth.ts > ctx.maxSkewMs) {",
    requirements: ["SIGN-25"], section: "§5.5", why: "only stale timestamps are refused; any future ts is accepted" },
  { id: "replay/kept-one-second", file: AUTH, find: "auth.ts + ctx.maxSkewMs * 2, now", replace: "now + 1_000, now",
    requirements: ["SIGN-40"], section: "§5.8", why: "nonces are kept one second after receipt instead of until ts + 2W" },
  { id: "replay/nonce-burned-by-bad-signature", file: AUTH, find: "if (!verifyRequestSignature(key, auth, parts)) {",
    replace: "if (!verifyRequestSignature(key, auth, parts) && ctx.replay.add(auth.origin, auth.nonce, auth.ts + ctx.maxSkewMs * 2, now) !== \"replay\") {",
    requirements: ["SIGN-39"], section: "§5.8", why: "the nonce is recorded before the signature is known to verify, so a forged request burns a real one" },
  { id: "replay/nonce-not-per-origin", file: AUTH, find: "ctx.replay.add(auth.origin, auth.nonce,", replace: "ctx.replay.add(\"*\", auth.nonce,",
    requirements: ["SIGN-38"], section: "§5.8", why: "nonces are remembered without their origin: one peer's nonce blocks another's" },
  { id: "sign/destination-after-key", file: AUTH, find: "  if (auth.destination !== ctx.self) {", replace: "  if (auth.destination !== ctx.self && (await ctx.lookupKey(auth.origin, auth.keyId))) {",
    requirements: ["SIGN-28", "SIGN-31"], section: "§5.6", why: "the key is looked up before the destination is checked, so a wrong destination from an unknown origin is SMCP_UNKNOWN_KEY" },

  // HTTP edge (§2.3, §5.4, §5.6, §12.1)
  { id: "edge/origin-not-checked", file: EDGE, find: "      assertBodyOrigin(ctx.auth, ctx.body);\n", replace: "",
    requirements: ["SIGN-35"], section: "§5.6", why: "the body's origin is never compared with the signer" },
  { id: "edge/gzip-only-refused", file: EDGE, find: 'if (coding !== "identity") throw', replace: 'if (coding === "gzip") throw',
    requirements: ["SIGN-22"], section: "§5.4", why: "only gzip is refused; other content codings are read as identity" },
  { id: "edge/query-number-lenient", file: EDGE, find: "const n = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : NaN;", replace: "const n = Number(text);",
    requirements: ["SIGN-44"], section: "§5.6", why: "integer query parameters are parsed with Number(): 1e2, 0x10 and ' 5' are accepted" },
  { id: "edge/path-decoded-twice", file: EDGE, find: "params[name] = decodeSegment(params[name]!);", replace: "params[name] = decodeSegment(decodeSegment(params[name]!));",
    requirements: ["NAME-13"], section: "§2.3", why: "path segments are percent-decoded twice" },
  { id: "edge/token-without-bearer", file: EDGE, find: 'const given = sha256(header.startsWith("Bearer ") ? header.slice(7) : "");\n    if (!header.startsWith("Bearer ") || !timingSafeEqual(',
    replace: 'const given = sha256(header.replace(/^Bearer /i, ""));\n    if (!timingSafeEqual(',
    requirements: ["CTRL-01"], section: "§12.1", why: "the control token is accepted without the Bearer scheme" },
  { id: "edge/control-not-loopback-only", file: EDGE, find: 'if (!isLoopbackAddress(remote)) throw new SmcpError("SMCP_FORBIDDEN", "the control API answers loopback callers only");',
    replace: "// any address may use the control API",
    requirements: ["CTRL-03"], section: "§12.1", why: "the Control API answers callers from any address" },

  // §6.3 discovery, §4.2 key lookup, §5.7 the sender's 429 hold
  { id: "disc/six-redirects", file: DISCOVERY, find: "if (hop + 1 > MAX_REDIRECTS || seen.has(url))", replace: "if (hop > MAX_REDIRECTS || seen.has(url))",
    requirements: ["DISC-15"], section: "§6.3", why: "off by one: six redirects are followed" },
  { id: "disc/name-not-checked", file: DISCOVERY, find: "if (doc.server_name !== serverName) throw", replace: "if (doc.server_name === undefined) throw",
    requirements: ["DISC-07"], section: "§6.1", why: "a discovery document naming another server is trusted" },
  { id: "disc/key-id-not-derived", file: DISCOVERY, find: "if (!raw || keyIdFor(raw) !== doc.key_id) throw", replace: "if (!raw) throw",
    requirements: ["KEY-07"], section: "§4.2", why: "the discovered key_id is not checked against its public key" },
  { id: "disc/no-forced-rediscovery", file: DISCOVERY, find: "const peer = await this.fetchCached(origin, true);", replace: "const peer = await this.fetchCached(origin, false);",
    requirements: ["KEY-09"], section: "§4.2", why: "an unknown key_id is answered from the cached discovery, never re-fetched" },
  { id: "disc/rediscovery-unlimited", file: DISCOVERY, find: "if (refresh && now - (this.lastKeyRefresh.get(origin) ?? 0) <= KEY_REFRESH_INTERVAL_MS) return null;", replace: "// every unknown key_id re-fetches",
    requirements: ["KEY-10"], section: "§4.2", why: "every unknown key_id forces a re-discovery (an amplification lever)" },
  { id: "disc/failure-not-cached", file: DISCOVERY, find: "if (failure && failure.until > now) return Promise.reject(failure.error);", replace: "// always retry",
    requirements: ["DISC-17"], section: "§6.3", why: "failed discoveries are not cached: every request from an unreachable origin fetches again" },
  { id: "disc/no-default-ttl", file: DISCOVERY, find: "if (!m) return DEFAULT_TTL_MS;", replace: "if (!m) return 0;",
    requirements: ["DISC-16"], section: "§6.3", why: "without max-age the document is not cached at all (default 24 h)" },
  { id: "disc/remap-keeps-failure", file: DISCOVERY, find: "this.candidates.delete(serverName);\n    this.failures.delete(serverName);", replace: "this.candidates.delete(serverName);",
    requirements: ["DISC-23"], section: "§6.4", why: "a new host mapping keeps the cached discovery failure" },
  { id: "disc/http-endpoint-accepted", file: DISCOVERY, find: "checkScheme(doc.endpoint, `endpoint of ${serverName}`);", replace: "// endpoint scheme not checked",
    requirements: ["DISC-14"], section: "§6.3", why: "a plain-http endpoint on a remote host is accepted" },
  { id: "disc/any-version", file: DISCOVERY, find: "if (!doc.versions.some((v) => /^1\\.[0-9]+$/.test(v)))", replace: "if (doc.versions.length === 0)",
    requirements: ["VER-08"], section: "§14", why: "a peer with no 1.x version is discovered anyway" },
  { id: "disc/any-2xx", file: DISCOVERY, find: "if (answer.status !== 200) throw unreachable(serverName, `discovery answered ${answer.status}`);",
    replace: "if (answer.status >= 300) throw unreachable(serverName, `discovery answered ${answer.status}`);",
    requirements: ["DISC-18"], section: "§6.3", why: "any 2xx discovery answer is accepted" },
  { id: "rate/sender-ignores-429", file: SENDER, find: "if (answer.status === 429) this.heldUntil.set(", replace: "if (answer.status === 0) this.heldUntil.set(",
    requirements: ["RATE-07"], section: "§5.7", why: "only the transaction queue backs off after a 429; pings, backfills and calls go on" },

  // §8 transactions (participant and hub side)
  { id: "txn/items-count-events-only", file: TXNS, find: "const items = (txn.events?.length ?? 0) + (txn.submissions?.length ?? 0);",
    replace: "const items = txn.events?.length ?? 0;",
    requirements: ["TXN-05"], section: "§8.2", why: "max_txn_items counts the events only" },
  { id: "txn/items-count-submissions-only", file: TXNS, find: "const items = (txn.events?.length ?? 0) + (txn.submissions?.length ?? 0);",
    replace: "const items = txn.submissions?.length ?? 0;",
    requirements: ["TXN-05"], section: "§8.2", why: "max_txn_items counts the submissions only" },
  { id: "txn/limit-before-idempotency", file: TXNS, find: "    const stored = store.txnResult(origin, txnId);\n    if (stored) return sameOrConflict(stored, bodySha256, txnId);",
    replace: "",
    requirements: ["TXN-37"], section: "§8.4", why: "the item limit is checked before the stored result is looked up" },
  { id: "txn/conflict-not-detected", file: TXNS, find: "if (stored.body_sha256 !== bodySha256) throw", replace: "if (false) throw",
    requirements: ["TXN-17"], section: "§8.4", why: "a reused txn_id with other bytes gets the stored result" },
  { id: "txn/result-not-stored", file: TXNS, find: "store.putTxnResult(origin, txnId, bodySha256, out, now());", replace: "// items are idempotent anyway",
    requirements: ["TXN-16", "TXN-17"], section: "§8.4", why: "transaction results are not stored; idempotency is left to the items" },
  { id: "txn/changed-redelivery-accepted", file: RECEIVER, find: "if (existing?.event_id === event.event_id && auth.idProblem(event) === null) return null;",
    replace: "if (existing?.event_id === event.event_id) return null;",
    requirements: ["TXN-27", "TXN-23", "EVT-15"], section: "§8.5", why: "a re-delivered event is matched by its event_id only: changed content under a held ID is processed" },
  { id: "txn/events-from-non-hub", file: RECEIVER, find: 'if (row.role !== "participant" || row.hub !== origin) return rejection(event, "SMCP_NOT_HUB"',
    replace: 'if (row.role !== "participant") return rejection(event, "SMCP_NOT_HUB"',
    requirements: ["TXN-27"], section: "§8.5", why: "events are accepted from any origin, not only the channel's hub" },
  { id: "txn/sender-not-checked", file: TXNS, find: "if (sub.sender !== origin) return reject(", replace: "if (sub.sender === undefined) return reject(",
    requirements: ["TXN-09"], section: "§8.3", why: "a submission's sender is not compared with the transaction's signer" },
  { id: "txn/origin-ts-replaced", file: TXNS, find: "this.opts.sequencer.sequence(sub.channel, sub.type, origin, sub.origin_ts, sub.data, effects, signed, checked.text)",
    replace: "this.opts.sequencer.sequence(sub.channel, sub.type, origin, this.opts.now(), sub.data, effects, signed, checked.text)",
    requirements: ["EVT-11", "DLV-30"], section: "§7.2", why: "the hub stamps its own time as origin_ts instead of copying the submission's" },

  // §7.4 authentication of events inside one batch, §9 channels, removal and delivery
  { id: "chain/one-verified-trusts-batch", file: AUTHENTICATE, find: "problem: (event) => idProblems.get(event) ?? (authentic.has(event.event_id)",
    replace: "problem: (event) => idProblems.get(event) ?? (authentic.size > 0",
    requirements: ["EVT-18"], section: "§7.4", why: "once one event of a batch verifies, every other event in it is trusted, linked to it or not" },
  { id: "chain/prev-link-unchecked", file: RECEIVER, find: "if (prevId !== undefined && prevId !== event.prev_event) return", replace: "if (false) return",
    requirements: ["EVT-10", "DLV-23"], section: "§7.2", why: "an event's prev_event is not compared with the held event before it" },
  { id: "removal/leave-not-delivered", file: SEQUENCER, find: "const recipients = new Set(log.membersOf(channel));", replace: "const recipients = new Set<string>();",
    requirements: ["CHAN-18", "DLV-01"], section: "§9.5", why: "events go to the members after the event is applied, so the removed server never gets its leave" },
  { id: "removal/removed-may-submit", file: TXNS, find: "if (store.member(sub.channel, origin)?.left_seq !== null) return reject(",
    replace: "if (!store.member(sub.channel, origin)) return reject(",
    requirements: ["CHAN-19", "TXN-11"], section: "§9.5", why: "membership is checked as ever-joined, so a removed server may still submit" },
  { id: "removal/backfill-beyond-leave", file: HUB_LOG, find: "const upTo = member.left_seq ?? row.local_seq;", replace: "const upTo = row.local_seq;",
    requirements: ["DLV-20"], section: "§9.4", why: "a removed server is served backfill beyond its leave event" },
  { id: "removal/own-leave-ignored", file: MEMBERSHIP, find: "if (server === this.self) this.setJoined(event.channel, false, row);", replace: "// still joined",
    requirements: ["CHAN-20"], section: "§9.5", why: "the instance does not notice its own removal and keeps accepting the channel's events" },
  { id: "invite/hub-not-checked", file: INVITES, find: "if (!parsed || parsed.hub !== origin || invite.inviter !== origin) {", replace: "if (!parsed || invite.inviter !== origin) {",
    requirements: ["CHAN-07"], section: "§9.1", why: "an invite is accepted from an origin that does not hub the channel" },
  { id: "invite/member-invited-again", file: INVITES, find: "if (store.member(channel, server)?.left_seq === null) return { channel, server, accepted: true };",
    replace: "// always ask",
    requirements: ["CTRL-32"], section: "§12.3", why: "a current member is sent the invite again" },
  { id: "dlv/read-past-gap", file: WAITERS, find: "events: this.store.events(channel, after, localSeq, limit), local_seq: localSeq",
    replace: "events: this.store.events(channel, after, channelRow(this.store, channel).known_seq, limit), local_seq: localSeq",
    requirements: ["CTRL-23"], section: "§12.3", why: "GET events lists the events held beyond a gap" },
  { id: "dlv/no-heads", file: OUTBOUND, find: "const heads = this.opts.log.headsFor(destination).slice(0, 1000);", replace: "const heads = this.opts.log.headsFor(destination).slice(0, 0);",
    requirements: ["DLV-09"], section: "§9.3", why: "transactions carry no signed heads" },
  { id: "dlv/retry-rebuilt", file: OUTBOUND, find: "st.current ??= this.build(destination, st);", replace: "st.current = this.build(destination, st);",
    requirements: ["TXN-21"], section: "§8.4", why: "a retry is rebuilt as a new transaction with a new txn_id" },
  { id: "dlv/backoff-linear", file: OUTBOUND, find: "const backoff = backoffDelay(st.failures, { baseMs: this.opts.backoffBaseMs, maxMs: this.opts.backoffMaxMs }, this.opts.random);", replace: "const backoff = this.opts.backoffBaseMs * Math.min(st.failures - 1, 20);",
    requirements: ["TXN-31"], section: "§8.6", why: "the back-off starts at 0 ms and grows linearly" },
  { id: "dlv/retry-every-4xx", file: OUTBOUND, find: "return status >= 500 || status === 401 || status === 429 || status === 408;", replace: "return status >= 400;",
    requirements: ["TXN-30", "TXN-38"], section: "§8.6", why: "every 4xx answer is retried" },
];
