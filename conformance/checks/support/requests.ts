// Conformance harness, check support: request and body builders — federation requests as the fake peer, calls, transactions, submissions (spec §5-§10).
import { sendRaw, type HttpAnswer } from "../../../protocol/http-client.ts";
import { generateSeed, signingKeyFromSeed, type SigningKey } from "../../../protocol/keys.ts";
import type { Event, RemoteCall, RemoteCallResult, Submission, Transaction } from "../../../protocol/types.ts";
import { CheckFailure, expectOk } from "../../assert.ts";
import type { CheckContext, Role, Target } from "../../context.ts";
import { bodyText } from "../../wire-log.ts";
import { tasksOf, type Task } from "./matchers.ts";
import { advChannel, known } from "./state.ts";

/** A name unique to this run (channels, call IDs, markers stay distinct against long-lived instances). */
export function uid(ctx: CheckContext, what: string): string {
  return `${what}-${ctx.runId}-${Math.random().toString(36).slice(2, 8)}`;
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

/** A fresh key posing under the fake's advertised key ID: its signatures must not verify. */
export function impostorKey(ctx: CheckContext): SigningKey {
  return { ...signingKeyFromSeed(generateSeed()), keyId: ctx.fake.key.keyId };
}

export function remoteCall(ctx: CheckContext, t: Target, tool: string, params: Record<string, unknown>, callId = uid(ctx, "call"), component = "vikunja"): RemoteCall {
  return { origin: ctx.fake.name, call_id: callId, target: `smcp://${t.name}/${component}`, tool, params: params as RemoteCall["params"] };
}

/** A signed call from the fake peer; returns the raw answer (the check decides what it should be). */
export function fakeCall(ctx: CheckContext, t: Target, body: RemoteCall): Promise<HttpAnswer> {
  return ctx.fake.send(t.name, { method: "POST", path: "/federation/v1/call", body });
}

export async function fakeListTasks(ctx: CheckContext, t: Target): Promise<Task[]> {
  const a = await fakeCall(ctx, t, remoteCall(ctx, t, "list_tasks", {}));
  return tasksOf(expectOk<RemoteCallResult>(a, "RemoteCallResult", "list_tasks"), "list_tasks");
}

/** A transaction with the fake peer as origin, stamped now. */
export function transaction(ctx: CheckContext, parts: Omit<Transaction, "origin" | "origin_ts">): Transaction {
  return { origin: ctx.fake.name, origin_ts: Date.now(), ...parts };
}

/** Sends a transaction from the fake peer to `role`. */
export async function sendTxn(ctx: CheckContext, role: Role, parts: Parameters<typeof transaction>[1], txnId = ctx.fake.nextTxnId()): Promise<HttpAnswer> {
  return ctx.fake.send(known(ctx, role).name, { method: "PUT", path: `/federation/v1/send/${txnId}`, body: transaction(ctx, parts) });
}

/** A submission from the fake peer to `role`'s adversarial channel, with a unique marker in its data. */
export function submission(ctx: CheckContext, role: Role, over: Partial<Submission> = {}): Submission {
  return {
    submission_id: uid(ctx, "sub"),
    channel: advChannel(ctx, role),
    type: "conformance:from-fake",
    sender: ctx.fake.name,
    origin_ts: Date.now(),
    data: { marker: uid(ctx, "marker") } as unknown as Submission["data"],
    ...over,
  };
}

/** The marker a submission or event carries in its data. */
export function markerOf(x: { data: unknown }): unknown {
  return (x.data as { marker?: unknown }).marker;
}

/** Events on `role`'s adversarial channel (or `channel`) carrying `marker` (to prove something was sequenced once, or never). */
export async function withMarker(ctx: CheckContext, role: Role, marker: unknown, channel = advChannel(ctx, role)): Promise<Event[]> {
  const evs = await known(ctx, role).control.allEvents(channel);
  return evs.filter((e) => markerOf(e) === marker);
}

/** The backfill path for a channel; the channel ID is percent-encoded as one path segment (spec §2.3). */
export function backfillPath(channel: string, query: string): string {
  return `/federation/v1/channels/${encodeURIComponent(channel)}/events?${query}`;
}
