// Naomi (event bus): linearized channels — hub sequencing, participant verification and gap backfill,
// invites and removal, idempotent transactions and the long-poll read API (spec §7, §8, §9, §12.3).
import { randomBytes } from "node:crypto";
import { canonicalJson } from "../../protocol/canonical-json.ts";
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { eventIdProblem, finaliseEvent, headVerifies, hubSignatureVerifies, prevEventProblem, signHead } from "../../protocol/events.ts";
import { errorFromAnswer } from "../../protocol/http-client.ts";
import { channelId as makeChannelId, isServerName, parseChannelId } from "../../protocol/identity.ts";
import type { SigningKey, VerifyKey } from "../../protocol/keys.ts";
import { validate } from "../../protocol/schemas.ts";
import type {
  BackfillPage, ChannelHead, ChannelInfo, Event, EventList, Invite, InviteAnswer, InviteOutcome, PublishResult,
  RejectedItem, SequencedSubmission, Submission, Transaction, TransactionResult,
} from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { ChannelRow, Store } from "../storage/db.ts";
import { OutboundQueues } from "./outbound.ts";

const RESERVED_PREFIX = "smcp:";
const TXN_RESULT_TTL_MS = 48 * 3600_000;
/** How many of the newest sequenced events the hub keeps as JSON for its outbound queues. */
const RECENT_EVENTS = 20_000;
/** How long a signed head of a channel's unchanged newest event is reused for further transactions. */
const HEAD_REUSE_MS = 1000;

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
  /** Servers whose invites are accepted; undefined accepts all. */
  inviteAllowList?: string[];
  /** Wait this long after detecting a gap before backfilling (the queue usually fills it first). */
  gapDelayMs: number;
  /** Participants fetch the head of channels they have heard nothing from for this long. */
  idleBackfillMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  now?: () => number;
  /** Outbound batching delay for streamed events (see OutboundOptions.lingerMs); default 10 ms, or NAOMI_LINGER_MS. */
  lingerMs?: number;
  /** A destination's advertised limits, when known: outbound transactions stay within them (spec §8.2 TXN-06). */
  destinationLimits?: (destination: string) => { max_txn_items: number; max_body_bytes: number } | undefined;
  /** The `max_event_data_bytes` a hub advertises, when known: a participant's publish is held to it (spec §12.3 CTRL-19). */
  hubMaxEventDataBytes?: (hub: string) => number | undefined;
  /** Checks one event's hub_signature (spec §7.4); injectable so that tests can count verifications. */
  verifyEvent?: (hubKey: VerifyKey, event: Event) => boolean;
}

/** Effects of a committed SQLite transaction that run after commit. */
interface Effects {
  kicks: Set<string>;
  advanced: Set<string>;
  gaps: Set<string>;
}

/**
 * A receiver's state for one SQLite transaction (a federation transaction or a backfill page): each channel row
 * is read once and kept in step with every write, its seqs are written once at the end, and the newest event
 * stored per channel is remembered so that the next one's prev_event is checked without reading it back.
 */
interface Batch {
  effects: Effects;
  rows: Map<string, ChannelRow>;
  dirty: Set<string>;
  tips: Map<string, { seq: number; event_id: string }>;
}

/** EVT-15 and EVT-18 over one batch of events. */
interface Authenticator {
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

export class Naomi {
  readonly outbound: OutboundQueues;
  private readonly store: Store;
  private readonly now: () => number;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly backfilling = new Map<string, Promise<void>>();
  private readonly gapTimers = new Map<string, NodeJS.Timeout>();
  private readonly lastHeard = new Map<string, number>();
  private idleTimer?: NodeJS.Timeout;
  private lastExpiry = 0;
  private readonly localBatch: Array<{
    channel: string; type: string; data: Record<string, unknown>; resolve: (e: Event) => void; reject: (e: Error) => void;
  }> = [];
  private closed = false;
  /** Hub side: the channels each destination belongs to (cleared by every membership change), and the newest signed head per channel. */
  private readonly memberChannels = new Map<string, string[]>();
  private readonly signedHeads = new Map<string, ChannelHead>();
  /**
   * Hub side: the JSON of the newest sequenced events, which the outbound queues are about to send to every member.
   * A rolled-back event's entry is overwritten when its seq is sequenced again, before any queue can refer to it.
   */
  private readonly recentEvents = new Map<string, string>();
  /**
   * Hub side: each hubbed channel's newest event and current members, read once and then kept by sequence() (the
   * hub is their only writer). A rolled-back SQLite transaction clears them (invalidate()), so they never run ahead.
   */
  private readonly hubTips = new Map<string, { seq: number; eventId: string | null }>();
  private readonly memberLists = new Map<string, string[]>();

  constructor(private readonly opts: NaomiOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
    this.outbound = new OutboundQueues({
      self: opts.self, store: opts.store, sender: opts.sender, logger: opts.logger, headsFor: (d) => this.headsFor(d),
      recentEvent: (channel, seq) => this.recentEvents.get(recentKey(channel, seq)),
      channelSeq: (channel) => this.hubTip(channel)?.seq ?? 0,
      maxTxnItems: opts.maxTxnItems, destinationLimits: opts.destinationLimits, queueBound: opts.queueBound, backoffBaseMs: opts.backoffBaseMs,
      backoffMaxMs: opts.backoffMaxMs, now: this.now, lingerMs: opts.lingerMs ?? defaultLingerMs(),
    });
  }

  /** Resumes queued deliveries and catches up every participant channel (restart recovery). */
  start(): void {
    this.outbound.start();
    this.store.expireTxnResults(this.now() - TXN_RESULT_TTL_MS);
    for (const ch of this.store.channels()) {
      if (ch.role === "participant" && (ch.joined === 1 || ch.known_seq > ch.local_seq)) void this.backfill(ch.channel);
    }
    const tick = Math.max(50, Math.min(this.opts.idleBackfillMs, 30_000));
    this.idleTimer = setInterval(() => this.idleCheck(), tick);
    this.idleTimer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const t of this.gapTimers.values()) clearTimeout(t);
    this.outbound.close();
    for (const set of this.waiters.values()) for (const wake of set) wake();
  }

  // ---------------------------------------------------------------- channel views

  info(row: ChannelRow): ChannelInfo {
    return {
      channel: row.channel, hub: row.hub, role: row.role, members: this.store.members(row.channel),
      joined: row.joined === 1, local_seq: row.local_seq, known_seq: row.known_seq,
    };
  }

  list(): ChannelInfo[] {
    return this.store.channels().map((r) => this.info(r));
  }

  get(channel: string): ChannelInfo {
    return this.info(this.row(channel));
  }

  private row(channel: string): ChannelRow {
    const row = this.store.channel(channel);
    if (!row) throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `no channel ${channel} here`);
    return row;
  }

  private hubRow(channel: string): ChannelRow {
    const row = this.row(channel);
    if (row.role !== "hub") throw new SmcpError("SMCP_NOT_HUB", `only the hub ${row.hub} administers ${channel}`);
    return row;
  }

  /** Canonical size of `data` against `limit` (the hub's), and `data` must have a canonical form (spec §7.2 EVT-12, EVT-19). */
  private dataProblem(data: unknown, limit = this.opts.maxEventDataBytes): { errcode: "SMCP_INVALID" | "SMCP_TOO_LARGE"; error: string } | null {
    let size: number;
    try {
      size = Buffer.byteLength(canonicalJson(data));
    } catch (err) {
      return { errcode: "SMCP_INVALID", error: `data has no canonical JSON form: ${(err as Error).message}` };
    }
    if (size > limit) return { errcode: "SMCP_TOO_LARGE", error: `data is ${size} bytes, over the hub's max_event_data_bytes ${limit}` };
    return null;
  }

  /** Call policy (spec §10): the origin shares at least one channel with us, both joined. */
  sharesChannel(server: string): boolean {
    return this.store.sharesChannel(server);
  }

  // ---------------------------------------------------------------- hub: sequencing

  createChannel(name: string): ChannelInfo {
    const channel = makeChannelId(name, this.opts.self);
    if (this.store.channel(channel)) throw new SmcpError("SMCP_CONFLICT", `channel ${channel} already exists`);
    const effects = newEffects();
    this.hubTx(() => {
      this.store.insertChannel({ channel, hub: this.opts.self, role: "hub", joined: 1, local_seq: 0, known_seq: 0, created_ts: this.now() });
      this.sequence(channel, "smcp:channel.create", this.opts.self, this.now(), { creator: this.opts.self }, effects);
    });
    this.afterCommit(effects);
    return this.get(channel);
  }

  /**
   * Assigns the next seq, finalises and stores the event, applies membership and queues it for every member
   * (the sender included). Runs inside the caller's SQLite transaction.
   */
  private sequence(channel: string, type: string, sender: string, originTs: number, data: Record<string, unknown>, effects: Effects): Event {
    const tip = this.hubTip(channel)!;
    const seq = tip.seq + 1;
    const event = finaliseEvent(this.opts.key, {
      channel, seq, prev_event: tip.eventId, type, sender, origin_ts: originTs, hub_ts: this.now(), data: data as Event["data"],
    });
    const json = JSON.stringify(event);
    this.store.insertEvent(event, json);
    this.remember(channel, seq, json);
    this.hubTips.set(channel, { seq, eventId: event.event_id });
    const recipients = new Set(this.membersOf(channel));
    // Only the reserved membership types change the member list; the leave event still reaches the leaver.
    if (type.startsWith(RESERVED_PREFIX)) {
      this.applyMembership(event);
      for (const m of this.membersOf(channel)) recipients.add(m);
      const server = typeof event.data.server === "string" ? event.data.server : undefined;
      if (server && server !== this.opts.self && type === "smcp:member.join") this.outbound.memberJoined(server, channel, seq);
      if (server && server !== this.opts.self && type === "smcp:member.leave") this.outbound.memberLeft(server, channel, seq);
    }
    recipients.delete(this.opts.self);
    for (const r of recipients) {
      this.outbound.enqueue(r, channel, seq);
      effects.kicks.add(r);
    }
    this.store.setSeqs(channel, seq, seq);
    effects.advanced.add(channel);
    return event;
  }

  /** A hubbed channel's newest seq and event ID (undefined for a channel this instance does not hub). */
  private hubTip(channel: string): { seq: number; eventId: string | null } | undefined {
    let tip = this.hubTips.get(channel);
    if (!tip) {
      const row = this.store.channel(channel);
      if (!row || row.role !== "hub") return undefined;
      tip = { seq: row.local_seq, eventId: row.local_seq === 0 ? null : this.store.event(channel, row.local_seq)!.event_id };
      this.hubTips.set(channel, tip);
    }
    return tip;
  }

  private membersOf(channel: string): string[] {
    let list = this.memberLists.get(channel);
    if (!list) this.memberLists.set(channel, (list = this.store.members(channel)));
    return list;
  }

  /** A SQLite transaction that sequences: if it rolls back, the hub's caches and queue positions are re-read. */
  private hubTx<T>(fn: () => T): T {
    try {
      return this.store.tx(fn);
    } catch (err) {
      this.invalidate();
      throw err;
    }
  }

  private invalidate(): void {
    this.hubTips.clear();
    this.memberLists.clear();
    this.memberChannels.clear();
    this.signedHeads.clear();
    this.outbound.resync();
  }

  private remember(channel: string, seq: number, json: string): void {
    const key = recentKey(channel, seq);
    this.recentEvents.delete(key); // re-inserted last, so that eviction stays oldest-first
    this.recentEvents.set(key, json);
    if (this.recentEvents.size > RECENT_EVENTS) this.recentEvents.delete(this.recentEvents.keys().next().value!);
  }

  /** Membership changes are events (spec §9): both hub and participants apply them in seq order. */
  private applyMembership(event: Event, row?: ChannelRow): void {
    if (!event.type.startsWith(RESERVED_PREFIX)) return;
    this.memberChannels.clear();
    this.memberLists.delete(event.channel);
    const server = typeof event.data.server === "string" ? event.data.server : undefined;
    if (event.type === "smcp:channel.create") this.store.memberJoin(event.channel, parseChannelId(event.channel)!.hub, event.seq);
    else if (event.type === "smcp:member.join" && server) {
      this.store.memberJoin(event.channel, server, event.seq);
      if (server === this.opts.self) this.setJoined(event.channel, true, row);
    } else if (event.type === "smcp:member.leave" && server) {
      this.store.memberLeave(event.channel, server, event.seq);
      if (server === this.opts.self) this.setJoined(event.channel, false, row);
    }
  }

  private setJoined(channel: string, joined: boolean, row?: ChannelRow): void {
    this.store.setJoined(channel, joined);
    if (row) row.joined = joined ? 1 : 0;
  }

  /** A fresh head for every channel we hub that `destination` belongs to (spec §9.3 DLV-09, DLV-10). */
  private headsFor(destination: string): ChannelHead[] {
    let channels = this.memberChannels.get(destination);
    if (!channels) this.memberChannels.set(destination, (channels = this.store.channelsOfMember(destination, this.opts.self)));
    return channels.map((c) => this.currentHead(c));
  }

  /**
   * The head of a channel at its newest event. One signed within the last second for that same newest event is
   * still exact (DLV-10) and is shared by the destinations built meanwhile, instead of one signature each.
   */
  private currentHead(channel: string): ChannelHead {
    const tip = this.hubTip(channel)!;
    const cached = this.signedHeads.get(channel);
    if (cached && cached.seq === tip.seq && cached.event_id === tip.eventId && this.now() - cached.hub_ts < HEAD_REUSE_MS) return cached;
    const head = signHead(this.opts.key, { channel, seq: tip.seq, event_id: tip.eventId, hub_ts: this.now() });
    this.signedHeads.set(channel, head);
    return head;
  }

  private head(channel: string, seq: number): ChannelHead {
    const eventId = seq === 0 ? null : this.store.event(channel, seq)?.event_id ?? null;
    return signHead(this.opts.key, { channel, seq, event_id: eventId, hub_ts: this.now() });
  }

  // ---------------------------------------------------------------- publish (control)

  async publish(channel: string, type: string, data: Record<string, unknown>): Promise<PublishResult> {
    // A channel this instance hubs is always joined by it (the hub cannot be removed): no row to read.
    const row = this.hubTips.has(channel) ? { joined: 1, role: "hub", hub: this.opts.self } : this.row(channel);
    if (row.joined !== 1) throw new SmcpError("SMCP_NOT_MEMBER", `this instance is not a member of ${channel}`);
    if (type.startsWith(RESERVED_PREFIX)) throw new SmcpError("SMCP_INVALID", "the smcp: event namespace is reserved for the protocol", {
      details: [{ path: "/type", message: "smcp: types are sequenced by the hub only" }],
    });
    // On a participant the hub's advertised limit applies (CTRL-19); our own is only the fallback when it is unknown.
    const limit = row.role === "hub" ? undefined : this.opts.hubMaxEventDataBytes?.(row.hub);
    const problem = this.dataProblem(data, limit);
    if (problem) throw new SmcpError(problem.errcode, problem.error, problem.errcode === "SMCP_INVALID" ? { details: [{ path: "/data", message: problem.error }] } : {});
    if (row.role === "hub") {
      const event = await this.sequenceLocal(channel, type, data);
      return { channel, event_id: event.event_id, seq: event.seq };
    }
    const submission: Submission = {
      submission_id: randomBytes(12).toString("base64url"), channel, type, sender: this.opts.self, origin_ts: this.now(),
      data: data as Submission["data"],
    };
    const s = await this.outbound.submit(row.hub, submission);
    return { channel, event_id: s.event_id, seq: s.seq };
  }

  /**
   * Group commit: local publishes that arrive in the same turn of the event loop are sequenced in one SQLite
   * transaction (each in its own savepoint), so concurrent publishers share one commit. Each is answered after it.
   */
  private sequenceLocal(channel: string, type: string, data: Record<string, unknown>): Promise<Event> {
    return new Promise((resolve, reject) => {
      this.localBatch.push({ channel, type, data, resolve, reject });
      if (this.localBatch.length === 1) setImmediate(() => this.flushLocal());
    });
  }

  private flushLocal(): void {
    const batch = this.localBatch.splice(0);
    const effects = newEffects();
    const outcomes: Array<Event | Error> = [];
    try {
      this.hubTx(() => {
        for (const p of batch) {
          try {
            outcomes.push(this.hubTx(() => this.sequence(p.channel, p.type, this.opts.self, this.now(), p.data, effects)));
          } catch (err) {
            outcomes.push(err as Error);
          }
        }
      });
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    this.afterCommit(effects);
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o instanceof Error) p.reject(o);
      else p.resolve(o);
    });
  }

  // ---------------------------------------------------------------- invites and removal

  /** Hub side of an invite (spec §9.1): asks the server, then sequences its join exactly once. */
  async invite(channel: string, server: string): Promise<InviteOutcome> {
    this.hubRow(channel);
    if (server === this.opts.self) throw new SmcpError("SMCP_INVALID", "the hub is already a member and cannot invite itself", { details: [{ path: "/server", message: "the hub itself" }] });
    if (this.store.member(channel, server)?.left_seq === null) return { channel, server, accepted: true };
    const body: Invite = { origin: this.opts.self, channel, inviter: this.opts.self, invitee: server, origin_ts: this.now() };
    const answer = await this.opts.sender.request(server, "POST", "/federation/v1/invite", body, { timeoutMs: 10_000 });
    if (answer.status !== 200) {
      const e = errorFromAnswer(answer, server);
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${server} refused the invite: ${e.errcode} ${e.message}`, { retryAfterMs: 1000 });
    }
    const issues = validate("InviteAnswer", answer.body);
    const reply = answer.body as InviteAnswer;
    if (issues.length > 0 || reply.channel !== channel) throw new SmcpError("SMCP_PEER_UNREACHABLE", `${server} answered an invalid InviteAnswer`, { retryAfterMs: 1000 });
    if (reply.accepted) this.join(channel, server);
    return { channel, server, accepted: reply.accepted };
  }

  private join(channel: string, server: string): void {
    const effects = newEffects();
    this.hubTx(() => {
      if (this.store.member(channel, server)?.left_seq === null) return;
      this.sequence(channel, "smcp:member.join", this.opts.self, this.now(), { server }, effects);
    });
    this.afterCommit(effects);
  }

  /** Removal (spec §9.5): the leave event reaches the removed server too, then nothing more does. */
  removeMember(channel: string, server: string): ChannelInfo {
    this.hubRow(channel);
    if (server === this.opts.self) throw new SmcpError("SMCP_INVALID", "the hub cannot be removed from its own channel", { details: [{ path: "/server", message: "the hub itself" }] });
    if (this.store.member(channel, server)?.left_seq !== null) throw new SmcpError("SMCP_NOT_FOUND", `${server} is not a member of ${channel}`);
    const effects = newEffects();
    this.hubTx(() => this.sequence(channel, "smcp:member.leave", this.opts.self, this.now(), { server, by: this.opts.self }, effects));
    this.afterCommit(effects);
    return this.get(channel);
  }

  /** Invitee side (spec §9.1): accept (per allow-list), idempotently. */
  handleInvite(origin: string, invite: Invite): InviteAnswer {
    if (invite.invitee !== this.opts.self) throw new SmcpError("SMCP_INVALID", `invite is for ${invite.invitee}, this is ${this.opts.self}`);
    const parsed = parseChannelId(invite.channel);
    if (!parsed || parsed.hub !== origin || invite.inviter !== origin) {
      throw new SmcpError("SMCP_NOT_HUB", `only the hub of ${invite.channel} may invite into it`);
    }
    const allowed = this.opts.inviteAllowList === undefined || this.opts.inviteAllowList.includes(origin);
    const existing = this.store.channel(invite.channel);
    if (existing?.role === "hub") throw new SmcpError("SMCP_CONFLICT", `${invite.channel} is hubbed here`);
    if (!allowed) return { channel: invite.channel, accepted: false, events_since: existing && existing.local_seq > 0 ? existing.local_seq : null };
    this.store.tx(() => {
      if (!existing) {
        this.store.insertChannel({ channel: invite.channel, hub: origin, role: "participant", joined: 1, local_seq: 0, known_seq: 0, created_ts: this.now() });
      } else this.store.setJoined(invite.channel, true);
    });
    this.lastHeard.set(invite.channel, this.now());
    return { channel: invite.channel, accepted: true, events_since: existing && existing.local_seq > 0 ? existing.local_seq : null };
  }

  // ---------------------------------------------------------------- transactions (spec §8)

  /** `PUT /federation/v1/send/{txn_id}`: idempotent per (origin, txn_id), answered after everything is stored. */
  handleTransaction(origin: string, originKey: VerifyKey, txnId: string, bodySha256: string, txn: Transaction): TransactionResult {
    const stored = this.store.txnResult(origin, txnId);
    if (stored) return sameOrConflict(stored, bodySha256, txnId);
    const items = (txn.events?.length ?? 0) + (txn.submissions?.length ?? 0);
    if (items > this.opts.maxTxnItems) {
      throw new SmcpError("SMCP_TOO_LARGE", `transaction has ${items} items, more than max_txn_items ${this.opts.maxTxnItems}`);
    }
    // Pure CPU, so done before the SQLite transaction opens.
    const auth = this.authenticate(origin, originKey, txn.events ?? []);
    const batch = newBatch();
    const result = this.hubTx(() => {
      const again = this.store.txnResult(origin, txnId);
      if (again) return sameOrConflict(again, bodySha256, txnId);
      const out: TransactionResult = { processed: [], rejected: [], sequenced: [] };
      for (const event of txn.events ?? []) this.collect(out, event.event_id, this.receiveEvent(origin, auth, event, batch));
      for (const head of txn.heads ?? []) this.receiveHead(origin, originKey, head, batch);
      this.flushBatch(batch);
      for (const sub of txn.submissions ?? []) this.receiveSubmission(origin, sub, out, batch.effects);
      this.store.putTxnResult(origin, txnId, bodySha256, out, this.now());
      return out;
    });
    this.afterCommit(batch.effects);
    this.outbound.peerAlive(origin);
    return result;
  }

  private collect(out: TransactionResult, id: string, problem: RejectedItem | null): void {
    if (problem) out.rejected.push(problem);
    else out.processed.push(id);
  }

  /**
   * EVT-15 and EVT-18 for the events of one transaction or backfill page: every ID is recomputed, then per channel
   * the newest event's signature is verified and everything it links to through prev_event (within the batch) is
   * authenticated by it; the hash chain commits to each ancestor's content. An event no verified event links to
   * gets its own check, so one signature per channel suffices in the common case.
   */
  private authenticate(hub: string, key: VerifyKey, events: Event[]): Authenticator {
    const verify = this.opts.verifyEvent ?? hubSignatureVerifies;
    const idProblems = new Map<Event, string>();
    const chains = new Map<string, Map<string, Event>>();
    for (const event of events) {
      if (parseChannelId(event.channel)?.hub !== hub) continue; // refused as SMCP_NOT_HUB before authentication matters
      const problem = eventIdProblem(event);
      if (problem) {
        idProblems.set(event, problem);
        continue;
      }
      let chain = chains.get(event.channel);
      if (!chain) chains.set(event.channel, (chain = new Map()));
      chain.set(event.event_id, event);
    }
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

  /** Hub side: per-item checks in the order of spec §8.3 TXN-12, then sequencing at most once per (sender, submission_id). */
  private receiveSubmission(origin: string, sub: Submission, out: TransactionResult, effects: Effects): void {
    const reject = (errcode: RejectedItem["errcode"], error: string): void => {
      out.rejected.push({ id: sub.submission_id, errcode, error });
    };
    const parsed = parseChannelId(sub.channel);
    if (!parsed || parsed.hub !== this.opts.self) return reject("SMCP_NOT_HUB", `${sub.channel} is not hubbed by ${this.opts.self}`);
    if (!this.store.channel(sub.channel)) return reject("SMCP_UNKNOWN_CHANNEL", `no channel ${sub.channel} here`);
    if (sub.sender !== origin) return reject("SMCP_ORIGIN_MISMATCH", `sender ${sub.sender} is not the transaction origin ${origin}`);
    if (this.store.member(sub.channel, origin)?.left_seq !== null) return reject("SMCP_NOT_MEMBER", `${origin} is not a member of ${sub.channel}`);
    if (sub.type.startsWith(RESERVED_PREFIX)) return reject("SMCP_BAD_EVENT", "the smcp: event namespace is reserved for the hub");
    const problem = this.dataProblem(sub.data);
    if (problem) return reject(problem.errcode === "SMCP_TOO_LARGE" ? "SMCP_TOO_LARGE" : "SMCP_BAD_EVENT", problem.error);
    const done = this.store.submission(origin, sub.submission_id);
    const event = done ? undefined : this.sequence(sub.channel, sub.type, origin, sub.origin_ts, sub.data, effects);
    const where = done ?? { channel: sub.channel, seq: event!.seq, event_id: event!.event_id };
    if (event) this.store.putSubmission(origin, sub.submission_id, where, this.now());
    out.processed.push(sub.submission_id);
    out.sequenced.push({ submission_id: sub.submission_id, event_id: where.event_id, seq: where.seq } satisfies SequencedSubmission);
  }

  /** The batch's copy of a channel row, read once per SQLite transaction. */
  private rowIn(batch: Batch, channel: string): ChannelRow | undefined {
    let row = batch.rows.get(channel);
    if (!row) {
      row = this.store.channel(channel);
      if (row) batch.rows.set(channel, row);
    }
    return row;
  }

  /** Participant side: the checks of spec §8.5 TXN-27 in order; authenticated events are stored even ahead of a gap (§9.4). */
  private receiveEvent(origin: string, auth: Authenticator, event: Event, batch: Batch, backfilled = false): RejectedItem | null {
    const reject = (errcode: RejectedItem["errcode"], error: string): RejectedItem => ({ id: event.event_id, errcode, error });
    const row = this.rowIn(batch, event.channel);
    if (!row) return reject("SMCP_UNKNOWN_CHANNEL", `no channel ${event.channel} here`);
    // A backfill page is scoped by the hub to what we may see; history may contain an earlier leave of ours.
    if (row.joined !== 1 && !backfilled) return reject("SMCP_NOT_MEMBER", `${this.opts.self} is not joined to ${event.channel}`);
    if (row.role !== "participant" || row.hub !== origin) return reject("SMCP_NOT_HUB", `${origin} is not the hub of ${event.channel}`);
    // Nothing is stored beyond known_seq (storing an event raises it), so higher seqs need no lookup.
    const existing = event.seq <= row.known_seq ? this.store.event(event.channel, event.seq) : undefined;
    // A redelivery of a held (already verified) event is processed without verifying its signature or storing it
    // again (TXN-23); its ID must still recompute, or it is not the held event but altered content under its ID (TXN-27).
    if (existing?.event_id === event.event_id && auth.idProblem(event) === null) return null;
    const problem = auth.problem(event) ?? reservedProblem(event, row.hub);
    if (problem) return reject("SMCP_BAD_EVENT", problem);
    const conflict = existing ? `seq ${event.seq} is already ${existing.event_id}` : this.chainConflict(row, event, batch);
    if (conflict) {
      this.recordEquivocation(event, auth.evidence(event), existing?.json ?? null, conflict);
      return reject("SMCP_EQUIVOCATION", conflict);
    }
    this.store.insertEvent(event);
    batch.tips.set(event.channel, { seq: event.seq, event_id: event.event_id });
    this.lastHeard.set(event.channel, this.now());
    this.advance(row, event.seq, batch, event);
    return null;
  }

  /** prev_event must link to the held neighbours on both sides; otherwise the hub signed two histories (spec §9.6). */
  private chainConflict(row: ChannelRow, event: Event, batch: Batch): string | null {
    if (event.seq > 1 && event.seq - 1 <= row.known_seq) {
      const tip = batch.tips.get(event.channel);
      const prevId = tip?.seq === event.seq - 1 ? tip.event_id : this.store.event(event.channel, event.seq - 1)?.event_id;
      if (prevId !== undefined && prevId !== event.prev_event) return `prev_event is not the held event ${prevId} at seq ${event.seq - 1}`;
    }
    const next = event.seq + 1 <= row.known_seq ? this.store.event(event.channel, event.seq + 1) : undefined;
    if (next && (JSON.parse(next.json) as Event).prev_event !== event.event_id) return `the held event at seq ${event.seq + 1} does not follow this one`;
    const head = event.seq <= row.known_seq && row.head ? (JSON.parse(row.head) as ChannelHead) : null;
    if (head && head.seq === event.seq && head.event_id !== event.event_id) return `the hub's signed head names ${head.event_id} at seq ${event.seq}`;
    return null;
  }

  /**
   * Both signed statements are kept as evidence, and the operator is told (spec §9.6 DLV-25, DLV-26). An offered
   * event authenticated through the chain is kept with that chain, up to the event whose signature verifies.
   */
  private recordEquivocation(offered: Event, proof: Event | Event[], heldJson: string | null, why: string): void {
    this.store.putEvidence(offered.channel, offered.seq, heldJson ?? "null", JSON.stringify(proof), this.now());
    this.opts.logger.error({ channel: offered.channel, seq: offered.seq, offered: offered.event_id, why }, "hub equivocation");
  }

  /** Moves local_seq over every contiguous stored event (applying membership in order) and known_seq up, in the batch's row. */
  private advance(row: ChannelRow, seenSeq: number, batch: Batch, just?: Event): void {
    const before = row.local_seq;
    row.known_seq = Math.max(row.known_seq, seenSeq);
    // The common case: the event just stored is the next one, with nothing held beyond it.
    if (just && just.seq === row.local_seq + 1) {
      this.applyMembership(just, row);
      row.local_seq++;
    }
    while (row.local_seq < row.known_seq) {
      const next = this.store.event(row.channel, row.local_seq + 1);
      if (!next) break;
      this.applyMembership(JSON.parse(next.json) as Event, row);
      row.local_seq++;
    }
    row.known_seq = Math.max(row.known_seq, row.local_seq);
    batch.dirty.add(row.channel);
    if (row.local_seq !== before) batch.effects.advanced.add(row.channel);
  }

  /** Writes each changed row's seqs once, and notes the channels left with a gap. */
  private flushBatch(batch: Batch): void {
    for (const channel of batch.dirty) {
      const row = batch.rows.get(channel)!;
      this.store.setSeqs(channel, row.local_seq, row.known_seq);
      if (row.known_seq > row.local_seq) batch.effects.gaps.add(channel);
    }
    batch.dirty.clear();
  }

  /** A verified head raises known_seq; one contradicting a held event is kept as evidence (spec §9.3, §9.6). */
  private receiveHead(origin: string, hubKey: VerifyKey, head: ChannelHead, batch: Batch): void {
    const row = this.rowIn(batch, head.channel);
    if (!row || row.role !== "participant" || row.hub !== origin) return;
    // A head naming the event this batch just stored tells nothing new (its chain is authenticated): no signature to check.
    const tip = batch.tips.get(head.channel);
    if (tip && tip.seq === head.seq && tip.event_id === head.event_id) {
      this.lastHeard.set(head.channel, this.now());
      return;
    }
    if (!headVerifies(hubKey, head)) return;
    this.lastHeard.set(head.channel, this.now());
    const held = head.seq > 0 && head.seq <= row.known_seq ? this.store.event(head.channel, head.seq) : undefined;
    if (held && held.event_id !== head.event_id) {
      this.store.putEvidence(head.channel, head.seq, held.json, JSON.stringify(head), this.now());
      this.opts.logger.error({ channel: head.channel, seq: head.seq, held: held.event_id, head: head.event_id }, "hub equivocation (head)");
      return;
    }
    if (head.seq < row.known_seq) return this.checkStaleHead(row, head);
    if (head.seq >= row.known_seq) {
      const json = JSON.stringify(head);
      this.store.setHead(head.channel, json);
      row.head = json;
    }
    if (head.seq > row.known_seq) this.advance(row, head.seq, batch);
  }

  /**
   * A verified head below known_seq is stale, which is normal (a retried transaction), unless the hub signed it after
   * it had signed a later seq: then it states a false newest event, and is kept as evidence (spec §9.3 DLV-15).
   */
  private checkStaleHead(row: ChannelRow, head: ChannelHead): void {
    const stored = row.head ? (JSON.parse(row.head) as ChannelHead) : undefined;
    const nextEvent = this.store.event(head.channel, head.seq + 1);
    const candidates: { seq: number; hub_ts: number; json: string }[] = [];
    if (stored && stored.seq > head.seq) candidates.push({ seq: stored.seq, hub_ts: stored.hub_ts, json: row.head! });
    if (nextEvent) {
      const e = JSON.parse(nextEvent.json) as Event;
      candidates.push({ seq: e.seq, hub_ts: e.hub_ts, json: nextEvent.json });
    }
    const proof = candidates.find((c) => c.hub_ts < head.hub_ts);
    if (!proof) return;
    this.store.putEvidence(head.channel, head.seq, proof.json, JSON.stringify(head), this.now());
    this.opts.logger.error({ channel: head.channel, seq: head.seq, later_seq: proof.seq, head_ts: head.hub_ts, later_ts: proof.hub_ts }, "hub equivocation (stale head)");
  }

  // ---------------------------------------------------------------- backfill (spec §9.4)

  /** Hub side: consecutive events after `after` for a member (a removed member up to its leave event). */
  serveBackfill(origin: string, channel: string, after: number, limit: number): BackfillPage {
    if (parseChannelId(channel)?.hub !== this.opts.self) throw new SmcpError("SMCP_NOT_HUB", `${channel} is not hubbed by ${this.opts.self}`);
    const row = this.store.channel(channel);
    if (!row) throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `no channel ${channel} here`);
    const member = this.store.member(channel, origin);
    if (!member) throw new SmcpError("SMCP_NOT_MEMBER", `${origin} has never been a member of ${channel}`);
    const upTo = member.left_seq ?? row.local_seq;
    if (member.left_seq !== null && after >= member.left_seq) throw new SmcpError("SMCP_NOT_MEMBER", `${origin} left ${channel} at seq ${member.left_seq}`);
    return { channel, events: this.store.events(channel, after, upTo, limit), head: this.head(channel, upTo) };
  }

  /** Participant side: fetches missing events from the hub until local_seq reaches the known head. */
  backfill(channel: string): Promise<void> {
    const running = this.backfilling.get(channel);
    if (running) return running;
    const p = this.runBackfill(channel).finally(() => this.backfilling.delete(channel));
    this.backfilling.set(channel, p);
    return p;
  }

  private async runBackfill(channel: string): Promise<void> {
    for (let round = 0; round < 10_000 && !this.closed; round++) {
      const row = this.store.channel(channel);
      if (!row || row.role !== "participant") return;
      const path = `/federation/v1/channels/${encodeURIComponent(channel)}/events?after=${row.local_seq}&limit=1000`;
      let page: BackfillPage;
      try {
        const answer = await this.opts.sender.request(row.hub, "GET", path, undefined, { timeoutMs: 15_000 });
        if (answer.status !== 200) throw errorFromAnswer(answer, row.hub);
        if (validate("BackfillPage", answer.body).length > 0) throw new SmcpError("SMCP_PEER_UNREACHABLE", `${row.hub} sent an invalid BackfillPage`);
        page = answer.body as BackfillPage;
      } catch (err) {
        this.opts.logger.warn({ channel, err: (err as Error).message }, "backfill failed");
        return;
      }
      const key = await this.opts.hubKey(row.hub);
      if (!key || this.closed) return;
      const progressed = this.applyPage(row.hub, key, page);
      const after = this.store.channel(channel)!;
      if (after.local_seq >= after.known_seq || !progressed) return;
    }
  }

  private applyPage(hub: string, key: VerifyKey, page: BackfillPage): boolean {
    const batch = newBatch();
    const before = this.store.channel(page.channel)!.local_seq;
    const events = page.events.filter((e) => e.channel === page.channel);
    const auth = this.authenticate(hub, key, events);
    this.store.tx(() => {
      for (const event of events) {
        const problem = this.receiveEvent(hub, auth, event, batch, true);
        if (problem) this.opts.logger.warn({ channel: page.channel, ...problem }, "backfilled event refused");
      }
      if (page.head.channel === page.channel) this.receiveHead(hub, key, page.head, batch);
      this.flushBatch(batch);
    });
    batch.effects.gaps.clear();
    this.afterCommit(batch.effects);
    return this.store.channel(page.channel)!.local_seq > before;
  }

  private scheduleGapFill(channel: string): void {
    if (this.gapTimers.has(channel) || this.closed) return;
    const t = setTimeout(() => {
      this.gapTimers.delete(channel);
      const row = this.store.channel(channel);
      if (row && row.known_seq > row.local_seq) void this.backfill(channel);
    }, this.opts.gapDelayMs);
    t.unref();
    this.gapTimers.set(channel, t);
  }

  /** Channels heard nothing from for idleBackfillMs fetch the hub's head (spec §9.3). */
  private idleCheck(): void {
    const now = this.now();
    if (now - this.lastExpiry > 3600_000) {
      this.lastExpiry = now;
      this.store.expireTxnResults(now - TXN_RESULT_TTL_MS);
    }
    for (const row of this.store.channels()) {
      if (row.role !== "participant") continue;
      if (row.joined !== 1 && row.known_seq <= row.local_seq) continue;
      if (now - (this.lastHeard.get(row.channel) ?? 0) < this.opts.idleBackfillMs) continue;
      this.lastHeard.set(row.channel, now);
      void this.backfill(row.channel);
    }
  }

  // ---------------------------------------------------------------- reading (control, spec §12.3)

  /** Events after `after` up to local_seq; waits up to waitMs for one when there is none yet (no polling). */
  async read(channel: string, after: number, limit: number, waitMs: number, signal?: AbortSignal): Promise<EventList> {
    let row = this.row(channel);
    if (row.local_seq <= after && waitMs > 0 && !this.closed) {
      await this.waitForAdvance(channel, after, waitMs, signal);
      row = this.row(channel);
    }
    return { channel, events: this.store.events(channel, after, row.local_seq, limit), local_seq: row.local_seq };
  }

  private waitForAdvance(channel: string, after: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(channel);
      if (!set) this.waiters.set(channel, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(check);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const check = () => {
        if (this.closed || (this.store.channel(channel)?.local_seq ?? 0) > after) done();
      };
      const timer = setTimeout(done, waitMs);
      signal?.addEventListener("abort", done);
      set.add(check);
    });
  }

  private afterCommit(effects: Effects): void {
    for (const d of effects.kicks) this.outbound.kick(d);
    for (const c of effects.advanced) for (const wake of [...(this.waiters.get(c) ?? [])]) wake();
    for (const c of effects.gaps) this.scheduleGapFill(c);
  }
}

/** The rules of the reserved `smcp:` types (spec §7.1 EVT-02..06); unknown `smcp:` types only need the hub as sender. */
function reservedProblem(event: Event, hub: string): string | null {
  if ((event.seq === 1) !== (event.type === "smcp:channel.create")) return "seq 1 is smcp:channel.create, and only seq 1";
  if (!event.type.startsWith(RESERVED_PREFIX)) return null;
  if (event.sender !== hub) return `${event.type} must be sent by the hub`;
  const d = event.data as Record<string, unknown>;
  if (event.type === "smcp:channel.create" && d.creator !== hub) return "smcp:channel.create must name the hub as creator";
  if (event.type === "smcp:member.join" && (typeof d.server !== "string" || !isServerName(d.server))) return "smcp:member.join needs data.server";
  if (event.type === "smcp:member.leave" && (typeof d.server !== "string" || !isServerName(d.server) || d.by !== hub)) {
    return "smcp:member.leave needs data.server and data.by = hub";
  }
  return null;
}

/** 10 ms lets the events published meanwhile share a transaction; NAOMI_LINGER_MS overrides it (0 disables). */
function defaultLingerMs(): number {
  const text = process.env.NAOMI_LINGER_MS;
  const env = text ? Number(text) : NaN;
  return Number.isFinite(env) && env >= 0 ? env : 10;
}

function recentKey(channel: string, seq: number): string {
  return `${seq} ${channel}`;
}

function newEffects(): Effects {
  return { kicks: new Set(), advanced: new Set(), gaps: new Set() };
}

function newBatch(): Batch {
  return { effects: newEffects(), rows: new Map(), dirty: new Set(), tips: new Map() };
}

function sameOrConflict(stored: { body_sha256: string; result: TransactionResult }, bodySha256: string, txnId: string): TransactionResult {
  if (stored.body_sha256 !== bodySha256) throw new SmcpError("SMCP_CONFLICT", `transaction ${txnId} was already received with a different body`);
  return stored.result;
}
