// Conformance harness, check support: matchers for what instances answer — tool-call results, event chains, discovery keys (spec §4.1, §7.1, §10).
import { parsePublicKey, verifyKeyFrom } from "../../../protocol/keys.ts";
import type { Event, RemoteCallResult, ServerDiscovery } from "../../../protocol/types.ts";
import { CheckFailure, ensure, fail, InstanceInvalid, show } from "../../assert.ts";

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

/** The verify key a discovery document advertises; an unusable key fails the check. */
export function verifyKeyOfDiscovery(doc: ServerDiscovery): ReturnType<typeof verifyKeyFrom> {
  const raw = parsePublicKey(doc.public_key);
  if (!raw) throw new InstanceInvalid("discovery public_key is not ed25519:<32 bytes base64url>", doc.public_key);
  try {
    return verifyKeyFrom(doc.key_id, raw);
  } catch (err) {
    throw new CheckFailure(`discovery public_key is unacceptable: ${(err as Error).message}`, "a canonical, non-small-order Ed25519 key", doc.public_key);
  }
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
