// Conformance harness self-tests: the issue-10 hardening and spec-1.0.1 checks pass against a real reference instance
// and fail against it with one bug planted in front of it (a rewriting proxy), each test naming the checks it proves can fail.
import { chmodSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDispatcher, sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import { parsePublicKey, verifyKeyFrom } from "../protocol/keys.ts";
import { parseAuthHeader } from "../protocol/signing.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { start } from "../tests/support/instances.ts";
import { checkById, harnessAgainst, type Harness } from "../tests/support/harness-self-test.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";
import type { Check } from "./context.ts";
import { ControlClient } from "./control-client.ts";
import { runOne, type CheckResult } from "./runner.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";

/** What a planted bug sees of a request. */
interface Seen {
  method: string;
  url: URL;
  raw: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}
interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}
/** A planted bug: answer instead of the instance, rewrite its answer, or take the connection over at the headers. */
interface Bug {
  onHeaders?(req: IncomingMessage, res: ServerResponse): boolean;
  before?(r: Seen): Reply | undefined;
  after?(r: Seen, a: HttpAnswer): Reply | undefined;
}

const BIG = 1_048_576;

/** An HTTP proxy in front of the instance; `bug` is planted per test. */
async function bugProxy(targetUrl: string): Promise<{ url: string; plant(b: Bug): void; close(): Promise<void> }> {
  const dispatcher = createDispatcher();
  let bug: Bug = {};
  const reply = (res: ServerResponse, r: Reply): void => {
    const text = r.text ?? (r.body === undefined ? "" : JSON.stringify(r.body));
    res.writeHead(r.status, { "content-type": r.text !== undefined ? "text/plain" : "application/json", "content-length": String(Buffer.byteLength(text)), ...r.headers });
    res.end(text);
  };
  const server: Server = createServer((req, res) => {
    if (bug.onHeaders?.(req, res)) return;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const seen: Seen = { method: req.method ?? "GET", url: new URL(req.url ?? "/", "http://x"), raw: req.url ?? "/", headers: req.headers, body: Buffer.concat(chunks) };
        const early = bug.before?.(seen);
        if (early) return reply(res, early);
        const headers: Record<string, string> = {};
        for (const k of ["content-type", "content-encoding", "authorization", "x-smcp-authorization"]) if (typeof req.headers[k] === "string") headers[k] = req.headers[k] as string;
        const a = await sendRaw(dispatcher, targetUrl + seen.raw, { method: seen.method, headers, body: chunks.length > 0 || req.headers["content-length"] !== undefined ? seen.body : undefined, timeoutMs: 40_000 });
        const late = bug.after?.(seen, a);
        if (late) return reply(res, late);
        const out: Record<string, string> = {};
        for (const k of ["content-type", "retry-after", "allow", "cache-control"]) if (typeof a.headers[k] === "string") out[k] = a.headers[k] as string;
        res.writeHead(a.status, { ...out, "content-length": String(a.raw.length) });
        res.end(a.raw);
      })().catch((err: Error) => reply(res, { status: 502, text: err.message }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    plant: (b) => void (bug = b),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await dispatcher.close();
    },
  };
}

const jsonOf = (r: Seen): Record<string, unknown> => JSON.parse(r.body.toString("utf8")) as Record<string, unknown>;
const isSend = (r: Seen): boolean => r.method === "PUT" && r.url.pathname.startsWith("/federation/v1/send/");
const originOf = (r: Seen): string | undefined => parseAuthHeader(r.headers["x-smcp-authorization"] as string | undefined)?.origin;
const invalid = (path: string): Reply => ({ status: 400, body: { errcode: "SMCP_INVALID", error: "invalid", details: [{ path, message: "bad" }] } });
/** Maximum nesting of arrays/objects in a JSON text (strings ignored: the probes carry none with brackets). */
function depthOf(text: string): number {
  let d = 0;
  let max = 0;
  for (const ch of text) {
    if (ch === "[" || ch === "{") max = Math.max(max, ++d);
    else if (ch === "]" || ch === "}") d--;
  }
  return max;
}

let dir: string;
let inst: Instance;
let proxy: Awaited<ReturnType<typeof bugProxy>>;
let h: Harness;

/** Checks that build the state the checks under test rely on, run once against the untouched instance. */
const SETUP = [
  "adv/setup/fake-peer@alice",
  "adv/sign/baseline@alice",
  "adv/setup/channel@alice",
  "adv/participant/invited@alice",
  "adv/participant/backfill@alice",
  "adv/hub/invite@alice",
  "adv/hub/out-of-order@alice",
  "adv/hub/gap-backfill@alice",
  "adv/hub/head-backfill@alice",
];

let umask: number;

beforeAll(async () => {
  // As the CLI does (reference-impl/cli.ts): under umask 022 the vikunja component's SQLite files come out 0644 (KEY-26).
  umask = process.umask(0o077);
  dir = tempDir("hardening-selftest");
  inst = await start("victim.test", join(dir, "data"), { includeVikunja: true });
  proxy = await bugProxy(inst.url);
  const doc = (await (await fetch(`${inst.url}/.well-known/smcp/server`)).json()) as { key_id: string; public_key: string };
  const key = verifyKeyFrom(doc.key_id, parsePublicKey(doc.public_key)!);
  h = await harnessAgainst({ alice: { name: "victim.test", url: proxy.url, key }, bob: { name: "victim.test", url: proxy.url, key } }, { deliveryTimeoutMs: 5_000 });
  for (const t of [h.ctx.alice, h.ctx.bob]) {
    t.token = inst.controlToken;
    t.control = new ControlClient(h.ctx.dispatcher, proxy.url, inst.controlToken, h.ctx.recorder, t.role);
  }
  for (const id of SETUP) {
    const r = await runOne(checkById(id), h.ctx);
    expect([id, r.status, r.details[0]]).toEqual([id, "pass", r.details[0]]);
  }
}, 60_000);

afterAll(async () => {
  await h?.close();
  await proxy?.close();
  await inst?.close();
  removeDir(dir);
  process.umask(umask);
});

async function run(check: Check | string, bug: Bug = {}): Promise<CheckResult> {
  proxy.plant(bug);
  try {
    return await runOne(typeof check === "string" ? checkById(`${check}@alice`) : check, h.ctx);
  } finally {
    proxy.plant({});
  }
}

/** Each case: the checks it proves able to fail, the bug, and what the failure must say. */
interface Case {
  proves: string[];
  bug: string;
  plant: Bug;
  says: RegExp;
}

const CASES: Case[] = [
  {
    proves: ["adv/json/depth-limit"],
    bug: "parses JSON of any depth (no JCS-18 bound)",
    plant: { before: (r) => (isSend(r) && depthOf(r.body.toString()) > 64 ? { status: 200, body: { processed: [], rejected: [], sequenced: [] } } : undefined) },
    says: /nesting 65 levels: request was accepted/,
  },
  {
    proves: ["adv/json/depth-limit"],
    bug: "refuses exactly 64 levels (off by one)",
    plant: { before: (r) => (isSend(r) && depthOf(r.body.toString()) >= 64 ? { status: 400, body: { errcode: "SMCP_BAD_JSON", error: "too deep" } } : undefined) },
    says: /exactly 64 levels was refused/,
  },
  {
    proves: ["adv/limits/refused-body-not-read"],
    bug: "answers 413 and then drains the declared body (SIGN-50)",
    plant: {
      onHeaders: (req, res) => {
        if (Number(req.headers["content-length"] ?? 0) <= BIG) return false;
        const text = JSON.stringify({ errcode: "SMCP_TOO_LARGE", error: "too large" });
        res.writeHead(413, { "content-type": "application/json", "content-length": String(text.length), connection: "close" });
        res.write(text);
        req.resume();
        req.on("end", () => res.end());
        return true;
      },
    },
    says: /kept reading the refused body/,
  },
  {
    proves: ["adv/limits/refused-body-not-read"],
    bug: "closes after the 413 but never says Connection: close",
    plant: {
      onHeaders: (req, res) => {
        if (Number(req.headers["content-length"] ?? 0) <= BIG) return false;
        const text = JSON.stringify({ errcode: "SMCP_TOO_LARGE", error: "too large" });
        res.socket!.end(`HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\n\r\n${text}`);
        return true;
      },
    },
    says: /does not say Connection: close/,
  },
  {
    proves: ["adv/discovery/unmapped-loopback"],
    bug: "fetches discovery for whatever origin a request names, loopback included (DISC-30)",
    plant: {
      before: (r) => {
        const origin = originOf(r);
        if (!origin || origin === h.ctx.fake.name) return undefined;
        const u = new URL(`http://${origin}`);
        connect(Number(u.port), u.hostname).on("error", () => {}).on("connect", function (this: ReturnType<typeof connect>) {
          this.destroy();
        });
        return { status: 401, body: { errcode: "SMCP_UNKNOWN_KEY", error: "no key" } };
      },
    },
    says: /connected to loopback addresses/,
  },
  {
    proves: ["adv/discovery/unmapped-loopback"],
    bug: "refuses loopback but has no budget for unauthenticated discoveries (RATE-13)",
    plant: { before: (r) => (originOf(r) && originOf(r) !== h.ctx.fake.name ? { status: 401, body: { errcode: "SMCP_UNKNOWN_KEY", error: "no key" } } : undefined) },
    says: /no budget for unauthenticated work/,
  },
  {
    proves: ["adv/http/missing-body"],
    bug: "parses the body before looking at its media type",
    plant: { before: (r) => (isSend(r) && r.headers["content-type"] === undefined ? { status: 400, body: { errcode: "SMCP_BAD_JSON", error: "not JSON" } } : undefined) },
    says: /got another answer than SIGN-45's/,
  },
  {
    proves: ["adv/json/member-order"],
    bug: "expects origin as the first member",
    plant: { before: (r) => (isSend(r) && !r.body.toString().startsWith('{"origin"') ? invalid("/origin") : undefined) },
    says: /reverse order: unexpected status/,
  },
  {
    proves: ["adv/keys/key-validity"],
    bug: "gives its key one day of validity",
    plant: { after: (r, a) => (r.url.pathname === "/federation/v1/keys" ? { status: 200, body: { ...(a.body as object), verify_keys: (a.body as { ts: number; verify_keys: object[] }).verify_keys.map((k) => ({ ...k, valid_until_ts: (a.body as { ts: number }).ts + 86_400_000 })) } } : undefined) },
    says: /not ts \+ 7 days/,
  },
  {
    proves: ["adv/participant/invitee-before-join"],
    bug: "lists the hub and itself as members as soon as it accepts an invite (CTRL-37)",
    plant: {
      after: (r, a) => {
        const info = a.body as { local_seq?: number; hub?: string; members?: string[] } | undefined;
        return r.method === "GET" && /^\/control\/v1\/channels\/[^/]+$/.test(r.url.pathname) && info?.local_seq === 0 ? { status: 200, body: { ...info, members: [info.hub, "victim.test"] } } : undefined;
      },
    },
    says: /members must be \[\]/,
  },
  {
    proves: ["adv/participant/invitee-before-join"],
    bug: "accepts calls from a hub whose channel it joined but whose join event it does not hold (CHAN-23)",
    plant: { before: (r) => (r.url.pathname === "/federation/v1/call" && originOf(r)?.startsWith("new-hub-") ? { status: 200, body: { call_id: "x" } } : undefined) },
    says: /request was accepted/,
  },
  {
    proves: ["adv/http/after-bound"],
    bug: "bounds `after` to 32-bit integers",
    plant: { before: (r) => (Number(r.url.searchParams.get("after") ?? 0) > 2 ** 31 - 1 ? invalid("/after") : undefined) },
    says: /at and beyond 2\^53−1 were wrong/,
  },
  {
    proves: ["adv/http/issue-paths"],
    bug: "names query parameters without the leading slash",
    plant: {
      after: (_, a) => {
        const e = a.body as { errcode?: string; details?: Array<{ path: string; message: string }> } | undefined;
        return e?.errcode === "SMCP_INVALID" ? { status: 400, body: { ...e, details: e.details!.map((d) => ({ ...d, path: d.path.replace(/^\//, "") })) } } : undefined;
      },
    },
    says: /paths were not the ones ERR-10 names/,
  },
  {
    proves: ["adv/txn/own-channel-events"],
    bug: "takes its own events sent back by a member as harmless duplicates",
    plant: {
      after: (r, a) => {
        const res = a.body as { processed: string[]; rejected: Array<{ id: string }>; sequenced: unknown[] } | undefined;
        return isSend(r) && res?.rejected?.length ? { status: 200, body: { ...res, processed: [...res.processed, ...res.rejected.map((x) => x.id)], rejected: [] } } : undefined;
      },
    },
    says: /not rejected with SMCP_NOT_HUB/,
  },
  {
    proves: ["adv/hub/headless-events"],
    bug: "refuses events that arrive without a head (DLV-34)",
    plant: {
      before: (r) => {
        if (!isSend(r)) return undefined;
        const txn = jsonOf(r) as { events?: Array<{ event_id: string }>; heads?: unknown[] };
        if (!txn.events?.length || txn.heads?.length) return undefined;
        return { status: 200, body: { processed: [], rejected: txn.events.map((e) => ({ id: e.event_id, errcode: "SMCP_BAD_EVENT", error: "no head" })), sequenced: [] } };
      },
    },
    says: /without a head in its transaction was not processed/,
  },
  {
    proves: ["adv/http/path-and-query"],
    bug: "lets its HTTP layer answer a plain 400 to a malformed integer (SIGN-46 allows that for bad percent-encoding only)",
    plant: { before: (r) => (r.url.searchParams.get("after") === "01" ? { status: 400, text: "Bad Request" } : undefined) },
    says: /malformed requests not answered 400 SMCP_INVALID/,
  },
  {
    proves: ["adv/http/path-and-query"],
    bug: "answers bad percent-encoding with an SMCP error body of the wrong code",
    plant: { before: (r) => (r.raw.includes("%ZZ") ? { status: 400, body: { errcode: "SMCP_BAD_JSON", error: "bad" } } : undefined) },
    says: /malformed requests not answered 400 SMCP_INVALID/,
  },
];

/** Registered checks this file proves able to fail: the cases, and the two tests of their own below (tests/support/self-tests/proofs.ts). */
const PROVEN_TO_FAIL = [...new Set(CASES.flatMap((c) => c.proves)), "adv/keys/private-files", "adv/removal/head-fresh"];
declaresProofs(import.meta.url, PROVEN_TO_FAIL);

describe("issue-10 and spec-1.0.1 checks against a reference instance behind a bug-planting proxy", () => {
  for (const id of [...new Set(CASES.flatMap((c) => c.proves))]) {
    it(`${id} passes against the untouched instance`, async () => {
      // The proxy buffers whole bodies, so the streamed-body check meets the instance itself.
      const direct = id === "adv/limits/refused-body-not-read";
      const endpoint = h.ctx.alice.discovery!.endpoint;
      if (direct) h.ctx.alice.discovery!.endpoint = inst.url;
      const r = await run(id).finally(() => void (h.ctx.alice.discovery!.endpoint = endpoint));
      expect([id, r.status, r.details[0], r.actual]).toEqual([id, "pass", r.details[0], undefined]);
    }, 30_000);
  }

  for (const c of CASES) {
    it(`proves ${c.proves.join(", ")} can fail: against a target that ${c.bug}`, async () => {
      for (const id of c.proves) {
        const r = await run(id, c.plant);
        expect([id, r.status, r.category]).toEqual([id, "fail", "requirement"]);
        expect(r.details[0]).toMatch(c.says);
      }
    }, 30_000);
  }

  it("adv/http/path-and-query passes when an HTTP layer answers bad percent-encoding with its own plain 400 (SIGN-46)", async () => {
    const r = await run("adv/http/path-and-query", { before: (x) => (x.raw.includes("%ZZ") ? { status: 400, text: "Bad Request" } : undefined) });
    expect([r.status, r.details[0]]).toEqual(["pass", undefined]);
  }, 30_000);
});

describe("adv/keys/private-files (KEY-26)", () => {
  const check = (): Check => checkById("adv/keys/private-files@alice");

  it("passes on the reference instance's own data directory, made 0755 as the harness does", async () => {
    chmodSync(join(dir, "data"), 0o755);
    h.ctx.alice.dataDir = join(dir, "data");
    try {
      const r = await runOne(check(), h.ctx);
      expect([r.status, r.details[0], r.actual]).toEqual(["pass", r.details[0], undefined]);
    } finally {
      delete h.ctx.alice.dataDir;
    }
  });

  it("proves adv/keys/private-files can fail: against an instance that writes a 0644 file (a WAL created under umask 022)", async () => {
    const d = tempDir("key26");
    try {
      chmodSync(d, 0o755);
      writeFileSync(join(d, "smcp.sqlite"), "x", { mode: 0o600 });
      writeFileSync(join(d, "smcp.sqlite-wal"), "x");
      chmodSync(join(d, "smcp.sqlite-wal"), 0o644);
      h.ctx.alice.dataDir = d;
      const r = await runOne(check(), h.ctx);
      expect([r.status, r.category]).toEqual(["fail", "requirement"]);
      expect(r.actual).toMatch(/smcp\.sqlite-wal 0644/);
      expect(r.actual).not.toMatch(/smcp\.sqlite 0600/);
    } finally {
      delete h.ctx.alice.dataDir;
      removeDir(d);
    }
  });

  it("reports not testable, never pass, for an instance given by URL (no data directory)", async () => {
    const r = await runOne(check(), h.ctx);
    expect([r.status, r.category]).toEqual(["not-testable", "prerequisite"]);
    expect(r.details[0]).toMatch(/not testable: alice was given by URL/);
  });
});

describe("adv/removal/head-fresh (DLV-33), after the fake peer's removal (last: it ends the fake's membership)", () => {
  it("passes against the untouched instance, and proves adv/removal/head-fresh can fail: against a hub that serves the head it signed at the leave", async () => {
    for (const id of ["adv/removal/leave-delivered@alice", "adv/removal/backfill-bounded@alice"]) {
      const r = await runOne(checkById(id), h.ctx);
      expect([id, r.status, r.details[0]]).toEqual([id, "pass", r.details[0]]);
    }
    const good = await run("adv/removal/head-fresh");
    expect([good.status, good.details[0], good.actual]).toEqual(["pass", good.details[0], undefined]);
    // The stale head as a hub that kept it would serve it 2 s after the leave (the self-test does not wait 2 s).
    const stale: Bug = {
      after: (r, a) => {
        const page = a.body as { head?: { hub_ts: number }; events?: Array<{ type: string; hub_ts: number }> } | undefined;
        const leave = page?.events?.find((e) => e.type === "smcp:member.leave");
        return r.url.pathname.startsWith("/federation/v1/channels/") && page?.head && leave ? { status: 200, body: { ...page, head: { ...page.head, hub_ts: leave.hub_ts - 2_000 } } } : undefined;
      },
    };
    const bad = await run("adv/removal/head-fresh", stale);
    expect([bad.status, bad.category]).toEqual(["fail", "requirement"]);
    expect(bad.details[0]).toMatch(/not signed afresh \(DLV-33\)/);
  }, 30_000);
});
