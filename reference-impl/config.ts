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
  /** Servers that may call tools here without sharing a channel (spec §10). */
  callAllowList?: string[];
  /** Servers whose invites are accepted; absent accepts every invite. */
  inviteAllowList?: string[];
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
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Slow-client bounds of the HTTP edge (issue 10): connections per client address, header and request deadlines. */
  /** Clock (tests inject one to make rate limits exact); Date.now by default. */
  now?: () => number;
  /** Discovery bounds (issue 10): peers recorded, total deadline of one discovery, resolver for tests. */
  discovery?: { maxPeers?: number; deadlineMs?: number; resolve?: (hostname: string) => Promise<string[]> };
  /** RATE-13: discoveries for unverified requests per client address (default 2/s, burst 32). */
  unauthenticatedBudget?: { perSecond: number; burst: number };
  /** Replay cache bounds: all origins, and one origin's share (SIGN-41, SIGN-49). */
  replayCache?: { entries?: number; perOrigin?: number };
  edge?: { maxConnectionsPerAddress?: number; headersTimeoutMs?: number; requestTimeoutMs?: number };
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
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
} as const;
