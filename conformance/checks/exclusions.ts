// Conformance harness: requirements of spec/requirements.json that no check cites, each with the reason one black-box
// run cannot observe it (like the MCP conformance suite: every requirement is tested or excluded with a reason).
import type { Requirement } from "./requirements.ts";

/** Why a requirement is not checked; the kind groups the console and README tables. */
export interface Exclusion {
  kind: ExclusionKind;
  reason: string;
}

export type ExclusionKind =
  | "sender-internal"
  | "durability"
  | "retention"
  | "scale"
  | "timing"
  | "environment"
  | "schema"
  | "optional"
  | "meta"
  | "not-yet-automated";

/** One line per kind: what the whole group has in common (printed by `list --coverage`). */
export const KIND_TEXT: Record<ExclusionKind, string> = {
  "sender-internal": "how an instance builds what it sends to third parties, or its internal state; the harness sees only what reaches it",
  durability: "needs a restart at a moment the durability phase cannot reach, or a storage fault (the phase itself restarts every instance the harness can: dur/*)",
  retention: "a 24 h (or longer) retention period; one run lasts seconds",
  scale: "needs a volume (10 000 queued events, a full replay cache) far beyond the 30 s budget",
  timing: "periodic or timeout behaviour of 30 s or more, or clock discipline; observing it would exceed the run's budget",
  environment: "needs a network position, partition or component failure the loopback harness cannot create",
  schema: "enforced by the generated JSON Schemas the harness applies to every message it sends or receives; no separate check",
  optional: "MAY/SHOULD behaviour left to local policy; no answer is wrong",
  meta: "a rule about the specification, future versions or operators, not about one instance's behaviour",
  "not-yet-automated": "observable over the wire, but no check is written yet; the reason names what the check needs",
};

const x = (kind: ExclusionKind, reason: string): Exclusion => ({ kind, reason });

export const EXCLUSIONS: Record<string, Exclusion> = {
  // §2 names
  "NAME-01": x("schema", "ServerName grammar: every server name in every message is validated against the ServerName schema"),
  "NAME-02": x("schema", "the port part of ServerName is part of the same schema pattern"),
  "NAME-06": x("schema", "ComponentName grammar is validated in every discovery document, ping and registry listing"),
  "NAME-07": x("schema", "ComponentUri grammar is validated in every call, result and registry listing"),
  "NAME-08": x("schema", "component URIs that differ only in normalisable ways are invalid ComponentUri and fail schema validation before any comparison"),
  "NAME-09": x("sender-internal", "a configuration rule on the instance's own component names; the conformance profile fixes its only MCP component (vikunja)"),
  "NAME-15": x("schema", "IdempotencyKey grammar: txn IDs in paths and submission and call IDs in bodies are validated against the schemas in every message the harness sends or receives"),
  "NAME-16": x("meta", "a rule on the schemas' own patterns (checked in npm test by the fixtures' trailing-newline invalid examples and spec:check) and on validators; the harness matches ECMA-262 patterns against whole strings"),
  // §3 canonical JSON, base64url, signatures
  "JCS-09": x("optional", "advice to applications on the numbers they put in data and params"),
  "JCS-10": x("schema", "every base64url field (nonces, keys, hashes, signatures, event IDs) is validated against its unpadded-alphabet pattern"),
  "JCS-16": x("sender-internal", "the §4.4 rule set is checked member by member (KEY-19, adv/sign malleability checks); the blanket rule itself adds nothing observable"),
  // §4 keys
  "KEY-27": x("sender-internal", "which file holds the private key is not observable: the harness does not know the seed to look for; the files' modes are checked (KEY-26, adv/keys/private-files)"),
  "KEY-17": x("schema", "the header grammar and the schemas fix keys at 43 and signatures at 86 base64url characters, so other lengths are refused as malformed first (adv/sign/header-grammar)"),
  "KEY-18": x("sender-internal", "only points with y < 19 have non-canonical encodings, and those are small-order or off-curve: covered by adv/keys/small-order-key"),
  "KEY-20": x("sender-internal", "a signer cannot choose R; a non-canonical R that would otherwise verify cannot be built, so any refusal is indistinguishable from a bad signature"),
  "KEY-05": x("sender-internal", "non-disclosure of a secret cannot be proven by probing; the harness sees no private key in any answer it validates"),
  "KEY-08": x("optional", "applies only to receivers that also fetch key documents, which is optional (§4.2)"),
  "KEY-11": x("optional", "applies only to keys learnt from key documents, which receivers need not fetch; the harness's valid_until_ts is days ahead"),
  "KEY-16": x("optional", "applies only to receivers that fetch and verify key documents (optional, §4.2)"),
  // §5 signing
  "SIGN-15": x("sender-internal", "the request-target form is chosen by the sender's HTTP client; the fake peer verifies the signature over whatever target it receives and does not tell the forms apart"),
  "SIGN-18": x("meta", "a duty of operators deploying reverse proxies"),
  "SIGN-27": x("timing", "clock discipline (NTP) of the host; only the resulting ts window is observable (SIGN-24)"),
  "RATE-08": x("sender-internal", "requires driving one instance to send more than a peer's advertised rate; the run's traffic is far below it"),
  "RATE-09": x("scale", "per-address limiting of unauthenticated traffic needs a burst from one address that would also throttle the harness's other checks"),
  "SIGN-41": x("scale", "filling the replay cache takes more requests than the run's budget allows"),
  "DISC-28": x("optional", "a fetcher MAY cache for 1 s"),
  "SIGN-48": x("scale", "a 429 for a full replay cache needs the cache (or one origin's share) filled first: tens of thousands of requests (SIGN-41, SIGN-49)"),
  "SIGN-49": x("scale", "filling one origin's share (reference: 32 768 pairs) takes more requests than the run's budget and the origin's rate limit allow"),
  "RATE-10": x("not-yet-automated", "needs two server names signing under one key, or several keys behind one address, each bursting past rate_burst; the fake peer's second identity (issue 11) makes the first half possible"),
  "RATE-11": x("scale", "holding more connections than the per-address bound (reference: 128) from the harness's only address would also cut off the harness's own connections mid-run"),
  "RATE-12": x("timing", "header and body deadlines of 10 s and 30 s (reference); observing either exceeds the run's budget"),
  "RATE-14": x("sender-internal", "the instance's log lines are not part of its interface; the harness sees only answers"),
  // §6 discovery
  "DISC-11": x("scale", "needs a peer with limits small enough to force splitting; the fake peer's records flag oversized transactions (TXN-06) when they happen"),
  "DISC-12": x("environment", "needs a slow or oversized discovery server; a 10 s fetch timeout would exceed the run's budget"),
  "DISC-19": x("sender-internal", "needs a peer that changes its key under the same name and address (v1 has no rotation, KEY-04); the fake peer cannot change its key in place, and remapping would trigger DISC-23 instead"),
  "DISC-24": x("sender-internal", "signatures and destinations the instance sends to the fake peer already name the server, not the URL (adv/final); other mapped peers are not observable"),
  "DISC-27": x("timing", "periodic pings every 30 s"),
  "DISC-31": x("not-yet-automated", "the size half needs a harness discovery server for a mapped name that streams an endless document and counts the bytes taken before the instance cuts it off; the total-deadline half is timing (10 s)"),
  "REG-10": x("scale", "the bound is 1 024 recorded peers (reference), each needing a verified request from its own mapped name"),
  // §7 events
  // §8 transactions
  "TXN-36": x("sender-internal", "the order of heads vs. events inside one transaction only changes the evidence kept (DLV-15), which no endpoint exposes"),
  "TXN-06": x("scale", "splitting needs more queued items than a destination's max_txn_items; the fake peer's records flag any transaction over its limits"),
  "TXN-18": x("retention", "24 h retention of transaction results; that they survive a restart is dur/txn/results-kept (TXN-16)"),
  "TXN-32": x("timing", "back-off reset is only visible as the absence of a delay after a later failure; measuring it needs several back-off cycles"),
  // §9 channels and delivery
  "CHAN-02": x("sender-internal", "membership is derived internally; its effects are checked by invite, removal and member-call checks"),
  "CHAN-10": x("optional", "declining is local policy; the conformance profile requires accepting every authenticated invite (CONF-10)"),
  "CHAN-27": x("not-yet-automated", "observable: one fake hub's invites beyond the bound come back accepted: false and leave no channel; tests/invite-flood.test.ts counts them against the reference (100 of 5 000 per hub, 1 000 in all)"),
  "EVT-30": x("not-yet-automated", "observable: a 1.1 hub names a sender the target cannot discover, and the event must still be taken; needs an unmapped sender name that fails fast (reference: reference-impl/naomi/sender-check.test.ts, tests/hostile-input.test.ts)"),
  "EVT-31": x("not-yet-automated", "observable: one transaction naming 65 distinct senders; needs 65 fake identities mapped into the target"),
  "VER-13": x("durability", "the versions a peer listed must survive a restart; the durability phase restarts instances but no 1.1 peer is cached across it yet (reference: migration v4 keeps peers.versions; tests/protocol-1.1.test.ts restarts one and compares)"),
  "CHAN-28": x("optional", "the default participation bounds are a SHOULD; an instance may choose others"),
  "DLV-36": x("timing", "the back-off after a failed backfill starts at 30 s and doubles; tests/invite-flood.test.ts checks it against the reference with shortened periods"),
  "DLV-37": x("timing", "ten consecutive failures span hours of back-off; tests/invite-flood.test.ts counts exactly ten requests per round against the reference with shortened periods"),
  "CHAN-26": x("optional", "the default invite policy outside the conformance profile; under test an instance runs the profile, which accepts every authenticated invite (CONF-10)"),
  "CHAN-15": x("optional", "re-inviting is the hub's choice"),
  "DLV-04": x("scale", "the bound is 10 000 queued events for one destination"),
  "DLV-05": x("scale", "needs a suspended destination (DLV-04)"),
  "DLV-11": x("sender-internal", "retries resend identical bytes (TXN-21), heads included, so a head's hub_ts legitimately lags its delivery; the signing moment is not observable"),
  "DLV-32": x("optional", "a participant MAY wait up to 1 s before backfilling"),
  "DLV-14": x("timing", "30 s of hub silence"),
  "DLV-15": x("sender-internal", "evidence is kept internally; no endpoint (federation or control) exposes it"),
  "DLV-25": x("sender-internal", "evidence retention is internal; the control API exposes no evidence list"),
  "DLV-26": x("optional", "a log entry for the operator"),
  "DLV-27": x("optional", "a participant MAY stop following an equivocating hub"),
  "DLV-28": x("environment", "needs a partition between a participant and its hub (a network fault between two instances)"),
  "DLV-29": x("environment", "needs a network partition between the two instances under test"),
  "DLV-30": x("environment", "needs a network partition that heals"),
  "DLV-31": x("environment", "needs a network partition that heals"),
  "CHAN-24": x("sender-internal", "a log line or metric for the hub's operator; a participant that lost its state needs a wiped store mid-run as well"),
  // §10 calls
  "CALL-01": x("sender-internal", "the fake peer accepts no calls (it offers no tools), so call IDs chosen by an instance are only seen by the other instance"),
  "CALL-02": x("sender-internal", "v1 has no routing: the harness sees no other path a call could take"),
  "CALL-06": x("environment", "needs the vikunja component to be down, which the conformance profile cannot command"),
  "CALL-13": x("environment", "needs a call that fails after the tool started (502/504), which the conformance profile's tools do not produce"),
  "CALL-23": x("durability", "the durability phase kills instances between calls (dur/calls/outcome-kept); a kill inside a running tool needs a tool still running at the kill, and the profile's vikunja tools answer at once"),
  "CALL-24": x("environment", "needs a component whose tool list cannot be obtained (not started)"),
  // §10.6 forwarded calls (1.1); the fwd/* checks cite the rest
  "FWD-01": x("sender-internal", "whom an instance sends 1.1 requests to is its own decision; the harness's fake peers all speak 1.1 when they take forwarded calls, and a 1.0 fake would only see a request it must not get (reference: reference-impl/roshumba/forward-origin.test.ts)"),
  "FWD-03": x("sender-internal", "where the origin got the destination's key is not observable; fwd/origin/result-authenticated shows it refuses a result signed with another key"),
  "FWD-06": x("optional", "a hop MAY retry once; tests/forwarding.test.ts counts the reference's retries behind a fault proxy"),
  "FWD-10": x("sender-internal", "the order of discovery against the F1–F5 checks is internal; the fake's discoveries are mapped names, so no fetch is observable"),
  "FWD-13": x("environment", "the conformance configuration consents to everything (FWD-37), so a refusal cannot be provoked; tests/forwarding.test.ts checks the reference's default"),
  "FWD-14": x("scale", "needs the envelope origin's bucket drained (400 requests at the default limit) while a neighbour's is full; tests/forwarding.test.ts counts it with a small bucket"),
  "FWD-15": x("scale", "needs 8 (per origin) to 64 forwarded calls in flight at once through one intermediate, each held by a slow destination"),
  "FWD-17": x("environment", "needs a next hop whose answers are lost after the request arrived; tests/forwarding.test.ts counts two requests per hop behind a fault proxy"),
  "FWD-24": x("environment", "needs a tool failure or protocol failure at the destination beyond those fwd/dest/* provoke; every error they provoke carries hop (FWD-30)"),
  "FWD-27": x("environment", "needs the destination unreachable from the origin while reachable from an intermediate, which the two-instance harness cannot arrange; tests/forwarding.test.ts does it with three instances and a resolver"),
  "FWD-31": x("schema", "Error.hop is in the Error schema every error body is validated against"),
  "FWD-32": x("environment", "needs a 1.0 instance as a hop between two 1.1 instances"),
  "FWD-33": x("environment", "the registry listing's forwards_to depends on the operator's consent, which the conformance configuration sets to everything (FWD-37) and does not list by name"),
  "FWD-34": x("sender-internal", "where the origin learnt a route is internal; tests/forwarding.test.ts shows the reference learns it from a signed listing"),
  "FWD-35": x("optional", "SHOULD-level bound on listings fetched per call; tests/forwarding.test.ts counts at most 4"),

  "CALL-14": x("retention", "24 h retention of call outcomes; that they survive a restart is dur/calls/outcome-kept (CALL-10)"),
  "CALL-15": x("sender-internal", "retries of calls happen between the two instances under test"),
  "CALL-16": x("timing", "the conformance profile's tools answer at once; a 30 s timeout cannot be reached"),
  "CALL-17": x("timing", "needs a tool slower than T; the conformance profile has none"),
  "CALL-18": x("optional", "late results MAY become the outcome"),
  "CALL-19": x("timing", "caller waits T + 5 s; needs a tool slower than T"),
  // §11 registry
  "REG-03": x("durability", "a SHOULD: the durability phase maps hosts again right after each restart so that no MUST-level check rests on it, and §12 has no read of the host map to observe it before that"),
  "REG-04": x("sender-internal", "which component reaches peers through which code path is internal"),
  // §12 control API
  "CTRL-02": x("timing", "constant-time comparison cannot be measured reliably on a shared loopback"),
  "CTRL-03": x("environment", "the harness connects from loopback; a non-loopback client address is needed"),
  "CTRL-38": x("timing", "a hub slower than 30 s on the first attempt; observing it exceeds the run's budget"),
  "CTRL-39": x("environment", "needs the instance started with a short control token and seen to refuse; the harness starts instances only with its own 48-character tokens and cannot configure one given by URL"),
  // §13 errors
  "ERR-03": x("sender-internal", "how a client reacts to error text is internal"),
  "ERR-07": x("environment", "needs an internal failure of the instance to provoke SMCP_INTERNAL"),
  // §14 versioning
  "VER-03": x("meta", "a rule for future minor versions of the specification"),
  "VER-04": x("meta", "a rule for future major versions of the specification"),
  // §16 conformance
  "CONF-08": x("meta", "the sum of the CTRL requirements, each checked on its own"),
  // §18.1 Judith profile (checked with --profile judith: judith/*)
  "JDT-06": x("not-yet-automated", "needs 257 workflow definitions or a 64 KiB definition; the bound is the instance's choice, only the error at the bound is fixed"),
  "JDT-07": x("not-yet-automated", "needs a definition naming a channel the instance does not hold or was removed from; the check needs its own removal round"),
  "JDT-10": x("sender-internal", "that nothing is evaluated as code is internal; judith/bounds checks that an unknown $ operator is refused"),
  "JDT-12": x("not-yet-automated", "needs the instance's own bound of runs in flight (64 in the reference) reached with waiting runs, then all cancelled"),
  "JDT-16": x("environment", "needs a partition between the two instances in the middle of a call step (tests/judith-partition.test.ts covers the reference)"),
  "JDT-22": x("optional", "how soon the owner stops waiting for a cancelled call is local; the run's state is checked by judith/run/wait-and-cancel"),
  "JDT-26": x("durability", "needs a kill between a transition and its publication; judith/dur/resume-after-restart kills between steps"),
  "JDT-31": x("retention", "10 000 finished runs or 4 096 observed runs are far beyond one run's budget"),
  "JDT-32": x("meta", "a rule about the profile's design: the harness sees every federation request and validates it against the 1.0 routes"),

  // §18.2 Gail
  "GAIL-13": x("sender-internal", "how many submissions the forwarder keeps queued toward its hub is internal to it; the reference's tests/profiles/gail.test.ts counts exactly one during an outage"),
  "GAIL-14": x("timing", "the forwarder's back-off schedule after failures is not observable through the Control API within the run's budget"),
  "GAIL-19": x("scale", "the per-source bound of the aggregator (reference: 1,000,000 records) is far beyond the run's budget"),
};

export interface CoverageRow {
  requirement: Requirement;
  status: "tested" | "excluded" | "untested";
  checks: string[];
  exclusion?: Exclusion;
}

/** Every requirement with its status: cited by checks, excluded with a reason, or untested (a gap). */
export function coverage(requirements: Requirement[], cited: Map<string, string[]>): CoverageRow[] {
  return requirements.map((r) => {
    const checks = cited.get(r.id) ?? [];
    if (checks.length > 0) return { requirement: r, status: "tested", checks };
    const exclusion = EXCLUSIONS[r.id];
    return exclusion ? { requirement: r, status: "excluded", checks, exclusion } : { requirement: r, status: "untested", checks };
  });
}
