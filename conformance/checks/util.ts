// Conformance harness: helpers shared by the checks (federation requests as the fake peer, tool-call bodies, percentiles).
import { sendRaw, type HttpAnswer } from "../../protocol/http-client.ts";
import { verifyKeyFrom, parsePublicKey } from "../../protocol/keys.ts";
import type { Event, RemoteCall, RemoteCallResult, ServerDiscovery, Transaction } from "../../protocol/types.ts";
import { CheckFailure, ensure, expectOk, fail, InstanceInvalid, show } from "../assert.ts";
import { target, type CheckContext, type Role, type Target } from "../context.ts";
import { bodyText } from "../wire-log.ts";

/** The target with everything the discovery checks established; a check that needs them lists those as prerequisites. */
export function known(ctx: CheckContext, role: Role): Required<Target> {
  const t = target(ctx, role);
  if (!t.discovery || !t.key) throw new CheckFailure(`${role} has not been discovered yet`, undefined, undefined, "harness-error");
  return t as Required<Target>;
}

export function limitsOf(t: Target): ServerDiscovery["limits"] {
  if (!t.discovery) throw new CheckFailure(`${t.role} has not been discovered yet`, undefined, undefined, "harness-error");
  return t.discovery.limits;
}

/** An unsigned GET recorded in the wire log (well-known and keys documents). */
export async function unsignedGet(ctx: CheckContext, url: string, via: string): Promise<HttpAnswer> {
  const started = performance.now();
  try {
    const a = await sendRaw(ctx.dispatcher, url, { method: "GET", headers: {}, timeoutMs: 10_000 });
    ctx.recorder.record({ dir: "out", via, method: "GET", url, status: a.status, response: bodyText(a.raw), ms: Math.round(performance.now() - started) });
    return a;
  } catch (err) {
    ctx.recorder.record({ dir: "out", via, method: "GET", url, problems: [(err as Error).message] });
    throw new CheckFailure(`${url} unreachable`, "an HTTP answer", (err as Error).message);
  }
}

export function verifyKeyOfDiscovery(doc: ServerDiscovery): ReturnType<typeof verifyKeyFrom> {
  const raw = parsePublicKey(doc.public_key);
  if (!raw) throw new InstanceInvalid("discovery public_key is not ed25519:<32 bytes base64url>", doc.public_key);
  try {
    return verifyKeyFrom(doc.key_id, raw);
  } catch (err) {
    throw new CheckFailure(`discovery public_key is unacceptable: ${(err as Error).message}`, "a canonical, non-small-order Ed25519 key", doc.public_key);
  }
}

export function uid(ctx: CheckContext, what: string): string {
  return `${what}-${ctx.runId}-${Math.random().toString(36).slice(2, 8)}`;
}

export function remoteCall(ctx: CheckContext, t: Target, tool: string, params: Record<string, unknown>, callId = uid(ctx, "call"), component = "vikunja"): RemoteCall {
  return { origin: ctx.fake.name, call_id: callId, target: `smcp://${t.name}/${component}`, tool, params: params as RemoteCall["params"] };
}

/** A signed call from the fake peer; returns the raw answer (the check decides what it should be). */
export function fakeCall(ctx: CheckContext, t: Target, body: RemoteCall): Promise<HttpAnswer> {
  return ctx.fake.send(t.name, { method: "POST", path: "/federation/v1/call", body });
}

/** The structured result of a successful tool call, with the conformance-profile shape checked. */
export function structured(r: RemoteCallResult, where: string): Record<string, unknown> {
  if (r.result.isError === true) fail(`${where}: the tool reported an error`, "isError absent or false", r.result);
  const s = r.result.structuredContent as Record<string, unknown> | undefined;
  ensure(s && typeof s === "object", `${where}: no structuredContent (conformance profile)`, "structuredContent", r.result);
  return s;
}

export interface Task {
  id: string | number;
  title: string;
  done: boolean;
}

export function taskOf(r: RemoteCallResult, where: string): Task {
  const task = structured(r, where).task as Task | undefined;
  ensure(
    task && (typeof task.id === "string" || typeof task.id === "number") && typeof task.title === "string" && typeof task.done === "boolean",
    `${where}: structuredContent.task is not {id, title, done}`,
    "{task:{id,title,done}}",
    r.result.structuredContent,
  );
  return task;
}

export function tasksOf(r: RemoteCallResult, where: string): Task[] {
  const tasks = structured(r, where).tasks;
  ensure(Array.isArray(tasks), `${where}: structuredContent.tasks is not an array`, "{tasks:[...]}", r.result.structuredContent);
  return tasks as Task[];
}

export async function fakeListTasks(ctx: CheckContext, t: Target): Promise<Task[]> {
  const a = await fakeCall(ctx, t, remoteCall(ctx, t, "list_tasks", {}));
  return tasksOf(expectOk<RemoteCallResult>(a, "RemoteCallResult", "list_tasks"), "list_tasks");
}

export function transaction(ctx: CheckContext, parts: Omit<Transaction, "origin" | "origin_ts">): Transaction {
  return { origin: ctx.fake.name, origin_ts: Date.now(), ...parts };
}

/** Checks that a list is the chain 1..n: consecutive seqs, each prev_event naming the one before. */
export function chainProblem(events: Event[]): string | null {
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.seq !== i + 1) return `position ${i} holds seq ${e.seq}, expected ${i + 1}`;
    const prev = i === 0 ? null : events[i - 1]!.event_id;
    if (e.prev_event !== prev) return `seq ${e.seq}: prev_event ${show(e.prev_event)} is not ${show(prev)}`;
  }
  return null;
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The backfill path for a channel; the channel ID is percent-encoded as one path segment (spec §2.3). */
export function backfillPath(channel: string, query: string): string {
  return `/federation/v1/channels/${encodeURIComponent(channel)}/events?${query}`;
}
