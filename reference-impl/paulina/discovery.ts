// Paulina (registry): discovery of peers by server name, with the test-deployment host map, caching and key lookup (spec §6).
import type { Dispatcher } from "undici";
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { backoffDelay, type RandomSource } from "../../protocol/backoff.ts";
import { BodyTooLargeError, sendRaw } from "../../protocol/http-client.ts";
import { isLoopbackHost } from "../../protocol/identity.ts";
import { keyIdFor, parsePublicKey, verifyKeyFrom, type VerifyKey } from "../../protocol/keys.ts";
import { DISCOVERY_CACHE, DISCOVERY_FAILURE_BACKOFF, DISCOVERY_FETCH_TIMEOUT_MS, DISCOVERY_MAX_DOCUMENT_BYTES } from "../../protocol/limits.ts";
import { validate } from "../../protocol/schemas.ts";
import type { Limits, ServerDiscovery } from "../../protocol/types.ts";
import type { PeerRow, Store } from "../storage/db.ts";
import { LogLimiter } from "../http/log-limiter.ts";
import { isNonPublicLiteral } from "./address-guard.ts";

export const WELL_KNOWN_PATH = "/.well-known/smcp/server";
const DEFAULT_TTL_MS = DISCOVERY_CACHE.defaultMs;
const MAX_TTL_MS = DISCOVERY_CACHE.maxMs;
const MAX_REDIRECTS = 5;
/** A key_id we do not know triggers at most one re-discovery per origin in this interval (no amplification). */
const KEY_REFRESH_INTERVAL_MS = 5_000;
/** DISC-12: one discovery, redirects included, ends within this. */
export const DISCOVERY_DEADLINE_MS = DISCOVERY_FETCH_TIMEOUT_MS;
/** REG-10: peers recorded (persisted, listed, pinged) at most; the least recently verified one is dropped first. */
export const MAX_TRACKED_PEERS = 1024;
/** Documents fetched to authenticate a request that has not verified yet: kept in memory only, this many at most. */
export const MAX_CANDIDATES = 1024;
/** Cached failures and key-refresh times kept at most (each a name someone sent us). */
const MAX_FAILURES = 4096;
/** RATE-13: discoveries of unmapped names, on behalf of unauthenticated requests, running at once. */
export const MAX_UNAUTHENTICATED_FETCHES = 32;

/** A discovered peer: the validated discovery document plus its checked key. */
export interface Peer {
  serverName: string;
  endpoint: string;
  version: string;
  /** Every version the peer's discovery document lists (spec §14: 1.1 features only toward peers listing "1.1"). */
  versions: string[];
  components: string[];
  keyId: string;
  publicKey: string;
  key: VerifyKey;
  limits: Limits;
  discoveredTs: number;
  expiresTs: number;
}

interface Failure {
  error: SmcpError;
  until: number;
  failures: number;
}

export interface DiscoveryOptions {
  self: string;
  store: Store;
  dispatcher: Dispatcher;
  logger: Logger;
  now?: () => number;
  /** Jitter of the failure back-off; tests inject a fixed source. */
  random?: RandomSource;
  /** Static host map from the command line; overrides stored mappings for the same names. */
  hosts?: Record<string, string>;
  maxPeers?: number;
  fetchDeadlineMs?: number;
}

/** Called before discovery fetches an unmapped name for an unverified request; throws 429 when over budget (RATE-13). */
export type ChargeUnauthenticated = () => void;

export class Discovery {
  /** Recorded peers (REG-01/REG-02), in least-recently-verified order. */
  private readonly peers = new Map<string, Peer>();
  /** Fetched to check a request that has not verified yet (REG-02): promoted by confirm(), never persisted. */
  private readonly candidates = new Map<string, Peer>();
  private readonly failures = new Map<string, Failure>();
  private readonly inflight = new Map<string, Promise<Peer>>();
  private readonly lastKeyRefresh = new Map<string, number>();
  private readonly hosts: Map<string, string>;
  /** Hostnames the operator's mappings point at, and the endpoints those mapped peers advertise (DISC-30). */
  private readonly trustedHostnames = new Set<string>();
  private readonly now: () => number;
  private readonly maxPeers: number;
  private readonly deadlineMs: number;
  private unauthenticatedInflight = 0;
  /** RATE-14: failures of names someone sent us are logged at a bounded rate. */
  private readonly failureLog: LogLimiter;
  /** HTTP requests discovery has made (each redirect hop counts): what a flood of unknown origins can make us do. */
  fetches = 0;

  constructor(private readonly opts: DiscoveryOptions) {
    this.now = opts.now ?? Date.now;
    this.maxPeers = opts.maxPeers ?? MAX_TRACKED_PEERS;
    this.deadlineMs = opts.fetchDeadlineMs ?? DISCOVERY_DEADLINE_MS;
    this.failureLog = new LogLimiter(undefined, undefined, this.now);
    this.hosts = opts.store.hosts();
    for (const base of this.hosts.values()) this.trustedHostnames.add(hostnameOf(base));
    for (const [name, url] of Object.entries(opts.hosts ?? {})) this.putHost(name, url);
    const rows = opts.store.peers().sort((a, b) => a.discovered_ts - b.discovered_ts);
    for (const row of rows.slice(Math.max(0, rows.length - this.maxPeers))) this.loadPeer(row);
  }

  /** Maps a server name to a base URL (spec §6.4); the cached discovery of that name is dropped. */
  putHost(serverName: string, baseUrl: string): void {
    const base = baseUrl.replace(/\/+$/, "");
    checkScheme(base, `host mapping for ${serverName}`);
    this.hosts.set(serverName, base);
    this.trustedHostnames.add(hostnameOf(base));
    this.opts.store.putHost(serverName, base);
    this.peers.delete(serverName);
    this.candidates.delete(serverName);
    this.failures.delete(serverName);
  }

  /** DISC-30: whether outgoing connections may resolve `hostname` to a non-public address (operator-mapped hosts only). */
  isTrustedHostname(hostname: string): boolean {
    return this.trustedHostnames.has(hostname.toLowerCase());
  }

  /** Sizes of every per-name structure (tests and metrics: the bounds hold under a flood of names). */
  sizes(): { peers: number; candidates: number; failures: number; keyRefreshes: number; inflight: number } {
    return {
      peers: this.peers.size, candidates: this.candidates.size, failures: this.failures.size,
      keyRefreshes: this.lastKeyRefresh.size, inflight: this.inflight.size,
    };
  }

  known(): Peer[] {
    return [...this.peers.values()].sort((a, b) => (a.serverName < b.serverName ? -1 : 1));
  }

  cached(serverName: string): Peer | undefined {
    return this.peers.get(serverName);
  }

  /**
   * The peer's discovery for our own use (the operator's requests, our outbound traffic), from cache when fresh;
   * `force` bypasses the cache. The peer is recorded. Throws SMCP_PEER_UNREACHABLE.
   */
  async discover(serverName: string, force = false): Promise<Peer> {
    const peer = await this.fetchCached(serverName, force);
    this.record(peer);
    return peer;
  }

  /**
   * Request-auth key lookup (spec §5.6 step 4): the key_id must be the discovered key's. A fetch it needs for a name
   * the operator did not map is charged to the client (`charge` throws 429) and bounded in number; what it fetches is
   * not recorded until the request verifies (confirm).
   */
  async lookupKey(origin: string, keyId: string, charge?: ChargeUnauthenticated): Promise<VerifyKey | null> {
    if (origin === this.opts.self) return null;
    const now = this.now();
    const held = this.fresh(origin, now);
    if (held && held.keyId === keyId) return held.key;
    const refresh = held !== undefined;
    if (refresh && now - (this.lastKeyRefresh.get(origin) ?? 0) <= KEY_REFRESH_INTERVAL_MS) return null;
    const failure = this.failures.get(origin);
    if (!refresh && failure && failure.until > now) return null;
    const unauthenticated = !this.hosts.has(origin) && !this.inflight.has(origin);
    if (unauthenticated) {
      charge?.();
      if (this.unauthenticatedInflight >= MAX_UNAUTHENTICATED_FETCHES) {
        throw new SmcpError("SMCP_RATE_LIMITED", "too many discoveries of unknown origins in flight", { retryAfterMs: 1000 });
      }
      this.unauthenticatedInflight++;
    }
    if (refresh) bounded(this.lastKeyRefresh, origin, now);
    try {
      const peer = await this.fetchCached(origin, true);
      if (this.peers.has(origin)) this.record(peer); // DISC-19: a recorded peer's key is replaced
      else bounded(this.candidates, origin, peer, MAX_CANDIDATES);
      return peer.keyId === keyId ? peer.key : null;
    } catch {
      return null; // the failure is cached (DISC-17); the request gets SMCP_UNKNOWN_KEY
    } finally {
      if (unauthenticated) this.unauthenticatedInflight--;
    }
  }

  /** A request from `origin` verified: its discovery is recorded (REG-02) and it becomes the most recently verified. */
  confirm(origin: string): void {
    const peer = this.peers.get(origin) ?? this.candidates.get(origin);
    if (!peer) return;
    this.candidates.delete(origin);
    this.record(peer);
  }

  private fresh(serverName: string, now: number): Peer | undefined {
    const peer = this.peers.get(serverName) ?? this.candidates.get(serverName);
    return peer && peer.expiresTs > now ? peer : undefined;
  }

  private fetchCached(serverName: string, force: boolean): Promise<Peer> {
    const now = this.now();
    if (!force) {
      const peer = this.fresh(serverName, now);
      if (peer) return Promise.resolve(peer);
      const failure = this.failures.get(serverName);
      if (failure && failure.until > now) return Promise.reject(failure.error);
    }
    let pending = this.inflight.get(serverName);
    if (!pending) {
      pending = this.fetchPeer(serverName).finally(() => this.inflight.delete(serverName));
      this.inflight.set(serverName, pending);
    }
    return pending;
  }

  /**
   * Records (persists, lists, pings) a peer; beyond maxPeers the least recently verified or used peer is dropped (it is
   * simply discovered again when it next talks to us; a host mapping survives).
   */
  private record(peer: Peer): void {
    const name = peer.serverName;
    const stored = this.peers.get(name);
    this.peers.delete(name);
    this.peers.set(name, peer);
    if (stored !== peer) this.opts.store.putPeer(toRow(peer));
    if (this.peers.size <= this.maxPeers) return;
    for (const victim of this.peers.keys()) {
      if (victim === name) continue;
      this.peers.delete(victim);
      this.opts.store.deletePeer(victim);
      if (this.peers.size <= this.maxPeers) return;
    }
  }

  private async fetchPeer(serverName: string): Promise<Peer> {
    try {
      const peer = await this.fetchDocument(serverName);
      this.failures.delete(serverName);
      return peer;
    } catch (err) {
      const error = err instanceof SmcpError && err.errcode === "SMCP_PEER_UNREACHABLE"
        ? err
        : new SmcpError("SMCP_PEER_UNREACHABLE", `discovery of ${serverName} failed: ${(err as Error).message}`, { retryAfterMs: 1000 });
      this.recordFailure(serverName, error);
      throw this.failures.get(serverName)!.error;
    }
  }

  /** Errors are cached with exponential back-off from 1 s, never longer than 1 h (spec §6.3 DISC-17). */
  private recordFailure(serverName: string, cause: SmcpError): void {
    const failures = (this.failures.get(serverName)?.failures ?? 0) + 1;
    const wait = backoffDelay(failures, DISCOVERY_FAILURE_BACKOFF, this.opts.random);
    // retry_after_ms tells the control API's caller when the next automatic attempt may happen (spec §12.2).
    const error = new SmcpError("SMCP_PEER_UNREACHABLE", cause.message, { retryAfterMs: wait });
    bounded(this.failures, serverName, { error, until: this.now() + wait, failures }, MAX_FAILURES);
    const suppressed = this.failureLog.take(this.hosts.has(serverName) ? serverName : "unmapped");
    if (suppressed < 0) return;
    const fields = { peer: serverName, failures, retry_in_ms: wait, err: cause.message };
    this.opts.logger.warn(suppressed > 0 ? { ...fields, suppressed_lines: suppressed } : fields, "discovery failed");
  }

  private async fetchDocument(serverName: string): Promise<Peer> {
    const mapped = this.hosts.has(serverName);
    let url = `${this.hosts.get(serverName) ?? `https://${serverName}`}${WELL_KNOWN_PATH}`;
    const seen = new Set<string>();
    const deadline = this.now() + this.deadlineMs;
    for (let hop = 0; ; hop++) {
      checkScheme(url, `discovery URL of ${serverName}`);
      // DISC-30: a name learned from the network never reaches loopback or private addresses, nor via a redirect.
      if (!mapped && isNonPublicLiteral(url)) throw unreachable(serverName, `${url} is not a public address (DISC-30)`);
      seen.add(url);
      const remaining = deadline - this.now();
      if (remaining <= 0) throw unreachable(serverName, `no answer within ${this.deadlineMs} ms`);
      this.fetches++;
      let answer;
      try {
        answer = await sendRaw(this.opts.dispatcher, url, {
          method: "GET", headers: { accept: "application/json" }, timeoutMs: remaining, deadlineMs: remaining, maxBytes: DISCOVERY_MAX_DOCUMENT_BYTES,
        });
      } catch (err) {
        if (err instanceof BodyTooLargeError) throw unreachable(serverName, `discovery document over ${DISCOVERY_MAX_DOCUMENT_BYTES} bytes`);
        if ((err as Error).name === "TimeoutError" || (err as Error).name === "AbortError") {
          throw unreachable(serverName, `no complete answer within ${this.deadlineMs} ms`);
        }
        throw err;
      }
      const location = answer.headers.location;
      if (answer.status >= 300 && answer.status < 400 && typeof location === "string") {
        url = new URL(location, url).toString();
        // `hop` redirects were followed before this one: this is redirect hop + 1, at most MAX_REDIRECTS (DISC-15).
        if (hop + 1 > MAX_REDIRECTS || seen.has(url)) throw unreachable(serverName, "too many redirects or a redirect loop");
        continue;
      }
      if (answer.status !== 200) throw unreachable(serverName, `discovery answered ${answer.status}`);
      const peer = this.checkDocument(serverName, answer.body, maxAgeMs(answer.headers["cache-control"]));
      if (mapped) this.trustedHostnames.add(hostnameOf(peer.endpoint));
      else if (isNonPublicLiteral(peer.endpoint)) throw unreachable(serverName, `endpoint ${peer.endpoint} is not a public address (DISC-30)`);
      return peer;
    }
  }

  private checkDocument(serverName: string, body: unknown, ttlMs: number): Peer {
    const issues = validate("ServerDiscovery", body);
    if (issues.length > 0) throw unreachable(serverName, `invalid discovery document: ${issues.map((i) => `${i.path} ${i.message}`).join("; ")}`);
    const doc = body as ServerDiscovery;
    if (doc.server_name !== serverName) throw unreachable(serverName, `discovery document names ${doc.server_name}`);
    if (!doc.versions.some((v) => /^1\.[0-9]+$/.test(v))) throw unreachable(serverName, `no 1.x version in ${doc.versions.join(", ")}`);
    checkScheme(doc.endpoint, `endpoint of ${serverName}`);
    const raw = parsePublicKey(doc.public_key);
    if (!raw || keyIdFor(raw) !== doc.key_id) throw unreachable(serverName, "key_id is not derived from public_key");
    let key: VerifyKey;
    try {
      key = verifyKeyFrom(doc.key_id, raw);
    } catch (err) {
      throw unreachable(serverName, `public key refused: ${(err as Error).message}`);
    }
    const now = this.now();
    return {
      serverName, endpoint: doc.endpoint.replace(/\/+$/, ""), version: doc.version, versions: doc.versions, components: doc.components,
      keyId: doc.key_id, publicKey: doc.public_key, key, limits: doc.limits, discoveredTs: now, expiresTs: now + ttlMs,
    };
  }

  private loadPeer(row: PeerRow): void {
    const raw = parsePublicKey(row.public_key);
    if (!raw) return;
    try {
      this.peers.set(row.server_name, {
        serverName: row.server_name, endpoint: row.endpoint, version: row.version, versions: storedVersions(row), components: JSON.parse(row.components) as string[],
        keyId: row.key_id, publicKey: row.public_key, key: verifyKeyFrom(row.key_id, raw), limits: JSON.parse(row.limits) as Limits,
        discoveredTs: row.discovered_ts, expiresTs: row.expires_ts,
      });
    } catch {
      // A stored key that no longer passes the checks is simply rediscovered.
    }
  }
}

/** Sets `key` as the newest entry of `map`, dropping the oldest beyond `max` (a flood of names cannot grow it). */
function bounded<V>(map: Map<string, V>, key: string, value: V, max = MAX_FAILURES): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value!);
}

function hostnameOf(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase();
}

function toRow(p: Peer): PeerRow {
  return {
    server_name: p.serverName, endpoint: p.endpoint, version: p.version, versions: JSON.stringify(p.versions), components: JSON.stringify(p.components),
    key_id: p.keyId, public_key: p.publicKey, limits: JSON.stringify(p.limits), discovered_ts: p.discoveredTs, expires_ts: p.expiresTs,
  };
}

/** A stored peer's versions; a row from before migration v4 lists its preferred version only. */
function storedVersions(row: PeerRow): string[] {
  const parsed = JSON.parse(row.versions || "[]") as unknown;
  return Array.isArray(parsed) && parsed.length > 0 ? parsed.map(String) : [row.version];
}

/** HTTPS everywhere; plain HTTP only towards loopback addresses (spec §6.3). */
export function checkScheme(url: string, what: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SmcpError("SMCP_INVALID", `${what} is not a URL: ${url}`);
  }
  if (parsed.protocol === "https:") return;
  if (parsed.protocol === "http:" && isLoopbackHost(parsed.hostname)) return;
  throw new SmcpError("SMCP_INVALID", `${what} must be https:// (http:// only on loopback): ${url}`);
}

/** `Cache-Control: max-age` honoured up to 48 h; 24 h when absent (spec §6.3). */
function maxAgeMs(header: string | string[] | undefined): number {
  const text = Array.isArray(header) ? header.join(",") : header ?? "";
  const m = /(?:^|[,\s])max-age=(\d+)/i.exec(text);
  if (!m) return DEFAULT_TTL_MS;
  return Math.min(MAX_TTL_MS, Math.max(1000, Number(m[1]) * 1000));
}

function unreachable(serverName: string, why: string): SmcpError {
  return new SmcpError("SMCP_PEER_UNREACHABLE", `discovery of ${serverName} failed: ${why}`, { retryAfterMs: 1000 });
}
