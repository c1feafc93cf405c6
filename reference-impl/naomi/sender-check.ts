// Naomi (event bus), participant side, protocol 1.1: which senders' events must carry a valid sender signature, and
// whether they do (spec §7.5 EVT-27..EVT-31) — the senders' keys and versions are resolved before the batch is stored.
import { parseChannelId } from "../../protocol/identity.ts";
import type { VerifyKey } from "../../protocol/keys.ts";
import { eventSenderSignatureVerifies } from "../../protocol/sender-signature.ts";
import type { Event } from "../../protocol/types.ts";
import { speaks } from "../../protocol/versions.ts";
import type { Authenticator } from "./authenticate.ts";

/** A sender's discovered key and versions; null when it could not be discovered. */
export interface SenderInfo {
  key: VerifyKey;
  versions: readonly string[];
}

/** Resolves a server's key and versions through discovery (cached); null on failure. */
export type ResolveSender = (server: string) => Promise<SenderInfo | null>;

/** EVT-31: distinct senders a participant looks up for one transaction or backfill page, at most (the rest as EVT-30). */
export const MAX_SENDERS_PER_BATCH = 64;

/** The senders of `events` (other than their channels' hubs) resolved, at most MAX_SENDERS_PER_BATCH of them. */
export async function resolveSenders(events: readonly Event[], resolve: ResolveSender): Promise<Map<string, SenderInfo | null>> {
  const names: string[] = [];
  for (const e of events) {
    if (typeof e?.sender !== "string" || e.sender === parseChannelId(e.channel)?.hub || names.includes(e.sender)) continue;
    if (names.length >= MAX_SENDERS_PER_BATCH) break;
    names.push(e.sender);
  }
  const infos = await Promise.all(names.map((n) => resolve(n).catch(() => null)));
  return new Map(names.map((n, i) => [n, infos[i]!]));
}

/**
 * Why an authenticated event fails the sender-signature rules, or null: a carried `sender_signature` must verify with
 * the sender's key; when the hub lists 1.1, an event of a sender that lists 1.1 must carry one. The hub's own events
 * are its own words, vouched for by `hub_signature`.
 */
export function senderProblem(event: Event, hubSpeaks11: boolean, senders: Map<string, SenderInfo | null>): string | null {
  if (event.sender === parseChannelId(event.channel)?.hub) return null;
  const info = senders.get(event.sender);
  // EVT-30: a sender this participant cannot discover is vouched for by the hub alone, as in 1.0 — a member it cannot
  // reach must not freeze the channel for it; discovery is the root of trust either way (§15).
  if (!info) return null;
  if (event.sender_signature !== undefined) {
    return eventSenderSignatureVerifies(info.key, event) ? null : `sender_signature does not verify with the key of ${event.sender}`;
  }
  if (!hubSpeaks11) return null;
  return speaks(info.versions, "1.1") ? `${event.sender} speaks 1.1, and its event carries no sender_signature` : null;
}

/** The batch's authenticator with the sender-signature rules added after the hub's (TXN-27 as amended by EVT-29). */
export function withSenderCheck(auth: Authenticator, hubSpeaks11: boolean, senders: Map<string, SenderInfo | null>): Authenticator {
  return { ...auth, problem: (event) => auth.problem(event) ?? senderProblem(event, hubSpeaks11, senders) };
}

/** Adds the sender-signature rules to a batch's authenticator; the identity for a 1.0-only instance. */
export type SenderCheck = (auth: Authenticator) => Authenticator;

/** Prepares the sender check of one batch of a hub's events: resolves their senders first (the only async part). */
export type PrepareSenderCheck = (hub: string, events: readonly Event[]) => Promise<SenderCheck>;

export function senderChecks(opts: {
  /** This instance speaks 1.1; a 1.0-only instance knows nothing of sender signatures (VER-05). */
  v11: boolean;
  /** A peer's versions from its cached discovery document. */
  peerVersions: (server: string) => readonly string[] | undefined;
  resolve: ResolveSender;
}): PrepareSenderCheck {
  if (!opts.v11) return async () => (auth) => auth;
  return async (hub, events) => {
    const senders = await resolveSenders(events, opts.resolve);
    const hubSpeaks11 = speaks(opts.peerVersions(hub), "1.1");
    return (auth) => withSenderCheck(auth, hubSpeaks11, senders);
  };
}
