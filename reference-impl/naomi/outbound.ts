// Naomi (event bus): the durable, bounded outbound queue per destination — one transaction in flight, batched,
// retried with the same bytes and exponential back-off; participants' submissions ride the same queue (spec §8, §9.2).
import type { Logger } from "pino";
import { backoffDelay, type RandomSource } from "../../protocol/backoff.ts";
import { SmcpError } from "../../protocol/errors.ts";
import { errorFromAnswer, type JsonText } from "../../protocol/http-client.ts";
import { DEFAULT_LIMITS } from "../../protocol/limits.ts";
import { randomId } from "../../protocol/random-id.ts";
import { validate } from "../../protocol/schemas.ts";
import type { OutboundQueue, SequencedSubmission, Submission, TransactionResult } from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Store } from "../storage/db.ts";
import type { HubLog } from "./hub-log.ts";
import { Publishers } from "./publishers.ts";
import { ENVELOPE_BYTES, transactionText, withinBytes } from "./transaction-text.ts";

export interface OutboundOptions {
  self: string;
  store: Store;
  sender: FederationSender;
  logger: Logger;
  /**
   * The hub log: each channel's newest seq (the end of every read position into it), the JSON of recently sequenced
   * events (sent without reading them back), and fresh signed heads for a destination (spec §9.3).
   */
  log: Pick<HubLog, "seq" | "recentEvent" | "headsFor">;
  /** Items per transaction when the destination's advertised limits are unknown. */
  maxTxnItems: number;
  /** The destination's advertised limits, when known: every transaction to it stays within them (spec §6.2 DISC-11, §8.2 TXN-06). */
  destinationLimits?: (destination: string) => { max_txn_items: number; max_body_bytes: number } | undefined;
  /** Pending events per destination above which it is suspended (spec §9.2). */
  queueBound: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Jitter of the back-off (protocol/backoff.ts); tests that assert exact retry times pass () => 0. */
  random?: RandomSource;
  /**
   * How long a transaction that could still take more events waits for the ones being published right now, so
   * that concurrent publishes share one transaction (and its signature, commit and HTTP exchange); 0 sends at once.
   */
  lingerMs?: number;
  now?: () => number;
}

/** The transaction being delivered: retried with identical bytes under the same txn_id (spec §8.4 TXN-21). */
interface Attempt {
  txnId: string;
  /** The Transaction, serialised once: events go out as the text they are stored as, never re-encoded. */
  body: JsonText;
  /** The last seq sent per channel: the read positions move there once the destination has it. */
  upTo: Map<string, number>;
  rowCount: number;
  submissionIds: string[];
  wasSuspended: boolean;
}

/** Where a destination stands in one channel this instance hubs (spec §9.2 DLV-03: durable, in the store too). */
interface Cursor {
  acked: number;
  /** The destination's leave event; null while it is a member. */
  end: number | null;
}

interface DestinationState {
  inflight: boolean;
  failures: number;
  nextAttemptTs: number;
  timer?: NodeJS.Timeout;
  linger?: NodeJS.Timeout;
  /** When the last transaction to this destination was answered: lingering is for a busy stream only. */
  lastDoneTs: number;
  /** Read positions per channel, mirrored in the store; the queue is every event past them (DLV-06: only references). */
  cursors: Map<string, Cursor>;
  /** Which channel the next transaction starts with (round robin). */
  turn: number;
  /** Counts kept in step with the positions and the table, so that the hot path does not count. */
  pendingEvents: number;
  pendingSubmissions: number;
  /** Send a heads-only transaction even with nothing queued (a suspended destination). */
  headsDue: boolean;
  /** The stored suspended flag, read once and written through (checked for every enqueued event). */
  suspended: boolean;
  /** Submissions were ever queued for this destination (it hubs a channel we publish to). */
  submitsTo: boolean;
  current?: Attempt;
  lastError?: string;
}

export class OutboundQueues {
  private readonly states = new Map<string, DestinationState>();
  private readonly publishers = new Publishers();
  private readonly now: () => number;
  private readonly txnPrefix = randomId(9);
  private txnCounter = 0;
  private closed = false;
  /**
   * Read positions already moved in memory whose store rows are not written yet: the answers of one turn of the event
   * loop, from every destination, share one SQLite commit (writeAcks). Losing them in a crash only resends events the
   * destination already holds, which it treats as processed (spec §8.3 TXN-23); nothing is lost or skipped.
   */
  private readonly unwrittenAcks = new Map<string, Map<string, number>>();
  private acksScheduled = false;

  constructor(private readonly opts: OutboundOptions) {
    this.now = opts.now ?? Date.now;
    validate("TransactionResult", undefined); // compiles the answer schema now, not while the first transaction waits
  }

  /** Resumes delivery of whatever the store still holds (after a restart). */
  start(): void {
    const destinations = new Set([...this.opts.store.outboundDestinations(), ...this.opts.store.submissionHubs()]);
    for (const destination of destinations) this.kick(destination);
  }

  /**
   * Queues a stored event for `destination`; call inside the sequencing SQLite transaction, then kick(). Events are
   * queued in seq order per channel, so queueing one only moves the end of the queue: nothing is written.
   */
  enqueue(destination: string, channel: string, seq: number): void {
    const st = this.state(destination);
    if (st.suspended) return;
    if (!st.cursors.has(channel)) this.setCursor(destination, st, channel, { acked: seq - 1, end: null });
    if (st.pendingEvents >= this.opts.queueBound) {
      // Dropping the queue (DLV-04) is moving every read position to the newest event, this one included.
      for (const [ch, cur] of st.cursors) this.setCursor(destination, st, ch, { acked: this.opts.log.seq(ch), end: cur.end });
      this.setSuspended(destination, st, true);
      st.pendingEvents = 0;
      st.headsDue = true;
      this.opts.logger.warn({ destination, bound: this.opts.queueBound }, "outbound queue over its bound: suspended, peer recovers by backfill");
      return;
    }
    st.pendingEvents++;
  }

  /**
   * `destination` joined `channel` with the event at `seq` (queued next): its position starts just before it. Events
   * still queued from an earlier membership are dropped, since a single position cannot skip the time it was away;
   * they stay in the channel store for backfill (DLV-06). Call inside the sequencing SQLite transaction.
   */
  memberJoined(destination: string, channel: string, seq: number): void {
    const st = this.state(destination);
    const old = st.cursors.get(channel);
    if (old && !st.suspended) st.pendingEvents = Math.max(0, st.pendingEvents - Math.max(0, this.queueEnd(channel, old) - old.acked));
    this.setCursor(destination, st, channel, { acked: seq - 1, end: null });
  }

  /** `destination` left `channel` at `seq` (its leave event, still queued for it): nothing after it is. */
  memberLeft(destination: string, channel: string, seq: number): void {
    const st = this.state(destination);
    const cur = st.cursors.get(channel);
    this.setCursor(destination, st, channel, { acked: cur?.acked ?? seq - 1, end: seq });
  }

  /** Rebuilds every destination's in-memory view from the store (after a rolled-back SQLite transaction). */
  resync(): void {
    for (const [destination, st] of this.states) {
      st.cursors = this.loadCursors(destination);
      // Positions moved by answers whose rows are still to be written stay moved (see unwrittenAcks).
      for (const [channel, seq] of this.unwrittenAcks.get(destination) ?? []) {
        const c = st.cursors.get(channel);
        if (c && c.acked < seq) c.acked = seq;
      }
      st.suspended = this.opts.store.suspended(destination);
      st.pendingEvents = this.countPending(st);
    }
  }

  /**
   * Queues a submission durably for its hub and resolves with where the hub sequenced it. The first failed
   * attempt rejects with 502 SMCP_PEER_UNREACHABLE, but the submission stays queued and is retried.
   */
  submit(hub: string, submission: Submission): Promise<SequencedSubmission> {
    const st = this.state(hub);
    st.submitsTo = true;
    this.opts.store.queueSubmission(hub, submission.submission_id, JSON.stringify(submission));
    st.pendingSubmissions++;
    return new Promise((resolve, reject) => {
      // While the hub is failing, answer 502 at once (CTRL-20): a retried transaction resends identical bytes
      // (TXN-21), so it cannot carry this submission, which stays queued and is sequenced once later.
      if (st.failures > 0) {
        reject(unreachable(hub, st.lastError ?? "earlier attempts failed", Math.max(1, st.nextAttemptTs - this.now())));
      } else this.publishers.wait(submission.submission_id, { hub, resolve, reject });
      this.kick(hub);
    });
  }

  /** A sign of life from the peer (it just talked to us): retry now instead of waiting out the back-off. */
  peerAlive(destination: string): void {
    const st = this.states.get(destination);
    if (!st || st.failures === 0 || st.inflight) return;
    st.nextAttemptTs = 0;
    this.kick(destination);
  }

  kick(destination: string): void {
    if (this.closed) return;
    const st = this.state(destination);
    if (st.inflight) return;
    const wait = st.nextAttemptTs - this.now();
    if (wait > 0) {
      if (!st.timer) st.timer = setTimeout(() => ((st.timer = undefined), this.kick(destination)), wait);
      return;
    }
    if (st.timer) clearTimeout(st.timer);
    st.timer = undefined;
    if (st.linger) return;
    if (this.shouldLinger(st)) {
      st.linger = setTimeout(() => {
        st.linger = undefined;
        this.launch(destination, st);
      }, this.opts.lingerMs);
      return;
    }
    this.launch(destination, st);
  }

  /**
   * Only a new batch of events lingers, and only while events stream (the previous transaction was answered
   * moments ago): a lone event goes at once, retries keep their bytes, and submissions and heads do not wait.
   */
  private shouldLinger(st: DestinationState): boolean {
    const lingerMs = this.opts.lingerMs ?? 0;
    return lingerMs > 0 && !st.current && st.pendingEvents > 0 && st.pendingEvents < this.opts.maxTxnItems &&
      st.pendingSubmissions === 0 && !st.headsDue && this.now() - st.lastDoneTs < STREAMING_WINDOW_MS;
  }

  private launch(destination: string, st: DestinationState): void {
    if (this.closed || st.inflight) return;
    st.inflight = true;
    void this.attempt(destination, st).finally(() => {
      st.inflight = false;
      st.lastDoneTs = this.now();
      if (st.current || st.pendingEvents > 0 || st.pendingSubmissions > 0 || st.headsDue) this.kick(destination);
    });
  }

  info(destination: string): OutboundQueue {
    const st = this.states.get(destination);
    const out: OutboundQueue = { pending: this.countPending(st ?? this.state(destination)), state: "idle", failures: st?.failures ?? 0 };
    if (st ? st.suspended : this.opts.store.suspended(destination)) out.state = "suspended";
    else if (st?.inflight) out.state = "sending";
    else if (st && st.failures > 0) out.state = "backoff";
    if (st && st.failures > 0) out.next_attempt_ts = st.nextAttemptTs;
    return out;
  }

  close(): void {
    this.writeAcks();
    this.closed = true;
    for (const st of this.states.values()) {
      if (st.timer) clearTimeout(st.timer);
      if (st.linger) clearTimeout(st.linger);
    }
    this.publishers.rejectAll(new SmcpError("SMCP_PEER_UNREACHABLE", "instance shutting down", { retryAfterMs: 1000 }));
  }

  private state(destination: string): DestinationState {
    let st = this.states.get(destination);
    if (!st) {
      const suspended = this.opts.store.suspended(destination);
      const pendingSubmissions = this.opts.store.queuedSubmissionCount(destination);
      st = {
        inflight: false, failures: 0, nextAttemptTs: 0, lastDoneTs: 0, cursors: this.loadCursors(destination), turn: 0, pendingEvents: 0,
        pendingSubmissions, headsDue: suspended, suspended, submitsTo: pendingSubmissions > 0,
      };
      st.pendingEvents = this.countPending(st);
      this.states.set(destination, st);
    }
    return st;
  }

  private loadCursors(destination: string): Map<string, Cursor> {
    return new Map(this.opts.store.cursors(destination).map((r) => [r.channel, { acked: r.acked_seq, end: r.end_seq }]));
  }

  private setCursor(destination: string, st: DestinationState, channel: string, cur: Cursor): void {
    this.opts.store.putCursor(destination, channel, cur.acked, cur.end);
    st.cursors.set(channel, cur);
  }

  /** The newest event queued for the destination in a channel: its leave event, or the channel's newest. */
  private queueEnd(channel: string, cur: Cursor): number {
    const top = this.opts.log.seq(channel);
    return cur.end === null ? top : Math.min(cur.end, top);
  }

  /** Events past the read positions; none while suspended (the queue was dropped, DLV-04). */
  private countPending(st: DestinationState): number {
    if (st.suspended) return 0;
    let n = 0;
    for (const [channel, cur] of st.cursors) n += Math.max(0, this.queueEnd(channel, cur) - cur.acked);
    return n;
  }

  /**
   * Up to `limit` queued events, oldest first per channel, as stored (the hub's recent ones from memory). Each
   * transaction starts with the next channel in turn, so that a busy channel cannot hold back the destination's others.
   */
  private queued(st: DestinationState, limit: number): QueuedEvent[] {
    const out: QueuedEvent[] = [];
    if (st.suspended) return out;
    const entries = [...st.cursors];
    const first = st.turn++ % Math.max(1, entries.length);
    for (const [channel, cur] of [...entries.slice(first), ...entries.slice(0, first)]) {
      const end = this.queueEnd(channel, cur);
      let seq = cur.acked + 1;
      for (; seq <= end && out.length < limit; seq++) {
        const recent = this.opts.log.recentEvent(channel, seq);
        if (recent === undefined) break;
        out.push({ channel, seq, json: recent.json, bytes: recent.bytes });
      }
      if (seq <= end && out.length < limit) {
        for (const r of this.opts.store.eventsJson(channel, seq - 1, end, limit - out.length)) out.push({ channel, seq: r.seq, json: r.json });
      }
      if (out.length >= limit) break;
    }
    return out;
  }

  private setSuspended(destination: string, st: DestinationState, suspended: boolean): void {
    this.opts.store.setSuspended(destination, suspended);
    st.suspended = suspended;
  }

  /**
   * Everything queued, within the destination's max_txn_items and max_body_bytes, plus its heads (spec §8.2 TXN-06,
   * §8.6 TXN-33, §9.3 DLV-09). What does not fit waits for the next transaction.
   */
  private build(destination: string, st: DestinationState): Attempt | undefined {
    const limits = this.opts.destinationLimits?.(destination);
    const maxItems = limits?.max_txn_items ?? this.opts.maxTxnItems;
    // A destination we never submitted to (we are its channels' participant only through events) needs no query.
    const queuedSubs = st.submitsTo ? this.opts.store.queuedSubmissions(destination, maxItems) : [];
    const queuedRows = this.queued(st, maxItems - queuedSubs.length);
    const wasSuspended = st.suspended;
    st.pendingSubmissions = queuedSubs.length === 0 ? 0 : st.pendingSubmissions;
    if (queuedRows.length === 0) st.pendingEvents = 0;
    if (queuedRows.length === 0 && queuedSubs.length === 0 && !st.headsDue && !wasSuspended) return undefined;
    const heads = this.opts.log.headsFor(destination).slice(0, 1000);
    const headsJson = heads.length === 0 ? "" : JSON.stringify(heads);
    const budget = (limits?.max_body_bytes ?? DEFAULT_LIMITS.max_body_bytes) - ENVELOPE_BYTES - Buffer.byteLength(this.opts.self) -
      Buffer.byteLength(headsJson);
    const { subs, rows } = withinBytes(queuedSubs, queuedRows, budget);
    const upTo = new Map<string, number>();
    for (const r of rows) upTo.set(r.channel, r.seq);
    return {
      txnId: `${this.txnPrefix}.${++this.txnCounter}`, body: transactionText(this.opts.self, this.now(), rows, subs, headsJson),
      upTo, rowCount: rows.length, submissionIds: subs.map((s) => s.submission_id), wasSuspended,
    };
  }

  private async attempt(destination: string, st: DestinationState): Promise<void> {
    st.current ??= this.build(destination, st);
    const cur = st.current;
    if (!cur) return;
    let answer;
    try {
      answer = await this.opts.sender.request(destination, "PUT", `/federation/v1/send/${cur.txnId}`, cur.body);
    } catch (err) {
      if (this.closed) return;
      return this.retryLater(destination, st, cur, err instanceof SmcpError ? err : unreachable(destination, String(err), 0));
    }
    if (this.closed) return; // the store may be closed already; the queue resumes from it on the next start
    if (answer.status === 200 && validate("TransactionResult", answer.body).length === 0) {
      return this.delivered(destination, st, cur, answer.body as TransactionResult);
    }
    const err = answer.status === 200 ? new SmcpError("SMCP_INTERNAL", `${destination} answered an invalid TransactionResult`) : errorFromAnswer(answer, destination);
    if (retryable(answer.status)) return this.retryLater(destination, st, cur, err);
    this.abandon(destination, st, cur, err);
  }

  private delivered(destination: string, st: DestinationState, cur: Attempt, result: TransactionResult): void {
    // The common case, events only, moves the positions now and writes them with this turn's other answers.
    if (cur.submissionIds.length === 0 && !(cur.wasSuspended && st.suspended)) this.ackLater(destination, st, cur);
    else {
      this.opts.store.tx(() => {
        this.ack(destination, st, cur);
        // Resume enqueueing new events only (DLV-05): what was sequenced while suspended is left to backfill.
        if (cur.wasSuspended && st.suspended) {
          for (const [ch, c] of st.cursors) this.setCursor(destination, st, ch, { acked: Math.max(c.acked, this.opts.log.seq(ch)), end: c.end });
          this.setSuspended(destination, st, false);
        }
        for (const id of cur.submissionIds) this.opts.store.dequeueSubmission(id);
      });
    }
    this.finish(destination, st, cur);
    for (const r of result.rejected) this.opts.logger.warn({ destination, item: r.id, errcode: r.errcode, error: r.error }, "peer rejected an item");
    const sequenced = new Map(result.sequenced.map((s) => [s.submission_id, s]));
    const rejected = new Map(result.rejected.map((r) => [r.id, r]));
    for (const id of cur.submissionIds) {
      const s = sequenced.get(id);
      const r = rejected.get(id);
      if (s) this.publishers.settle(id, (w) => w.resolve(s));
      else this.publishers.settle(id, (w) => w.reject(r ? new SmcpError(r.errcode, `hub refused the event: ${r.error}`) : unreachable(destination, "hub did not sequence the submission", 0)));
    }
  }

  /**
   * Any answer retryable() does not retry — the 400, 403, 409, 413 and 415 of TXN-30, every other status such as 404,
   * and a 200 whose body is no TransactionResult — cannot be fixed by resending the same bytes: logged and dropped;
   * the events stay available by backfill.
   */
  private abandon(destination: string, st: DestinationState, cur: Attempt, err: SmcpError): void {
    this.opts.logger.error({ destination, txn_id: cur.txnId, errcode: err.errcode, err: err.message }, "transaction refused; abandoned");
    this.opts.store.tx(() => {
      this.ack(destination, st, cur);
      for (const id of cur.submissionIds) this.opts.store.dequeueSubmission(id);
    });
    this.finish(destination, st, cur);
    for (const id of cur.submissionIds) this.publishers.settle(id, (w) => w.reject(unreachable(destination, `${err.errcode}: ${err.message}`, 0)));
  }

  /** Moves the read positions past the events of a transaction the destination has answered (store and memory). */
  private ack(destination: string, st: DestinationState, cur: Attempt): void {
    for (const [channel, seq] of cur.upTo) {
      const c = st.cursors.get(channel);
      if (!c || c.acked >= seq) continue;
      this.opts.store.ackCursor(destination, channel, seq);
      c.acked = seq;
    }
  }

  /** Moves the read positions in memory now; their rows are written by writeAcks, once per turn for every destination. */
  private ackLater(destination: string, st: DestinationState, cur: Attempt): void {
    let unwritten = this.unwrittenAcks.get(destination);
    for (const [channel, seq] of cur.upTo) {
      const c = st.cursors.get(channel);
      if (!c || c.acked >= seq) continue;
      c.acked = seq;
      if (!unwritten) this.unwrittenAcks.set(destination, (unwritten = new Map()));
      unwritten.set(channel, seq);
    }
    if (!unwritten || this.acksScheduled) return;
    this.acksScheduled = true;
    setImmediate(() => this.writeAcks());
  }

  /** Writes every position ackLater moved, in one SQLite transaction; on failure they are kept for the next try. */
  private writeAcks(): void {
    this.acksScheduled = false;
    if (this.closed || this.unwrittenAcks.size === 0) return;
    try {
      this.opts.store.tx(() => {
        for (const [destination, acks] of this.unwrittenAcks) for (const [channel, seq] of acks) this.opts.store.ackCursor(destination, channel, seq);
      });
      this.unwrittenAcks.clear();
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, "could not store outbound read positions; kept for the next answer");
    }
  }

  private finish(destination: string, st: DestinationState, cur: Attempt): void {
    st.current = undefined;
    st.pendingEvents = this.countPending(st);
    st.pendingSubmissions = Math.max(0, st.pendingSubmissions - cur.submissionIds.length);
    // Suspended after this attempt was built: a heads-only transaction is still owed (spec §9.2 DLV-05).
    st.headsDue = st.suspended;
    st.failures = 0;
    st.nextAttemptTs = 0;
    st.lastError = undefined;
  }

  /** Back-off 250 ms doubling to 30 s (with protocol/backoff.ts jitter above that floor), never shorter than a 429's retry_after_ms (spec §8.6 TXN-31). */
  private retryLater(destination: string, st: DestinationState, cur: Attempt, err: SmcpError): void {
    st.failures++;
    const backoff = backoffDelay(st.failures, { baseMs: this.opts.backoffBaseMs, maxMs: this.opts.backoffMaxMs }, this.opts.random);
    // Never sooner than a 429 from this destination allows, whichever request it answered (RATE-07).
    const held = Math.max(err.errcode === "SMCP_RATE_LIMITED" ? err.extra.retryAfterMs ?? 0 : 0, this.opts.sender.heldFor?.(destination) ?? 0);
    const delay = Math.max(backoff, held);
    st.nextAttemptTs = this.now() + delay;
    st.lastError = err.message;
    this.opts.logger.warn({ destination, failures: st.failures, retry_in_ms: delay, err: err.message }, "transaction failed; will retry");
    this.publishers.rejectHub(destination, () => unreachable(destination, err.message, delay));
  }
}
/** A queued event as stored, with its size when the hub log knows it. */
interface QueuedEvent {
  channel: string;
  seq: number;
  json: string;
  bytes?: number;
}

/** A destination whose previous transaction was answered this recently is receiving a stream of events. */
const STREAMING_WINDOW_MS = 100;

/**
 * The answers retried with the same bytes (spec §8.6 TXN-30): 5xx, 429, 401, and 408 (a timeout, as are network
 * errors and request timeouts, which attempt() retries without asking this). Every other status is abandoned.
 */
function retryable(status: number): boolean {
  return status >= 500 || status === 401 || status === 429 || status === 408;
}

function unreachable(peer: string, why: string, retryAfterMs: number): SmcpError {
  return new SmcpError("SMCP_PEER_UNREACHABLE", `${peer}: ${why}`, { retryAfterMs: Math.max(1, Math.round(retryAfterMs)) });
}
