// Paulina (registry): discovery of peers by server name, with the test-deployment host map, caching and key lookup (spec §6).
import type { Dispatcher } from "undici";
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { backoffDelay, type RandomSource } from "../../protocol/backoff.ts";
import { sendRaw } from "../../protocol/http-client.ts";
import { isLoopbackHost } from "../../protocol/identity.ts";
import { keyIdFor, parsePublicKey, verifyKeyFrom, type VerifyKey } from "../../protocol/keys.ts";
import { DISCOVERY_CACHE, DISCOVERY_FAILURE_BACKOFF, DISCOVERY_FETCH_TIMEOUT_MS, DISCOVERY_MAX_DOCUMENT_BYTES } from "../../protocol/limits.ts";
import { validate } from "../../protocol/schemas.ts";
import type { Limits, ServerDiscovery } from "../../protocol/types.ts";
import type { PeerRow, Store } from "../storage/db.ts";

export const WELL_KNOWN_PATH = "/.well-known/smcp/server";
const DEFAULT_TTL_MS = DISCOVERY_CACHE.defaultMs;
const MAX_TTL_MS = DISCOVERY_CACHE.maxMs;
const MAX_REDIRECTS = 5;
/** A key_id we do not know triggers at most one re-discovery per origin in this interval (no amplification). */
const KEY_REFRESH_INTERVAL_MS = 5_000;

/** A discovered peer: the validated discovery document plus its checked key. */
export interface Peer {
  serverName: string;
  endpoint: string;
  version: string;
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
}

export class Discovery {
  private readonly peers = new Map<string, Peer>();
  private readonly failures = new Map<string, Failure>();
  private readonly inflight = new Map<string, Promise<Peer>>();
  private readonly lastKeyRefresh = new Map<string, number>();
  private readonly hosts: Map<string, string>;
  private readonly now: () => number;

  constructor(private readonly opts: DiscoveryOptions) {
    this.now = opts.now ?? Date.now;
    this.hosts = opts.store.hosts();
    for (const [name, url] of Object.entries(opts.hosts ?? {})) this.putHost(name, url);
    for (const row of opts.store.peers()) this.loadPeer(row);
  }

  /** Maps a server name to a base URL (spec §6.4); the cached discovery of that name is dropped. */
  putHost(serverName: string, baseUrl: string): void {
    const base = baseUrl.replace(/\/+$/, "");
    checkScheme(base, `host mapping for ${serverName}`);
    this.hosts.set(serverName, base);
    this.opts.store.putHost(serverName, base);
    this.peers.delete(serverName);
    this.failures.delete(serverName);
  }

  known(): Peer[] {
    return [...this.peers.values()].sort((a, b) => (a.serverName < b.serverName ? -1 : 1));
  }

  cached(serverName: string): Peer | undefined {
    return this.peers.get(serverName);
  }

  /** The peer's discovery, from cache when fresh; `force` bypasses the cache. Throws SMCP_PEER_UNREACHABLE. */
  discover(serverName: string, force = false): Promise<Peer> {
    const now = this.now();
    if (!force) {
      const peer = this.peers.get(serverName);
      if (peer && peer.expiresTs > now) return Promise.resolve(peer);
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

  /** Request-auth key lookup (spec §5.6 step 4): the key_id must be the discovered key's. */
  async lookupKey(origin: string, keyId: string): Promise<VerifyKey | null> {
    if (origin === this.opts.self) return null;
    try {
      let peer = await this.discover(origin);
      if (peer.keyId !== keyId && this.now() - (this.lastKeyRefresh.get(origin) ?? 0) > KEY_REFRESH_INTERVAL_MS) {
        this.lastKeyRefresh.set(origin, this.now());
        peer = await this.discover(origin, true);
      }
      return peer.keyId === keyId ? peer.key : null;
    } catch {
      return null;
    }
  }

  private async fetchPeer(serverName: string): Promise<Peer> {
    try {
      const peer = await this.fetchDocument(serverName);
      this.peers.set(serverName, peer);
      this.failures.delete(serverName);
      this.opts.store.putPeer(toRow(peer));
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
    this.failures.set(serverName, { error, until: this.now() + wait, failures });
    this.opts.logger.warn({ peer: serverName, failures, retry_in_ms: wait, err: cause.message }, "discovery failed");
  }

  private async fetchDocument(serverName: string): Promise<Peer> {
    let url = `${this.hosts.get(serverName) ?? `https://${serverName}`}${WELL_KNOWN_PATH}`;
    const seen = new Set<string>();
    for (let hop = 0; ; hop++) {
      checkScheme(url, `discovery URL of ${serverName}`);
      seen.add(url);
      const answer = await sendRaw(this.opts.dispatcher, url, { method: "GET", headers: { accept: "application/json" }, timeoutMs: DISCOVERY_FETCH_TIMEOUT_MS });
      const location = answer.headers.location;
      if (answer.status >= 300 && answer.status < 400 && typeof location === "string") {
        url = new URL(location, url).toString();
        // `hop` redirects were followed before this one: this is redirect hop + 1, at most MAX_REDIRECTS (DISC-15).
        if (hop + 1 > MAX_REDIRECTS || seen.has(url)) throw unreachable(serverName, "too many redirects or a redirect loop");
        continue;
      }
      if (answer.status !== 200) throw unreachable(serverName, `discovery answered ${answer.status}`);
      if (answer.raw.length > DISCOVERY_MAX_DOCUMENT_BYTES) throw unreachable(serverName, `discovery document over ${DISCOVERY_MAX_DOCUMENT_BYTES} bytes`);
      return this.checkDocument(serverName, answer.body, maxAgeMs(answer.headers["cache-control"]));
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
      serverName, endpoint: doc.endpoint.replace(/\/+$/, ""), version: doc.version, components: doc.components,
      keyId: doc.key_id, publicKey: doc.public_key, key, limits: doc.limits, discoveredTs: now, expiresTs: now + ttlMs,
    };
  }

  private loadPeer(row: PeerRow): void {
    const raw = parsePublicKey(row.public_key);
    if (!raw) return;
    try {
      this.peers.set(row.server_name, {
        serverName: row.server_name, endpoint: row.endpoint, version: row.version, components: JSON.parse(row.components) as string[],
        keyId: row.key_id, publicKey: row.public_key, key: verifyKeyFrom(row.key_id, raw), limits: JSON.parse(row.limits) as Limits,
        discoveredTs: row.discovered_ts, expiresTs: row.expires_ts,
      });
    } catch {
      // A stored key that no longer passes the checks is simply rediscovered.
    }
  }
}

function toRow(p: Peer): PeerRow {
  return {
    server_name: p.serverName, endpoint: p.endpoint, version: p.version, components: JSON.stringify(p.components),
    key_id: p.keyId, public_key: p.publicKey, limits: JSON.stringify(p.limits), discovered_ts: p.discoveredTs, expires_ts: p.expiresTs,
  };
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
