// Naomi (event bus), participant side: the publishers waiting for the first attempt to deliver their submission to
// the hub, answered by its outcome (spec §12.3 CTRL-20).
import type { SmcpError } from "../../protocol/errors.ts";
import type { SequencedSubmission } from "../../protocol/types.ts";

/** A publisher waiting for the first attempt to deliver its submission. */
export interface WaitingPublisher {
  /** The hub the submission goes to: a failed transaction to it answers every publish waiting on it. */
  hub: string;
  resolve: (s: SequencedSubmission) => void;
  reject: (e: SmcpError) => void;
}

export class Publishers {
  private readonly waiting = new Map<string, WaitingPublisher>();

  wait(submissionId: string, publisher: WaitingPublisher): void {
    this.waiting.set(submissionId, publisher);
  }

  /** Answers the publisher of a submission, once. */
  settle(submissionId: string, fn: (p: WaitingPublisher) => void): void {
    const p = this.waiting.get(submissionId);
    if (!p) return;
    this.waiting.delete(submissionId);
    fn(p);
  }

  /** A transaction to `hub` failed: every publish waiting on that hub is answered with an error (the submissions stay queued). */
  rejectHub(hub: string, err: () => SmcpError): void {
    for (const [id, p] of this.waiting) {
      if (p.hub === hub) this.settle(id, (x) => x.reject(err()));
    }
  }

  rejectAll(err: SmcpError): void {
    for (const p of this.waiting.values()) p.reject(err);
    this.waiting.clear();
  }
}
