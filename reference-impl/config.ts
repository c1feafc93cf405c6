// Reference instance configuration (all SMCP components): what an operator may set, and the defaults (spec §6.2 limits).
import type { ComponentConfig } from "./components/host.ts";

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
  /** Hubs whose invites are accepted (spec §9.1 CHAN-26); absent or empty, none are, unless acceptAllInvites. */
  inviteAllowList?: string[];
  /**
   * The conformance profile's invite policy (spec §16 CONF-10): accept an invite from every hub that authenticates,
   * within the participation bounds. Off by default: a participation commits this instance to storing what the hub
   * sequences and to fetching from it, so only hubs the operator named get one (CHAN-26).
   */
  acceptAllInvites?: boolean;
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
  /** Check every answer against its schema (on by default outside production). */
  validateResponses?: boolean;
}

export const DEFAULTS = {
  listenHost: "127.0.0.1",
  listenPort: 0,
  maxBodyBytes: 1024 * 1024,
  maxTxnItems: 100,
  maxEventDataBytes: 64 * 1024,
  maxClockSkewMs: 60_000,
  ratePerSecond: 200,
  rateBurst: 400,
  pingIntervalMs: 10_000,
  queueBound: 10_000,
  gapDelayMs: 500,
  idleBackfillMs: 30_000,
  backfillRetryMaxMs: 3_600_000,
  backfillGiveUpAfter: 10,
  maxParticipationsPerHub: 100,
  maxParticipations: 1000,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  /** 10 ms lets the events published meanwhile share a transaction (bench/README.md has the measurements). */
  lingerMs: 10,
} as const;

/** The environment variables an operator may use instead of the config file: NAOMI_LINGER_MS (lingerMs, ≥ 0). */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): Pick<InstanceConfig, "lingerMs"> {
  const text = env.NAOMI_LINGER_MS;
  const linger = text ? Number(text) : NaN;
  return Number.isFinite(linger) && linger >= 0 ? { lingerMs: linger } : {};
}
