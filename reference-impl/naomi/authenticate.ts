// Naomi (event bus), participant side: amortised authentication of a batch of events — one hub signature per channel
// authenticates the prev_event chain below it (spec §7.3 EVT-15, §7.4 EVT-18; evidence for §15).
import { eventIdProblem, prevEventProblem } from "../../protocol/events.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import type { VerifyKey } from "../../protocol/keys.ts";
import type { Event } from "../../protocol/types.ts";
import { MAX_EVENT_DATA_DEPTH, tooDeep } from "../../protocol/json-depth.ts";

/** EVT-15 and EVT-18 over one batch of events. */
export interface Authenticator {
  /** Why the event's ID does not recompute from its content (EVT-15), or null when it does. */
  idProblem(event: Event): string | null;
  /** Why the event is not authenticated, or null when it is. */
  problem(event: Event): string | null;
  /**
   * Self-standing evidence that the hub signed an authenticated event: the event itself when its own signature
   * verifies, else the chain from it up to the event whose signature authenticated it (spec §15).
   */
  evidence(event: Event): Event | Event[];
}

/** Checks one event's hub_signature (spec §7.4). */
export type VerifyEvent = (hubKey: VerifyKey, event: Event) => boolean;

/**
 * EVT-15 and EVT-18 for the events of one transaction or backfill page: every ID is recomputed, then per channel
 * the newest event's signature is verified and everything it links to through prev_event (within the batch) is
 * authenticated by it; the hash chain commits to each ancestor's content. An event no verified event links to
 * gets its own check, so one signature per channel suffices in the common case. Pure CPU: no store, no clock.
 */
export function authenticate(hub: string, key: VerifyKey, events: Event[], verify: VerifyEvent): Authenticator {
  const { idProblems, chains } = chainsOf(hub, events);
  // event_id → the event of the batch that links to it (its child), for walking up to the verified event.
  const authentic = new Set<string>();
  const child = new Map<string, Event>();
  for (const chain of chains.values()) {
    for (const top of [...chain.values()].sort((a, b) => b.seq - a.seq)) {
      if (authentic.has(top.event_id) || !verify(key, top)) continue;
      for (let e: Event | undefined = top; e && !authentic.has(e.event_id); ) {
        authentic.add(e.event_id);
        const parent: Event | undefined = e.prev_event === null ? undefined : chain.get(e.prev_event);
        if (parent) child.set(parent.event_id, e);
        e = parent;
      }
    }
  }
  return {
    idProblem: (event) => idProblems.get(event) ?? null,
    problem: (event) => idProblems.get(event) ?? (authentic.has(event.event_id)
      ? prevEventProblem(event)
      : "hub_signature does not verify and no event of this batch whose signature verifies links to it"),
    evidence: (event) => {
      const path = [event];
      for (let e = event; !verify(key, e); ) {
        const next = child.get(e.event_id);
        if (!next) break;
        path.push((e = next));
      }
      return path.length === 1 ? event : path;
    },
  };
}

/** The batch's events whose IDs recompute, per channel by event_id; the others with why they do not. */
function chainsOf(hub: string, events: Event[]): { idProblems: Map<Event, string>; chains: Map<string, Map<string, Event>> } {
  const idProblems = new Map<Event, string>();
  const chains = new Map<string, Map<string, Event>>();
  for (const event of events) {
    if (parseChannelId(event.channel)?.hub !== hub) continue; // refused as SMCP_NOT_HUB before authentication matters
    // Depth first: an over-deep event is refused before anything recurses over it (spec §7.2 EVT-20).
    const deep = tooDeep(event.data, MAX_EVENT_DATA_DEPTH);
    const problem = deep !== null ? `data nests deeper than ${MAX_EVENT_DATA_DEPTH} levels at ${deep || "/"}` : eventIdProblem(event);
    if (problem) {
      idProblems.set(event, problem);
      continue;
    }
    let chain = chains.get(event.channel);
    if (!chain) chains.set(event.channel, (chain = new Map()));
    chain.set(event.event_id, event);
  }
  return { idProblems, chains };
}
