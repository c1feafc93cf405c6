// Naomi (event bus): publishing through the control API — sequenced with group commit on the hub, or submitted to the
// hub through the outbound queue by a participant (spec §8.4, §12.3 CTRL-19, CTRL-20).
import { SmcpError } from "../../protocol/errors.ts";
import { isReservedType } from "../../protocol/events.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import { randomId } from "../../protocol/random-id.ts";
import { signSubmission } from "../../protocol/sender-signature.ts";
import { speaks } from "../../protocol/versions.ts";
import type { Event, PublishResult, Submission } from "../../protocol/types.ts";
import type { Store } from "../storage/db.ts";
import type { AfterCommit } from "./after-commit.ts";
import { channelRow } from "./channel-rows.ts";
import { newEffects, type Effects } from "./effects.ts";
import { checkedData } from "./event-data.ts";
import type { HubLog } from "./hub-log.ts";
import type { OutboundQueues } from "./outbound.ts";
import type { Sequencer } from "./sequencer.ts";

export interface PublisherOptions {
  self: string;
  store: Store;
  log: HubLog;
  sequencer: Sequencer;
  outbound: OutboundQueues;
  afterCommit: AfterCommit;
  /** This instance's own max_event_data_bytes (the hub's limit when it hubs the channel). */
  maxEventDataBytes: number;
  /** The `max_event_data_bytes` a hub advertises, when known: a participant's publish is held to it (spec §12.3 CTRL-19). */
  hubMaxEventDataBytes?: (hub: string) => number | undefined;
  /** Protocol 1.1: the sender signs its submission unless the hub is known not to list 1.1 (spec §7.5 EVT-22); null for a 1.0-only instance. */
  senderKey: SigningKey | null;
  /** A hub's versions from its cached discovery document. */
  peerVersions: (server: string) => readonly string[] | undefined;
  now: () => number;
}

interface Pending {
  channel: string;
  type: string;
  data: Record<string, unknown>;
  /** The canonical text of `data` (the size check made it; the event ID hashes it). */
  dataText: string;
  resolve: (e: Event) => void;
  reject: (e: Error) => void;
}

export class Publisher {
  /** Local publishes waiting for this turn of the event loop's group commit. */
  private readonly pending: Pending[] = [];

  constructor(private readonly opts: PublisherOptions) {}

  async publish(channel: string, type: string, data: Record<string, unknown>): Promise<PublishResult> {
    const { self, log } = this.opts;
    // A channel this instance hubs is always joined by it (the hub cannot be removed): no row to read.
    const row = log.hasTip(channel) ? { joined: 1, role: "hub", hub: self } : channelRow(this.opts.store, channel);
    if (row.joined !== 1) throw new SmcpError("SMCP_NOT_MEMBER", `this instance is not a member of ${channel}`);
    if (isReservedType(type)) throw new SmcpError("SMCP_INVALID", "the smcp: event namespace is reserved for the protocol", {
      details: [{ path: "/type", message: "smcp: types are sequenced by the hub only" }],
    });
    // On a participant the hub's advertised limit applies (CTRL-19); our own is only the fallback when it is unknown.
    const limit = (row.role === "hub" ? undefined : this.opts.hubMaxEventDataBytes?.(row.hub)) ?? this.opts.maxEventDataBytes;
    const checked = checkedData(data, limit);
    if ("problem" in checked) {
      const { problem } = checked;
      throw new SmcpError(problem.errcode, problem.error, problem.errcode === "SMCP_INVALID" ? { details: [{ path: `/data${problem.path}`, message: problem.error }] } : {});
    }
    if (row.role === "hub") {
      const event = await this.sequenceLocal(channel, type, data, checked.text);
      return { channel, event_id: event.event_id, seq: event.seq };
    }
    const unsigned: Submission = {
      submission_id: randomId(12), channel, type, sender: self, origin_ts: this.opts.now(),
      data: data as Submission["data"],
    };
    const s = await this.opts.outbound.submit(row.hub, this.signed(row.hub, unsigned));
    return { channel, event_id: s.event_id, seq: s.seq };
  }

  /** EVT-22: signed toward a hub that lists 1.1, or whose versions are not known yet (a 1.0 hub ignores the member, VER-05). */
  private signed(hub: string, sub: Submission): Submission {
    const key = this.opts.senderKey;
    if (!key) return sub;
    const versions = this.opts.peerVersions(hub);
    return versions === undefined || speaks(versions, "1.1") ? signSubmission(key, sub) : sub;
  }

  /**
   * Group commit: local publishes that arrive in the same turn of the event loop are sequenced in one SQLite
   * transaction, so concurrent publishers share one commit; each is answered only after it (per-event durability).
   */
  private sequenceLocal(channel: string, type: string, data: Record<string, unknown>, dataText: string): Promise<Event> {
    return new Promise((resolve, reject) => {
      this.pending.push({ channel, type, data, dataText, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending.splice(0);
    const effects = newEffects();
    let events: Event[];
    try {
      events = this.opts.sequencer.hubBatch(() => batch.map((p) => this.sequence(p, effects)));
    } catch {
      // Something in the batch failed and the whole SQLite transaction rolled back, nothing of it answered yet:
      // each publish is sequenced again on its own, so that one failure answers only its own publisher.
      return this.oneByOne(batch);
    }
    this.opts.afterCommit.run(effects);
    batch.forEach((p, i) => p.resolve(events[i]!));
  }

  private oneByOne(batch: Pending[]): void {
    for (const p of batch) {
      const effects = newEffects();
      let event: Event;
      try {
        event = this.opts.sequencer.hubTx(() => this.sequence(p, effects));
      } catch (err) {
        p.reject(err as Error);
        continue;
      }
      this.opts.afterCommit.run(effects);
      p.resolve(event);
    }
  }

  private sequence(p: Pending, effects: Effects): Event {
    return this.opts.sequencer.sequence(p.channel, p.type, this.opts.self, this.opts.now(), p.data, effects, undefined, p.dataText);
  }
}
