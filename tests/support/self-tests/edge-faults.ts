// Conformance harness self-tests: planted bugs at the HTTP edge, JSON parser, signing and documents of an instance
// (spec §3.1, §5, §6.1, §14) — each answers the one request of its check wrongly and nothing else.
import { answer, error, altered, fault, statefulFault, when, type Fault } from "./fault-kit.ts";

const EMPTY_RESULT = { processed: [], rejected: [], sequenced: [] };
const SEND = "*/federation/v1/send/:txn";
const PING = "*/federation/v1/ping";
const accepted = (): Response => answer(200, EMPTY_RESULT);

export const EDGE_FAULTS: Fault[] = [
  fault("adv/http/schema-invalid@alice", "answers SMCP_INVALID without the details of §13", "put", SEND, when((s) => typeof s.json?.origin_ts === "string", () => error("SMCP_INVALID"))),
  fault("adv/http/media-type@alice", "parses any Content-Type as JSON", "put", SEND, when((s) => s.request.headers.get("content-type") === "text/plain", accepted)),
  fault("adv/json/bom@alice", "strips a leading byte order mark", "put", SEND, when((s) => s.bytes[0] === 0xef, accepted)),
  fault("adv/json/top-level-array@alice", "accepts a top-level array", "put", SEND, when((s) => s.text.startsWith("["), accepted)),
  fault("adv/json/duplicate-member@alice", "keeps the last of two members of one name (JSON.parse)", "put", SEND, when((s) => s.text.split('"origin":').length > 2, accepted)),
  fault("adv/json/unsafe-integer@alice", "rounds integers beyond 2^53-1", "put", SEND, when((s) => s.text.includes("9007199254740993"), accepted)),
  fault("adv/json/lone-surrogate@alice", "accepts unpaired surrogate escapes", "put", SEND, when((s) => s.text.includes("\\ud800"), accepted)),
  fault("adv/json/invalid-utf8@alice", "decodes invalid UTF-8 with replacement characters", "put", SEND, when((s) => s.bytes.includes(Buffer.from([0xc3, 0x28])), accepted)),
  fault("adv/http/content-encoding@alice", "ignores Content-Encoding", "put", SEND, when((s) => s.request.headers.has("content-encoding"), accepted)),
  fault("adv/compat/unknown-members@alice", "rejects unknown members (a closed schema)", "put", SEND, when((s) => s.text.includes('"x_future"') && s.json?.events === undefined, () => error("SMCP_INVALID", { details: [{ path: "/x_future", message: "unknown member" }] }))),
  fault("adv/http/body-on-get@alice", "tries to parse a GET body as JSON", "get", PING, when((s) => s.bytes.length > 0, () => error("SMCP_BAD_JSON"))),
  fault("adv/compat/unknown-query@alice", "rejects unknown query parameters", "get", PING, when((s) => s.query.has("x_future"), () => error("SMCP_INVALID"))),
  fault("adv/http/unknown-route@alice", "answers unknown signed paths with a bare 404 (framework default)", "get", "*/federation/v1/no-such-endpoint", when((s) => s.auth !== undefined, () => new Response("Not Found", { status: 404 }))),
  fault("adv/http/method-not-allowed@alice", "answers a wrong method with 404", "delete", PING, () => error("SMCP_NOT_FOUND"), { alsoFails: ["adv/http/allow-header@alice"] }),
  fault("adv/http/allow-header@bob", "omits the Allow header on 405", "delete", PING, (s) => altered(s, ({ headers }) => void headers.delete("allow"))),
  statefulFault("adv/sign/nonce-not-burned@alice", "records a nonce before verifying the signature", "get", PING, () => {
    const nonces = new Set<string>();
    return when((s) => {
      const n = s.auth?.nonce && `${s.auth.origin} ${s.auth.nonce}`;
      if (!n) return false;
      const again = nonces.has(n);
      nonces.add(n);
      return again;
    }, () => error("SMCP_REPLAY"));
  }),
  fault("adv/discovery/auth-header-ignored@alice", "verifies an X-SMCP-Authorization sent to the discovery document", "get", "*/.well-known/smcp/server", when((s) => s.request.headers.has("x-smcp-authorization"), () => error("SMCP_UNAUTHORIZED"))),
  fault("adv/discovery/self-consistent@bob", "lists a component in InstanceInfo that discovery does not", "get", "*/control/v1/instance", (s) => altered(s, (a) => (a.status === 200 ? { body: { ...a.body, components: [...a.body.components, "ghost"] } } : undefined))),
];
