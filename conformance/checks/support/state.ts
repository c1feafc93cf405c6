// Conformance harness, check support: typed accessors for the facts one check establishes for later ones (CheckContext.state, targets).
import type { ServerDiscovery } from "../../../protocol/types.ts";
import type { FakePeer } from "../../fake-peer.ts";
import { CheckFailure, fail, NotApplicable } from "../../assert.ts";
import { speaks } from "../../../protocol/versions.ts";
import { target, type CheckContext, type LatencyStats, type Role, type SharedState, type Target } from "../../context.ts";

type AdvState = NonNullable<SharedState["adv"][Role]>;

function harnessError(message: string): CheckFailure {
  return new CheckFailure(message, undefined, undefined, "harness-error");
}

/** The target with everything the discovery checks established; a check that needs them lists those as prerequisites. */
export function known(ctx: CheckContext, role: Role): Required<Target> {
  const t = target(ctx, role);
  if (!t.discovery || !t.key) throw harnessError(`${role} has not been discovered yet`);
  return t as Required<Target>;
}

/** The limits a target advertised in its discovery document. */
export function limitsOf(t: Target): ServerDiscovery["limits"] {
  if (!t.discovery) throw harnessError(`${t.role} has not been discovered yet`);
  return t.discovery.limits;
}

/** The success-criteria channel (hubbed by alice, bob a member). */
export function sharedChannel(ctx: CheckContext): string {
  if (!ctx.state.channel) fail("no success-criteria channel");
  return ctx.state.channel;
}

export function setSharedChannel(ctx: CheckContext, channel: string): void {
  ctx.state.channel = channel;
}

/** Notes an event the harness caused on the shared channel, in the hub's acknowledgement order. */
export function notePublished(ctx: CheckContext, pub: { event_id: string; seq: number }): void {
  ctx.state.published.push({ event_id: pub.event_id, seq: pub.seq });
}

export function published(ctx: CheckContext): ReadonlyArray<{ event_id: string; seq: number }> {
  return ctx.state.published;
}

/** The task the Roshumba success criterion created. */
export function createdTask(ctx: CheckContext): string | number {
  if (ctx.state.taskId === undefined) fail("no task was created by the success criterion");
  return ctx.state.taskId;
}

export function setCreatedTask(ctx: CheckContext, id: string | number): void {
  ctx.state.taskId = id;
}

/** The latency figures the run's report carries (§16). */
export function noteLatency(ctx: CheckContext, stats: LatencyStats): void {
  ctx.state.latency = stats;
}

/** Adds to what the adversarial checks established about `role`. */
export function noteAdv(ctx: CheckContext, role: Role, facts: Partial<AdvState>): void {
  ctx.state.adv[role] = { ...ctx.state.adv[role], ...facts };
}

/** The channel `role` hubs for the adversarial checks, with the fake peer a member. */
export function advChannel(ctx: CheckContext, role: Role): string {
  const ch = ctx.state.adv[role]?.channel;
  if (!ch) fail(`no adversarial channel on ${role}`);
  return ch;
}

/** The fake-peer-hubbed channel `role` joined. */
export function fakeChannel(ctx: CheckContext, role: Role): string {
  const ch = ctx.state.adv[role]?.fakeChannel;
  if (!ch) fail(`${role} never joined the fake peer's channel`);
  return ch;
}

/** The second identity's name: other checks start siblings of the fake peer of their own (scripted remotes), so eve is found by name. */
const eveName = (ctx: CheckContext): string => `eve-${ctx.runId}.test`;

/** The harness's second signing identity (eve), started once per run by adv/setup/second-identity. */
export async function startSecondIdentity(ctx: CheckContext): Promise<FakePeer> {
  return ctx.fake.siblings.find((s) => s.name === eveName(ctx)) ?? ctx.fake.startSibling(eveName(ctx), ctx.recorder);
}

/** The second signing identity; a check that needs it lists adv/setup/second-identity as a prerequisite. */
export function secondIdentity(ctx: CheckContext): FakePeer {
  const eve = ctx.fake.siblings.find((s) => s.name === eveName(ctx));
  if (!eve) throw harnessError("the second signing identity has not been started");
  return eve;
}

/** The channel `role` hubs with the second identity (and not the fake peer) as member. */
export function secondChannel(ctx: CheckContext, role: Role): string {
  const ch = ctx.state.adv[role]?.secondChannel;
  if (!ch) fail(`the second identity is no member of a channel on ${role}`);
  return ch;
}

/** A 1.1 check against a target whose discovery does not list "1.1" does not apply: reported excluded with `why`, never passed (VER-11). */
export function needs11(t: Required<Target>, why: string): void {
  if (!speaks(t.discovery.versions, "1.1")) {
    throw new NotApplicable(`${t.role} (${t.name}) lists versions ${JSON.stringify(t.discovery.versions)} without "1.1": ${why}`);
  }
}
