// Naomi (event bus): incoming federation transactions — idempotent per (origin, txn_id), events and heads to the
// receiver, submissions sequenced by the hub at most once, answered after everything is stored (spec §8.3–§8.5).
import { SmcpError } from "../../protocol/errors.ts";
import { isReservedType } from "../../protocol/events.ts";
import { MIN_RESULT_RETENTION_MS } from "../../protocol/limits.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import type { VerifyKey } from "../../protocol/keys.ts";
import type { RejectedItem, SequencedSubmission, Submission, Transaction, TransactionResult } from "../../protocol/types.ts";
import type { Store } from "../storage/db.ts";
import type { AfterCommit } from "./after-commit.ts";
import { authenticate, type VerifyEvent } from "./authenticate.ts";
import type { Effects } from "./effects.ts";
import { checkedData } from "./event-data.ts";
import type { OutboundQueues } from "./outbound.ts";
import { newBatch, type Receiver } from "./receiver.ts";
import type { SenderCheck } from "./sender-check.ts";
import type { Sequencer } from "./sequencer.ts";
import { submissionSignatureVerifies } from "../../protocol/sender-signature.ts";
import { speaks } from "../../protocol/versions.ts";

/** How long an answered transaction's result is kept for retries of the same txn_id (spec §8.4): twice the 24 h minimum (TXN-18). */
const TXN_RESULT_TTL_MS = 2 * MIN_RESULT_RETENTION_MS;

export interface TransactionsOptions {
  self: string;
  store: Store;
  receiver: Receiver;
  sequencer: Sequencer;
  outbound: OutboundQueues;
  afterCommit: AfterCommit;
  verifyEvent: VerifyEvent;
  maxTxnItems: number;
  maxEventDataBytes: number;
  /** Protocol 1.1 spoken here: submissions' sender signatures are checked and kept (spec §7.5). */
  v11: boolean;
  /** A peer's versions from its cached discovery document. */
  peerVersions: (server: string) => readonly string[] | undefined;
  now: () => number;
}

export class Transactions {
  private lastExpiry = 0;

  constructor(private readonly opts: TransactionsOptions) {}

  /** `PUT /federation/v1/send/{txn_id}`: idempotent per (origin, txn_id), answered after everything is stored. */
  handle(origin: string, originKey: VerifyKey, txnId: string, bodySha256: string, txn: Transaction, check: SenderCheck = (a) => a): TransactionResult {
    const { store, receiver, now } = this.opts;
    const stored = store.txnResult(origin, txnId);
    if (stored) return sameOrConflict(stored, bodySha256, txnId);
    const items = (txn.events?.length ?? 0) + (txn.submissions?.length ?? 0);
    if (items > this.opts.maxTxnItems) {
      throw new SmcpError("SMCP_TOO_LARGE", `transaction has ${items} items, more than max_txn_items ${this.opts.maxTxnItems}`);
    }
    // Pure CPU, so done before the SQLite transaction opens.
    const auth = check(authenticate(origin, originKey, txn.events ?? [], this.opts.verifyEvent));
    const batch = newBatch();
    const result = this.opts.sequencer.hubTx(() => {
      const again = store.txnResult(origin, txnId);
      if (again) return sameOrConflict(again, bodySha256, txnId);
      const out: TransactionResult = { processed: [], rejected: [], sequenced: [] };
      for (const event of txn.events ?? []) collect(out, event.event_id, receiver.event(origin, auth, event, batch));
      for (const head of txn.heads ?? []) receiver.head(origin, originKey, head, batch);
      receiver.flush(batch);
      for (const sub of txn.submissions ?? []) this.submission(origin, originKey, sub, out, batch.effects);
      store.putTxnResult(origin, txnId, bodySha256, out, now());
      return out;
    });
    this.opts.afterCommit.run(batch.effects);
    this.opts.outbound.peerAlive(origin);
    return result;
  }

  /** Drops stored results past their TTL (at start, and from the periodic tick at most once an hour). */
  expireResults(): void {
    this.opts.store.expireTxnResults(this.opts.now() - TXN_RESULT_TTL_MS);
  }

  expireHourly(): void {
    const now = this.opts.now();
    if (now - this.lastExpiry <= 3600_000) return;
    this.lastExpiry = now;
    this.opts.store.expireTxnResults(now - TXN_RESULT_TTL_MS);
  }

  /**
   * The sender proof to keep in the event (EVT-26), undefined for an unsigned submission a 1.0 sender may send, or
   * why the submission is refused: a carried signature that does not verify, or none from a sender listing 1.1.
   */
  private senderProof(origin: string, originKey: VerifyKey, sub: Submission): SenderProof | string | undefined {
    if (sub.sender_signature !== undefined) {
      if (!submissionSignatureVerifies(originKey, sub)) return "sender_signature does not verify with the sender's key";
      return { submission_id: sub.submission_id, sender_signature: sub.sender_signature };
    }
    return speaks(this.opts.peerVersions(origin), "1.1") ? `${origin} speaks 1.1, and its submission carries no sender_signature` : undefined;
  }

  /** Hub side: per-item checks in the order of spec §8.3 TXN-12, then sequencing at most once per (sender, submission_id). */
  private submission(origin: string, originKey: VerifyKey, sub: Submission, out: TransactionResult, effects: Effects): void {
    const { self, store } = this.opts;
    const reject = (errcode: RejectedItem["errcode"], error: string): void => {
      out.rejected.push({ id: sub.submission_id, errcode, error });
    };
    const parsed = parseChannelId(sub.channel);
    if (!parsed || parsed.hub !== self) return reject("SMCP_NOT_HUB", `${sub.channel} is not hubbed by ${self}`);
    if (!store.channel(sub.channel)) return reject("SMCP_UNKNOWN_CHANNEL", `no channel ${sub.channel} here`);
    if (sub.sender !== origin) return reject("SMCP_ORIGIN_MISMATCH", `sender ${sub.sender} is not the transaction origin ${origin}`);
    if (store.member(sub.channel, origin)?.left_seq !== null) return reject("SMCP_NOT_MEMBER", `${origin} is not a member of ${sub.channel}`);
    if (isReservedType(sub.type)) return reject("SMCP_BAD_EVENT", "the smcp: event namespace is reserved for the hub");
    const checked = checkedData(sub.data, this.opts.maxEventDataBytes);
    if ("problem" in checked) return reject(checked.problem.errcode === "SMCP_TOO_LARGE" ? "SMCP_TOO_LARGE" : "SMCP_BAD_EVENT", checked.problem.error);
    // Protocol 1.1 (spec §7.5 EVT-24, EVT-25): the sender's own signature, checked last before idempotency.
    const signed = this.opts.v11 ? this.senderProof(origin, originKey, sub) : undefined;
    if (typeof signed === "string") return reject("SMCP_BAD_EVENT", signed);
    const done = store.submission(origin, sub.submission_id);
    const event = done ? undefined : this.opts.sequencer.sequence(sub.channel, sub.type, origin, sub.origin_ts, sub.data, effects, signed, checked.text);
    const where = done ?? { channel: sub.channel, seq: event!.seq, event_id: event!.event_id };
    if (event) store.putSubmission(origin, sub.submission_id, where, this.opts.now());
    out.processed.push(sub.submission_id);
    out.sequenced.push({ submission_id: sub.submission_id, event_id: where.event_id, seq: where.seq } satisfies SequencedSubmission);
  }
}


export type SenderProof = { submission_id: string; sender_signature: string };

function collect(out: TransactionResult, id: string, problem: RejectedItem | null): void {
  if (problem) out.rejected.push(problem);
  else out.processed.push(id);
}

function sameOrConflict(stored: { body_sha256: string; result: TransactionResult }, bodySha256: string, txnId: string): TransactionResult {
  if (stored.body_sha256 !== bodySha256) throw new SmcpError("SMCP_CONFLICT", `transaction ${txnId} was already received with a different body`);
  return stored.result;
}
