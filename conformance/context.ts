// Conformance harness: what a check is, and the context it runs in (the two instances under test and the fake peer).
import type { Dispatcher } from "undici";
import type { VerifyKey } from "../protocol/keys.ts";
import type { ServerDiscovery } from "../protocol/types.ts";
import type { ControlClient } from "./control-client.ts";
import type { FakePeer } from "./fake-peer.ts";
import type { WireRecorder } from "./wire-log.ts";
import type { Profile } from "./profiles.ts";

export type Level = "MUST" | "SHOULD";
export type Role = "alice" | "bob";
export const ROLES: Role[] = ["alice", "bob"];

/** One instance under test, as the harness reaches it. */
export interface Target {
  role: Role;
  /** Its server name (from GET /control/v1/instance). */
  name: string;
  /** Base URL of its Control API. */
  baseUrl: string;
  /** Base URL of its federation API and well-known document (InstanceInfo.endpoint; often the same as baseUrl). */
  federationUrl?: string;
  control: ControlClient;
  /** Its data directory, where the harness started the instance itself (reference, --*-cmd); absent for URLs and images. */
  dataDir?: string;
  /** Its Control API bearer token (for checks that must send raw bytes to the Control API). */
  token: string;
  /** Filled by the discovery checks. */
  discovery?: ServerDiscovery;
  key?: VerifyKey;
  /** Kills the instance abruptly and brings it back on the same data, port and token (durability checks); absent when the harness cannot. */
  restart?: () => Promise<void>;
}

/**
 * Facts one check establishes for later ones (a later check names the earlier one as a prerequisite). Checks read
 * and write it only through checks/support/state.ts, so that every fact has one name and one "missing" message.
 */
export interface SharedState {
  /** The success-criteria channel hubbed by alice, with bob as member. */
  channel?: string;
  /** Every event ID the harness caused on that channel, in the order the hub acknowledged them. */
  published: Array<{ event_id: string; seq: number }>;
  /** Task created by the Roshumba success criterion. */
  taskId?: string | number;
  /** Per target: the channel it hubs for adversarial checks, and the fake-peer-hubbed channel it joined. */
  adv: Partial<Record<Role, { channel?: string; fakeChannel?: string; taskCount?: number; secondChannel?: string }>>;
  latency?: LatencyStats;
}

export interface LatencyStats {
  calls: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  boundMs: number;
}

export interface Options {
  /** Optional profiles selected with --profile (spec §18); checks of other profiles are reported excluded. */
  profiles: Profile[];
  latencyCalls: number;
  latencyP99Ms: number;
  strict: boolean;
  verbose: boolean;
  /** Upper bound for waiting on asynchronous delivery (events, invites, backfill). */
  deliveryTimeoutMs: number;
}

export interface CheckContext {
  alice: Target;
  bob: Target;
  fake: FakePeer;
  dispatcher: Dispatcher;
  recorder: WireRecorder;
  options: Options;
  /** Short random tag that keeps channel names and call IDs unique across runs against long-lived instances. */
  runId: string;
  state: SharedState;
  /** Lines added to the check's report (e.g. measured values). */
  note(line: string): void;
}

export interface Check {
  /** `<group>/<area>/<name>[@alice|@bob]`, e.g. `adv/sign/replay@bob`. */
  id: string;
  name: string;
  /** Requirement IDs from spec/requirements.json, at least one (cli.test.ts rejects an ID the spec does not define). */
  requirements: string[];
  level: Level;
  /** Checks whose success this one relies on; if one did not pass, this one is "not testable" (a failure). */
  prerequisites: string[];
  /** The instances this check kills and restarts: it runs only where the harness can restart them (and not with --no-durability). */
  restarts?: Role[];
  /** The optional profile (spec §18) this check belongs to: it runs only when that profile is selected (--profile). */
  profile?: Profile;
  /**
   * Declared on a perTarget check whose @alice and @bob halves share no state and wait on their instance more than
   * they load the machine: the runner runs the two side by side (the fake peer's send behaviour scoped to one origin,
   * `withSendBehaviour(..., t.name)`). Never on checks that measure latency or rates, restart the other instance, or
   * change what the fake peer does for every origin.
   */
  sideBySide?: boolean;
  run(ctx: CheckContext): Promise<void>;
}

export function target(ctx: CheckContext, role: Role): Target {
  return role === "alice" ? ctx.alice : ctx.bob;
}

export function other(role: Role): Role {
  return role === "alice" ? "bob" : "alice";
}

/** Declares the same check once per instance under test: `id@alice`, `id@bob`, prerequisites likewise. */
export function perTarget(
  make: (role: Role) => Omit<Check, "id" | "prerequisites"> & { id: string; prerequisites?: string[] },
): Check[] {
  return ROLES.map((role) => {
    const c = make(role);
    return { ...c, id: `${c.id}@${role}`, prerequisites: (c.prerequisites ?? []).map((p) => p.replace("@@", `@${role}`)) };
  });
}

