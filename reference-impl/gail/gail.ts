// Gail (log aggregation, spec §18.2): the component — forwarder (log tap → outbox → forwarder) and aggregator
// (log channel `!gail:<self>` → record store), configured through the Control API or at start, persisted across restarts.
import { SmcpError } from "../../protocol/errors.ts";
import type { ChannelInfo, Event, EventList, GailEmit, GailEmitResult, GailForwardingConfig, GailForwardingStatus, PublishResult } from "../../protocol/types.ts";
import { ChannelFollower } from "../profiles/channel-follower.ts";
import type { InstanceSecrets } from "../profiles/instance-secrets.ts";
import type { Sqlite } from "../storage/db.ts";
import { AggregatorStore } from "./aggregator.ts";
import { Forwarder } from "./forwarder.ts";
import { LogTap } from "./log-tap.ts";
import { Outbox, type Retention } from "./outbox.ts";
import { Redactor } from "./redaction.ts";

export const GAIL_DEFAULTS = {
  minLevel: "info" as const,
  maxBatchRecords: 100,
  maxBatchBytes: 65_536,
  retention: { records: 100_000, bytes: 64 * 1024 * 1024, ageMs: 7 * 24 * 3600_000 } satisfies Retention,
  maxRecordsPerSource: 1_000_000,
};

/** What Gail needs of Naomi (reference-impl/naomi/naomi.ts) and of the instance. */
export interface GailOptions {
  self: string;
  db: Sqlite;
  secrets: InstanceSecrets;
  now: () => number;
  channel(channel: string): ChannelInfo;
  read(channel: string, after: number, limit: number, waitMs: number, signal?: AbortSignal): Promise<EventList>;
  publish(channel: string, type: string, data: Record<string, unknown>): Promise<PublishResult>;
  queuedFor(hub: string): number;
  /** The hub's advertised max_event_data_bytes, when known: a batch never exceeds it. */
  hubMaxEventDataBytes(hub: string): number | undefined;
  /** Writes one line through the instance's logger (the emit endpoint), which reaches the tap like any other line. */
  log(emit: GailEmit): void;
  onError(err: unknown, what: string): void;
  maxRecordsPerSource?: number;
  /** Forwarding configured at start (`--gail-forward`); a stored configuration from the Control API takes precedence. */
  forward?: GailForwardingConfig;
}

export class Gail {
  readonly tap: LogTap;
  private readonly outbox: Outbox;
  private readonly forwarder: Forwarder;
  private readonly aggregator: AggregatorStore;
  private follower: ChannelFollower | undefined;
  private redactor: Redactor;
  private config: GailForwardingConfig | undefined;
  private emitting = false;
  private emitted = false;

  constructor(private readonly opts: GailOptions) {
    this.redactor = new Redactor(opts.secrets);
    this.outbox = new Outbox(opts.db, GAIL_DEFAULTS.retention);
    this.forwarder = new Forwarder({
      outbox: this.outbox, publish: opts.publish, queuedFor: opts.queuedFor, now: opts.now,
      onError: (err) => opts.onError(err, "log batch not accepted by the aggregator's hub; will retry"),
    });
    this.tap = new LogTap(() => this.redactor, (r) => this.queued(r), (err) => opts.onError(err, "log record not queued"));
    this.aggregator = new AggregatorStore(opts.db, opts.self, opts.maxRecordsPerSource ?? GAIL_DEFAULTS.maxRecordsPerSource);
  }

  /** Resumes the stored (or start-time) forwarding and, when the log channel exists, aggregation. */
  start(): void {
    const stored = this.opts.db.prepare<[], { json: string }>("SELECT json FROM gail_config WHERE id = 1").get();
    const config = stored ? (JSON.parse(stored.json) as GailForwardingConfig) : this.opts.forward;
    if (config) this.apply(config);
    this.channelCreated(this.aggregator.channel());
  }

  /** A channel was created here: the log channel starts aggregation. */
  channelCreated(channel: string): void {
    if (channel !== this.aggregator.channel() || this.follower) return;
    try {
      this.opts.channel(channel);
    } catch {
      return;
    }
    this.follower = new ChannelFollower({
      channel, read: this.opts.read, cursor: () => this.aggregator.cursor(), handle: (events: Event[]) => this.aggregator.take(events),
      onError: (err) => this.opts.onError(err, "log channel read failed"),
    });
    this.follower.start();
  }

  /** PUT /control/v1/gail/forwarding (GAIL-04). */
  configure(config: GailForwardingConfig): GailForwardingStatus {
    if (!config.channel.startsWith("!gail:")) throw new SmcpError("SMCP_INVALID", "the log channel is an aggregator's !gail:<aggregator> channel", { details: [{ path: "/channel", message: "must be !gail:<aggregator>" }] });
    const info = this.opts.channel(config.channel);
    if (!info.joined) throw new SmcpError("SMCP_NOT_MEMBER", `this instance is not a member of ${config.channel}; the aggregator invites its forwarders`);
    this.opts.db.prepare("INSERT INTO gail_config (id, json) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET json = excluded.json").run(JSON.stringify(config));
    this.apply(config);
    return this.status();
  }

  status(): GailForwardingStatus {
    const t = this.outbox.totals();
    return {
      enabled: this.config !== undefined, ...(this.config ? { config: this.config } : {}),
      outbox_records: t.records, outbox_bytes: t.bytes, oldest_ts: t.oldestTs, forwarded: this.outbox.forwarded(),
      dropped: this.outbox.dropped(), retry_after_ms: this.forwarder.retryAfterMs(),
    };
  }

  /** POST /control/v1/gail/emit: logged through the instance's logger, so it takes the same path as every other line. */
  emit(body: GailEmit): GailEmitResult {
    this.emitting = true;
    this.emitted = false;
    try {
      this.opts.log(body);
      return { queued: this.emitted };
    } finally {
      this.emitting = false;
    }
  }

  get records(): AggregatorStore {
    return this.aggregator;
  }

  async close(): Promise<void> {
    await this.forwarder.close();
    await this.follower?.stop();
  }

  private apply(config: GailForwardingConfig): void {
    this.config = config;
    this.redactor = new Redactor(this.opts.secrets, config.secret_fields ?? []);
    this.outbox.setRetention({
      records: config.retention_records ?? GAIL_DEFAULTS.retention.records,
      bytes: config.retention_bytes ?? GAIL_DEFAULTS.retention.bytes,
      ageMs: config.retention_age_ms ?? GAIL_DEFAULTS.retention.ageMs,
    });
    this.tap.setFilter({ minLevel: config.min_level ?? GAIL_DEFAULTS.minLevel, components: config.components ?? [] });
    const hub = hubOf(config.channel);
    const hubMax = this.opts.hubMaxEventDataBytes(hub) ?? GAIL_DEFAULTS.maxBatchBytes;
    this.forwarder.setTarget({
      channel: config.channel, hub, maxBatchRecords: config.max_batch_records ?? GAIL_DEFAULTS.maxBatchRecords,
      maxBatchBytes: Math.min(config.max_batch_bytes ?? GAIL_DEFAULTS.maxBatchBytes, hubMax),
    });
  }

  private queued(record: Parameters<Outbox["put"]>[0]): void {
    this.outbox.put(record);
    if (this.emitting) this.emitted = true;
    this.forwarder.poke();
  }
}

function hubOf(channel: string): string {
  return channel.slice(channel.indexOf(":") + 1);
}
