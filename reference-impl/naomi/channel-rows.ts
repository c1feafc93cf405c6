// Naomi (event bus): reading a channel's row for the control API, with the spec's errors (spec §12.3, §13).
import { SmcpError } from "../../protocol/errors.ts";
import type { ChannelInfo } from "../../protocol/types.ts";
import type { ChannelRow, Store } from "../storage/db.ts";

export function channelRow(store: Store, channel: string): ChannelRow {
  const row = store.channel(channel);
  if (!row) throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `no channel ${channel} here`);
  return row;
}

/** A channel this instance hubs: only the hub administers it (invites, removal). */
export function hubRow(store: Store, channel: string): ChannelRow {
  const row = channelRow(store, channel);
  if (row.role !== "hub") throw new SmcpError("SMCP_NOT_HUB", `only the hub ${row.hub} administers ${channel}`);
  return row;
}

export function channelInfo(store: Store, row: ChannelRow): ChannelInfo {
  return {
    channel: row.channel, hub: row.hub, role: row.role, members: store.members(row.channel),
    joined: row.joined === 1, local_seq: row.local_seq, known_seq: row.known_seq,
  };
}
