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
import { newEffects } from "./effects.ts";
import { dataProblem } from "./event-data.ts";
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
    const problem = dataProblem(data, limit);
    if (problem) {
      throw new SmcpError(problem.errcode, problem.error, problem.errcode === "SMCP_INVALID" ? { details: [{ path: `/data${problem.path}`, message: problem.error }] } : {});
    }
    if (row.role === "hub") {
      const event = await this.sequenceLocal(channel, type, data);
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
   * transaction (each in its own savepoint), so concurrent publishers share one commit. Each is answered after it.
   */
  private sequenceLocal(channel: string, type: string, data: Record<string, unknown>): Promise<Event> {
    return new Promise((resolve, reject) => {
      this.pending.push({ channel, type, data, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const { sequencer, self, now } = this.opts;
    const batch = this.pending.splice(0);
    const effects = newEffects();
    const outcomes: Array<Event | Error> = [];
    try {
      sequencer.hubTx(() => {
        for (const p of batch) {
          try {
            outcomes.push(sequencer.hubTx(() => sequencer.sequence(p.channel, p.type, self, now(), p.data, effects)));
          } catch (err) {
            outcomes.push(err as Error);
          }
        }
      });
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    this.opts.afterCommit.run(effects);
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o instanceof Error) p.reject(o);
      else p.resolve(o);
    });
  }
}
