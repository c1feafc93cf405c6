// Naomi (event bus): the reserved `smcp:` event types and their rules (spec §7.1 EVT-02..06).
import { isReservedType } from "../../protocol/events.ts";
import { isServerName } from "../../protocol/identity.ts";
import type { Event } from "../../protocol/types.ts";

/** The rules of the reserved `smcp:` types (spec §7.1 EVT-02..06); unknown `smcp:` types only need the hub as sender. */
export function reservedProblem(event: Event, hub: string): string | null {
  if ((event.seq === 1) !== (event.type === "smcp:channel.create")) return "seq 1 is smcp:channel.create, and only seq 1";
  if (!isReservedType(event.type)) return null;
  if (event.sender !== hub) return `${event.type} must be sent by the hub`;
  const d = event.data as Record<string, unknown>;
  if (event.type === "smcp:channel.create" && d.creator !== hub) return "smcp:channel.create must name the hub as creator";
  if (event.type === "smcp:member.join" && (typeof d.server !== "string" || !isServerName(d.server))) return "smcp:member.join needs data.server";
  if (event.type === "smcp:member.leave" && (typeof d.server !== "string" || !isServerName(d.server) || d.by !== hub)) {
    return "smcp:member.leave needs data.server and data.by = hub";
  }
  // 1.1 (spec §9.8 CHAN-33): a member's own leave names the leaver as initiator, and nobody else.
  if (event.type === "smcp:member.leave" && d.initiator !== undefined && d.initiator !== d.server) return "smcp:member.leave's initiator must be data.server";
  return null;
}

/** The server a membership event names, if any. */
export function memberOf(event: Event): string | undefined {
  return typeof event.data.server === "string" ? event.data.server : undefined;
}
