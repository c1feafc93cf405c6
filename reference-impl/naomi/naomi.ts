// Naomi (event bus): the facade the routes call — composes the hub log, sequencing, publish, invites, transactions,
// the participant receiver, backfill and long-polls, each owning its own state (spec §7, §8, §9, §12.3).
import type { Logger } from "pino";
import { hubSignatureVerifies } from "../../protocol/events.ts";
import type { SigningKey, VerifyKey } from "../../protocol/keys.ts";
import { IDLE_BACKFILL_MS } from "../../protocol/limits.ts";
import { SmcpError } from "../../protocol/errors.ts";
import { speaks, SUPPORTED_VERSIONS } from "../../protocol/versions.ts";
import type {
  BackfillPage, ChannelInfo, Event, EventList, Invite, InviteAnswer, InviteOutcome, Leave, LeaveAnswer, OutboundQueue, PublishResult, Transaction,
  TransactionResult,
} from "../../protocol/types.ts";
import { DEFAULTS } from "../config.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { ChannelRow, Store } from "../storage/db.ts";
import { AfterCommit } from "./after-commit.ts";
import { Backfill } from "./backfill.ts";
import { channelInfo, channelRow } from "./channel-rows.ts";
import { newEffects } from "./effects.ts";
import { HubLog } from "./hub-log.ts";
import { Invites } from "./invites.ts";
import { Leaves } from "./leave.ts";
import { senderChecks, type PrepareSenderCheck, type ResolveSender, type SenderCheck } from "./sender-check.ts";
import { Membership } from "./membership.ts";
import { OutboundQueues } from "./outbound.ts";
import { Publisher } from "./publish.ts";
import { Receiver } from "./receiver.ts";
import { Sequencer } from "./sequencer.ts";
import { Transactions } from "./transactions.ts";
import { Waiters, type ReadSignal } from "./waiters.ts";

export interface NaomiOptions {
  self: string;
  key: SigningKey;
  store: Store;
  sender: FederationSender;
  /** The verified key of a hub we have discovered (backfill answers are not signed requests). */
  hubKey: (hub: string) => Promise<VerifyKey | null>;
  logger: Logger;
  maxTxnItems: number;
  maxEventDataBytes: number;
  queueBound: number;
  /** Hubs whose invites are accepted (spec §9.1 CHAN-26). */
  inviteAllowList?: string[];
  /** The conformance profile (CONF-10): accept invites from every authenticated hub. */
  acceptAllInvites?: boolean;
  /** Participation bounds (spec §9.1 CHAN-27); DEFAULTS when absent. */
  maxParticipationsPerHub?: number;
  maxParticipations?: number;
  /** Backfill from a failing hub: back-off ceiling and the failures after which it stops (spec §9.4 DLV-36, DLV-37). */
  backfillRetryMaxMs?: number;
  backfillGiveUpAfter?: number;
  /** Wait this long after detecting a gap before backfilling (the queue usually fills it first). */
  gapDelayMs: number;
  /** Participants fetch the head of channels they have heard nothing from for this long. */
  idleBackfillMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Outbound batching delay for streamed events (see OutboundOptions.lingerMs; the instance's config sets it). */
  lingerMs: number;
  now?: () => number;
  /** A destination's advertised limits, when known: outbound transactions stay within them (spec §8.2 TXN-06). */
  destinationLimits?: (destination: string) => { max_txn_items: number; max_body_bytes: number } | undefined;
  /** The `max_event_data_bytes` a hub advertises, when known: a participant's publish is held to it (spec §12.3 CTRL-19). */
  hubMaxEventDataBytes?: (hub: string) => number | undefined;
  /** Protocol versions this instance speaks (spec §14); every supported one when absent. */
  versions?: readonly string[];
  /** A peer's versions from its cached discovery document (spec §14). */
  peerVersions?: (server: string) => readonly string[] | undefined;
  /** A server's key and versions through discovery, null on failure: senders of events are checked with it (spec §7.5). */
  resolveSender?: ResolveSender;
  /** A hub's versions through discovery (forced when unknown); throws SMCP_PEER_UNREACHABLE (spec §9.8). */
  discoverVersions?: (server: string) => Promise<readonly string[]>;
  /** Checks one event's hub_signature (spec §7.4); injectable so that tests can count verifications. */
  verifyEvent?: (hubKey: VerifyKey, event: Event) => boolean;
}

export class Naomi {
  private readonly store: Store;
  private readonly log: HubLog;
  private readonly outbound: OutboundQueues;
  private readonly sequencer: Sequencer;
  private readonly waiters: Waiters;
  private readonly backfiller: Backfill;
  private readonly afterCommit: AfterCommit;
  private readonly publisher: Publisher;
  private readonly invites: Invites;
  private readonly transactions: Transactions;
  private readonly leaves: Leaves;
  private readonly senderCheck: PrepareSenderCheck;
  private idleTimer?: NodeJS.Timeout;

  constructor(private readonly opts: NaomiOptions) {
    const { self, key, store, sender, logger } = opts;
    const now = opts.now ?? Date.now;
    const verifyEvent = opts.verifyEvent ?? hubSignatureVerifies;
    const v11 = speaks(opts.versions ?? SUPPORTED_VERSIONS, "1.1");
    const peerVersions = opts.peerVersions ?? (() => undefined);
    this.senderCheck = senderChecks({ v11, peerVersions, resolve: opts.resolveSender ?? (async () => null) });
    this.store = store;
    const log = (this.log = new HubLog({ self, key, store, now }));
    const outbound = (this.outbound = new OutboundQueues({
      self, store, sender, logger, log, maxTxnItems: opts.maxTxnItems, destinationLimits: opts.destinationLimits,
      queueBound: opts.queueBound, backoffBaseMs: opts.backoffBaseMs, backoffMaxMs: opts.backoffMaxMs, now, lingerMs: opts.lingerMs,
    }));
    const membership = new Membership(self, store, log);
    const sequencer = (this.sequencer = new Sequencer({ self, store, log, membership, outbound, now }));
    const receiver = new Receiver({ self, store, membership, logger, now });
    const waiters = (this.waiters = new Waiters(store));
    this.backfiller = new Backfill({
      store, sender, hubKey: opts.hubKey, receiver, waiters, verifyEvent, senderCheck: this.senderCheck, logger, gapDelayMs: opts.gapDelayMs,
      idleBackfillMs: opts.idleBackfillMs, retryMaxMs: opts.backfillRetryMaxMs ?? DEFAULTS.backfillRetryMaxMs,
      giveUpAfter: opts.backfillGiveUpAfter ?? DEFAULTS.backfillGiveUpAfter, now,
    });
    const afterCommit = (this.afterCommit = new AfterCommit(outbound, waiters, this.backfiller));
    this.publisher = new Publisher({
      self, store, log, sequencer, outbound, afterCommit, maxEventDataBytes: opts.maxEventDataBytes, hubMaxEventDataBytes: opts.hubMaxEventDataBytes, now,
      senderKey: v11 ? key : null, peerVersions,
    });
    this.leaves = new Leaves({
      self, store, sender, sequencer, afterCommit, now,
      discoverVersions: opts.discoverVersions ?? (async () => { throw new SmcpError("SMCP_PEER_UNREACHABLE", "no discovery", { retryAfterMs: 1000 }); }),
    });
    this.invites = new Invites({
      self, store, sender, sequencer, afterCommit, receiver, inviteAllowList: opts.inviteAllowList, acceptAllInvites: opts.acceptAllInvites, now,
      maxParticipationsPerHub: opts.maxParticipationsPerHub ?? DEFAULTS.maxParticipationsPerHub,
      maxParticipations: opts.maxParticipations ?? DEFAULTS.maxParticipations,
    });
    this.transactions = new Transactions({
      self, store, receiver, sequencer, outbound, afterCommit, verifyEvent, maxTxnItems: opts.maxTxnItems,
      maxEventDataBytes: opts.maxEventDataBytes, v11, peerVersions, now,
    });
  }

  /** Resumes queued deliveries and catches up every participant channel (restart recovery). */
  start(): void {
    this.outbound.start();
    this.transactions.expireResults();
    this.backfiller.catchUp();
    const tick = Math.max(50, Math.min(this.opts.idleBackfillMs, IDLE_BACKFILL_MS));
    this.idleTimer = setInterval(() => this.tick(), tick);
    this.idleTimer.unref();
  }

  close(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.backfiller.close();
    this.outbound.close();
    this.waiters.close();
  }

  // ---------------------------------------------------------------- channel views (control, spec §12.3)

  info(row: ChannelRow): ChannelInfo {
    return channelInfo(this.store, row);
  }

  list(): ChannelInfo[] {
    return this.store.channels().map((r) => this.info(r));
  }

  get(channel: string): ChannelInfo {
    return this.info(channelRow(this.store, channel));
  }

  /**
   * Call policy (spec §10.5 CALL-21): `server` is a current member of a channel this instance hubs — one its operator
   * invited it into. Membership of a channel someone else hubs grants nothing: its hub, not we, chose the members.
   */
  memberOfOwnChannel(server: string): boolean {
    return this.store.channelsOfMember(server, this.opts.self).length > 0;
  }

  /** The outbound queue towards a peer, as GET /control/v1/peers reports it (spec §12.2, DLV-07). */
  outboundInfo(destination: string): OutboundQueue {
    return this.outbound.info(destination);
  }

  /** A sign of life from a peer (Vendela saw it answer): its queue retries now instead of waiting out the back-off. */
  peerAlive(server: string): void {
    this.outbound.peerAlive(server);
  }

  // ---------------------------------------------------------------- hub: channels, publish, invites and removal

  createChannel(name: string): ChannelInfo {
    const effects = newEffects();
    const channel = this.sequencer.create(name, effects);
    this.afterCommit.run(effects);
    return this.get(channel);
  }

  publish(channel: string, type: string, data: Record<string, unknown>): Promise<PublishResult> {
    return this.publisher.publish(channel, type, data);
  }

  invite(channel: string, server: string): Promise<InviteOutcome> {
    return this.invites.invite(channel, server);
  }

  removeMember(channel: string, server: string): ChannelInfo {
    this.invites.remove(channel, server);
    return this.get(channel);
  }

  // ---------------------------------------------------------------- federation (spec §8, §9)

  /** An invite, and any transaction, is an authenticated request from its origin: backfill from it resumes (DLV-37). */
  handleInvite(origin: string, invite: Invite): InviteAnswer {
    this.backfiller.hubTalked(origin);
    return this.invites.handleInvite(origin, invite);
  }

  /** The route's entry: the events' senders are resolved first (1.1, spec §7.5), then the transaction is processed in one go. */
  async receiveTransaction(origin: string, originKey: VerifyKey, txnId: string, bodySha256: string, txn: Transaction): Promise<TransactionResult> {
    const check = await this.senderCheck(origin, txn.events ?? []);
    return this.handleTransaction(origin, originKey, txnId, bodySha256, txn, check);
  }

  handleTransaction(
    origin: string, originKey: VerifyKey, txnId: string, bodySha256: string, txn: Transaction, check?: SenderCheck,
  ): TransactionResult {
    this.backfiller.hubTalked(origin);
    return this.transactions.handle(origin, originKey, txnId, bodySha256, txn, check);
  }

  /** Hub side of a member's own leave (1.1, spec §9.8). */
  handleLeave(origin: string, leave: Leave): LeaveAnswer {
    return this.leaves.handleLeave(origin, leave);
  }

  /** This instance leaves a channel it participates in (1.1, control API, spec §9.8, §12.3). */
  async leave(channel: string): Promise<ChannelInfo> {
    await this.leaves.leave(channel);
    return this.get(channel);
  }

  /** Hub side: consecutive events after `after` for a member (a removed member up to its leave event). */
  serveBackfill(origin: string, channel: string, after: number, limit: number): BackfillPage {
    return this.log.page(origin, channel, after, limit);
  }

  /** Participant side: fetches missing events from the hub until local_seq reaches the known head. */
  backfill(channel: string): Promise<void> {
    return this.backfiller.backfill(channel);
  }

  // ---------------------------------------------------------------- reading (control, spec §12.3)

  /** Events after `after` up to local_seq; waits up to waitMs for one when there is none yet (no polling). */
  read(channel: string, after: number, limit: number, waitMs: number, signal?: ReadSignal): Promise<EventList> {
    return this.waiters.read(channel, after, limit, waitMs, signal);
  }

  /** The periodic tick: stored transaction results expire hourly, idle channels fetch their hub's head. */
  private tick(): void {
    this.transactions.expireHourly();
    this.backfiller.idleCheck();
  }
}
