// Kathy (selective config sharing, spec §18.3): the component — publishes configuration entries to a channel (secrets
// refused), follows the channels it subscribed to and applies only opted-in keys, keeping the audit trail.
import { SmcpError } from "../../protocol/errors.ts";
import type { ChannelInfo, Event, EventList, KathyAuditList, KathyPublish, KathyPublishResult, KathySubscriptionInfo, PublishResult } from "../../protocol/types.ts";
import { ChannelFollower } from "../profiles/channel-follower.ts";
import type { InstanceSecrets } from "../profiles/instance-secrets.ts";
import type { Sqlite } from "../storage/db.ts";
import { ConfigStore } from "./config-store.ts";
import { evaluate, SET_TYPE, UNSET_TYPE } from "./evaluator.ts";
import { secretKey, secretValue } from "./secret-entries.ts";

export interface KathyOptions {
  db: Sqlite;
  secrets: InstanceSecrets;
  channel(channel: string): ChannelInfo;
  read(channel: string, after: number, limit: number, waitMs: number, signal?: AbortSignal): Promise<EventList>;
  publish(channel: string, type: string, data: Record<string, unknown>): Promise<PublishResult>;
  onError(err: unknown, what: string): void;
  /** Subscriptions configured at start (`--kathy-subscribe`); set again on every start. */
  subscriptions?: Record<string, string[]>;
}

export class Kathy {
  readonly store: ConfigStore;
  private readonly followers = new Map<string, ChannelFollower>();

  constructor(private readonly opts: KathyOptions) {
    this.store = new ConfigStore(opts.db);
  }

  start(): void {
    for (const [channel, patterns] of Object.entries(this.opts.subscriptions ?? {})) {
      const current = this.store.subscription(channel);
      if (!current || JSON.stringify(current.patterns) !== JSON.stringify(patterns)) this.store.subscribe(channel, patterns);
    }
    for (const s of this.store.subscriptions()) this.follow(s.channel);
  }

  /** POST /control/v1/kathy/publish (KATHY-03, KATHY-09..KATHY-11). */
  async publish(p: KathyPublish): Promise<KathyPublishResult> {
    if (p.secret) throw refused("/secret", "the entry is marked secret: secrets never leave this instance");
    const keyWhy = secretKey(p.key);
    if (keyWhy) throw refused("/key", `${keyWhy}: secrets never leave this instance`);
    if (p.op === "set" && !("value" in p)) throw refused("/value", "a set needs a value");
    if (p.op === "unset" && "value" in p) throw refused("/value", "an unset has no value");
    const valueWhy = p.op === "set" ? secretValue(p.value, this.opts.secrets) : undefined;
    if (valueWhy) throw refused("/value", `${valueWhy}: secrets never leave this instance`);
    const version = p.version ?? this.store.highestVersion(p.channel, p.key) + 1;
    const data = p.op === "set" ? { key: p.key, value: p.value, version } : { key: p.key, version };
    const r = await this.opts.publish(p.channel, p.op === "set" ? SET_TYPE : UNSET_TYPE, data);
    this.store.sawVersion(p.channel, p.key, version);
    return { channel: r.channel, key: p.key, version, event_id: r.event_id, seq: r.seq };
  }

  /** PUT /control/v1/kathy/subscriptions/{channel} (KATHY-04): the channel is evaluated again under the new patterns. */
  async subscribe(channel: string, patterns: string[]): Promise<KathySubscriptionInfo> {
    this.opts.channel(channel);
    await this.followers.get(channel)?.stop();
    this.followers.delete(channel);
    this.store.subscribe(channel, patterns);
    this.follow(channel);
    return this.store.subscription(channel)!;
  }

  audit(after: number, limit: number): KathyAuditList {
    return this.store.auditPage(after, limit);
  }

  async close(): Promise<void> {
    await Promise.all([...this.followers.values()].map((f) => f.stop()));
  }

  private follow(channel: string): void {
    const follower = new ChannelFollower({
      channel, read: this.opts.read,
      cursor: () => this.store.subscription(channel)?.evaluated_seq ?? 0,
      handle: (events: Event[]) => this.store.db.transaction(() => {
        const sub = this.store.subscription(channel);
        if (sub) evaluate(this.store, channel, sub.patterns, events);
      })(),
      onError: (err) => this.opts.onError(err, `configuration channel ${channel} read failed`),
    });
    this.followers.set(channel, follower);
    follower.start();
  }
}

function refused(path: string, message: string): SmcpError {
  return new SmcpError("SMCP_INVALID", message, { details: [{ path, message }] });
}
