// Reference instance configuration (all SMCP components): what an operator may set, and the defaults (spec §6.2 limits).
import { DEFAULT_LIMITS, DEFAULT_PING_INTERVAL_MS, IDLE_BACKFILL_MS, OUTBOUND_QUEUE_BOUND, TXN_RETRY_BACKOFF } from "../protocol/limits.ts";
import type { ComponentConfig } from "./components/host.ts";
import type { GailForwardingConfig } from "../protocol/types.ts";

export interface InstanceConfig {
  /** This instance's server name (spec §2.1). */
  serverName: string;
  listenHost?: string;
  /** 0 picks a free port. */
  listenPort?: number;
  dataDir: string;
  /** Public base URL peers use (discovery `endpoint`); defaults to the listening address. */
  publicUrl?: string;
  /** Static host map for test deployments: server name → base URL (spec §6.4). */
  peers?: Record<string, string>;
  /** Control API token; generated and stored in `<dataDir>/control-token` when absent. */
  controlToken?: string;
  /** PEM files: serve HTTPS, and trust this CA for peers. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  caFile?: string;
  rateLimit?: { perSecond?: number; burst?: number };
  limits?: { maxBodyBytes?: number; maxTxnItems?: number; maxEventDataBytes?: number; maxClockSkewMs?: number };
  /** Servers that may call tools here without being members of a channel this instance hubs (spec §10.5 CALL-21). */
  callAllowList?: string[];
  /** 1.1 forwarding consent: `ORIGIN>DESTINATION` rules, `*` for any (spec §10.6 FWD-13); none by default. */
  forwardAllow?: string[];
  /** 1.1 forwarding routes: `DESTINATION=VIA` (spec §10.6 FWD-27, §11.3). */
  forwardRoutes?: string[];
  /** Hubs whose invites are accepted (spec §9.1 CHAN-26); absent or empty, none are, unless acceptAllInvites. */
  inviteAllowList?: string[];
  /**
   * The conformance profile's invite policy (spec §16 CONF-10): accept an invite from every hub that authenticates,
   * within the participation bounds. Off by default: a participation commits this instance to storing what the hub
   * sequences and to fetching from it, so only hubs the operator named get one (CHAN-26).
   */
  acceptAllInvites?: boolean;
  /** Protocol versions this instance speaks and advertises (spec §14); default every supported one. ["1.0"] plays a 1.0-only instance that uses no 1.1 feature. */
  protocolVersions?: string[];
  /** Channels of one hub this instance participates in at most; further invites are declined (spec §9.1 CHAN-27). */
  maxParticipationsPerHub?: number;
  /** Channels this instance participates in at most, all hubs together (spec §9.1 CHAN-27). */
  maxParticipations?: number;
  /** Extra MCP components (stdio command). */
  components?: ComponentConfig[];
  /** Run the built-in vikunja sample component (default true). */
  includeVikunja?: boolean;
  logLevel?: string;
  /** Log destination: a file path, or "stderr" (default). */
  logDestination?: string;
  /** Vendela ping interval (ms); 0 disables the periodic pinger. */
  pingIntervalMs?: number;
  /** Naomi tuning (tests shorten these). */
  queueBound?: number;
  gapDelayMs?: number;
  idleBackfillMs?: number;
  /** Backfill from a failing hub backs off from idleBackfillMs, doubling up to this (spec §9.4 DLV-36). */
  backfillRetryMaxMs?: number;
  /** Consecutive failed backfill requests after which a hub is not asked again until it sends a request (DLV-37). */
  backfillGiveUpAfter?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /**
   * How long (ms) an outbound transaction to a peer receiving a stream of events waits for the ones being published
   * meanwhile, so that they share one transaction; 0 sends at once. Unset, NAOMI_LINGER_MS sets it (see fromEnvironment).
   */
  lingerMs?: number;
  /** Clock (tests inject one to make rate limits exact); Date.now by default. */
  now?: () => number;
  /** Discovery bounds (issue 10): peers recorded, total deadline of one discovery, resolver for tests. */
  discovery?: { maxPeers?: number; deadlineMs?: number; resolve?: (hostname: string) => Promise<string[]> };
  /** RATE-13: discoveries for unverified requests per client address (default 2/s, burst 32). */
  unauthenticatedBudget?: { perSecond: number; burst: number };
  /** Replay cache bounds: all origins, and one origin's share (SIGN-41, SIGN-49). */
  replayCache?: { entries?: number; perOrigin?: number };
  /** Slow-client bounds of the HTTP edge: connections per client address, header and request deadlines (RATE-11, RATE-12). */
  edge?: { maxConnectionsPerAddress?: number; headersTimeoutMs?: number; requestTimeoutMs?: number };
  /** The Judith profile (spec §18.1): cross-instance workflows; on unless `enabled: false`. Tests shorten the tick and retries. */
  judith?: { enabled?: boolean; tickMs?: number; retryBaseMs?: number; retryMaxMs?: number };
  /** Gail profile (spec §18.2): on by default (inert until forwarding is configured); forwarding configured at start. */
  gail?: { enabled?: boolean; forward?: GailForwardingConfig; maxRecordsPerSource?: number };
  /** Kathy profile (spec §18.3): on by default; channel → key patterns this instance opts into at start. */
  kathy?: { enabled?: boolean; subscriptions?: Record<string, string[]> };
  /** Check every answer against its schema (on by default outside production). */
  validateResponses?: boolean;
}

/** Defaults for what the operator leaves out: the spec's from protocol/limits.ts, the rest the reference's own tuning. */
export const DEFAULTS = {
  listenHost: "127.0.0.1",
  listenPort: 0,
  maxBodyBytes: DEFAULT_LIMITS.max_body_bytes,
  maxTxnItems: DEFAULT_LIMITS.max_txn_items,
  maxEventDataBytes: DEFAULT_LIMITS.max_event_data_bytes,
  maxClockSkewMs: DEFAULT_LIMITS.max_clock_skew_ms,
  ratePerSecond: DEFAULT_LIMITS.rate_per_second,
  rateBurst: DEFAULT_LIMITS.rate_burst,
  pingIntervalMs: DEFAULT_PING_INTERVAL_MS,
  queueBound: OUTBOUND_QUEUE_BOUND,
  gapDelayMs: 500,
  idleBackfillMs: IDLE_BACKFILL_MS,
  backoffBaseMs: TXN_RETRY_BACKOFF.baseMs,
  backoffMaxMs: TXN_RETRY_BACKOFF.maxMs,
  backfillRetryMaxMs: 3_600_000,
  backfillGiveUpAfter: 10,
  maxParticipationsPerHub: 100,
  maxParticipations: 1000,
  /** 10 ms lets the events published meanwhile share a transaction (bench/README.md has the measurements). */
  lingerMs: 10,
} as const;

/** The environment variables an operator may use instead of the config file: NAOMI_LINGER_MS (lingerMs, ≥ 0). */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): Pick<InstanceConfig, "lingerMs"> {
  const text = env.NAOMI_LINGER_MS;
  const linger = text ? Number(text) : NaN;
  return Number.isFinite(linger) && linger >= 0 ? { lingerMs: linger } : {};
}
