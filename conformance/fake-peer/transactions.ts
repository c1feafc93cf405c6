// Conformance harness, fake peer: receiving transactions (PUT /federation/v1/send/{txn_id}) — idempotency, item limits, hand-off to the roles (spec §6.4-§6.6).
import { SmcpError } from "../../protocol/errors.ts";
import { sha256Base64Url } from "../../protocol/signing.ts";
import type { Transaction, TransactionResult } from "../../protocol/types.ts";
import type { FakeHub } from "./hub.ts";
import { FAKE_LIMITS } from "./identity.ts";
import type { FakeParticipant } from "./participant.ts";
import type { Answer, Route, RouteRequest } from "./routes.ts";
import type { SendGate } from "./send-behaviour.ts";

export class TransactionReceiver {
  /** Answers already given, by `origin txn_id`, with the SHA-256 of the bytes answered (a retry must match). */
  private readonly results = new Map<string, { sha: string; result: TransactionResult }>();

  constructor(
    private readonly participant: FakeParticipant,
    private readonly hub: FakeHub,
    private readonly gate: SendGate,
  ) {}

  readonly route: Route = {
    name: "send",
    method: "PUT",
    path: "/federation/v1/send/{txn_id}",
    signed: true,
    handle: (r) => {
      r.rec.txnId = r.params.txn_id!;
      return this.gate.pass(r.origin, () => this.receive(r, r.rec.txnId!));
    },
  };

  private receive(r: RouteRequest, txnId: string): Answer {
    const { origin, rec } = r;
    const txn = r.parse<Transaction>("Transaction");
    const sha = sha256Base64Url(r.bytes);
    const prior = this.results.get(`${origin} ${txnId}`);
    if (prior) {
      if (prior.sha !== sha) throw new SmcpError("SMCP_CONFLICT", `txn ${txnId} was sent before with other bytes`);
      return { status: 200, body: prior.result };
    }
    const items = (txn.events?.length ?? 0) + (txn.submissions?.length ?? 0);
    if (items > FAKE_LIMITS.max_txn_items) rec.problems.push(`transaction carries ${items} items, above the advertised ${FAKE_LIMITS.max_txn_items}`);
    const result: TransactionResult = { processed: [], rejected: [], sequenced: [] };
    this.participant.takeTransaction(txn, origin, rec, result);
    for (const sub of txn.submissions ?? []) this.hub.takeSubmission(sub, r, result);
    this.participant.checkHeads(txn, origin, rec);
    this.results.set(`${origin} ${txnId}`, { sha, result });
    return { status: 200, body: result };
  }
}
