// Naomi (event bus): membership changes are events, applied in seq order by the hub and by participants alike (spec §9).
import { isReservedType } from "../../protocol/events.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import type { Event } from "../../protocol/types.ts";
import type { ChannelRow, Store } from "../storage/db.ts";
import type { HubLog } from "./hub-log.ts";
import { memberOf } from "./reserved-types.ts";

export class Membership {
  constructor(
    private readonly self: string,
    private readonly store: Store,
    private readonly log: HubLog,
  ) {}

  /** Applies a reserved membership event to the member table; `row` (a batch's copy) is kept in step with joined. */
  apply(event: Event, row?: ChannelRow): void {
    if (!isReservedType(event.type)) return;
    this.log.membershipChanged(event.channel);
    const server = memberOf(event);
    if (event.type === "smcp:channel.create") this.store.memberJoin(event.channel, parseChannelId(event.channel)!.hub, event.seq);
    else if (event.type === "smcp:member.join" && server) {
      this.store.memberJoin(event.channel, server, event.seq);
      if (server === this.self) this.setJoined(event.channel, true, row);
    } else if (event.type === "smcp:member.leave" && server) {
      this.store.memberLeave(event.channel, server, event.seq);
      if (server === this.self) this.setJoined(event.channel, false, row);
    }
  }

  private setJoined(channel: string, joined: boolean, row?: ChannelRow): void {
    this.store.setJoined(channel, joined);
    if (row) row.joined = joined ? 1 : 0;
  }
}
