// Naomi primitive (protocol 1.1): a sender's own signature over its submission's content, kept in the sequenced event,
// so that participants need not take the hub's word for who said what (spec §7.5).
import type { SigningKey, VerifyKey } from "./keys.ts";
import { signForm, verifyForm } from "./signing.ts";
import type { Event, Submission } from "./types.ts";

export const SENDER_PURPOSE = "smcp.submission.v1";

/** The members of a submission (and of the event made of it) that its sender signs (spec §7.5 EVT-21). */
export type SenderSigned = Pick<Submission, "submission_id" | "channel" | "type" | "sender" | "origin_ts" | "data">;

/** The signed form `smcp.submission.v1`: built by the verifier from the values it received, never taken from the signer (JCS-14). */
export function senderForm(c: SenderSigned): Record<string, unknown> {
  return {
    purpose: SENDER_PURPOSE, submission_id: c.submission_id, channel: c.channel, type: c.type, sender: c.sender,
    origin_ts: c.origin_ts, data: c.data,
  };
}

/** The sender signs its submission (EVT-22). */
export function signSubmission(key: SigningKey, sub: Submission): Submission {
  const { sender_signature: _old, ...rest } = sub;
  return { ...rest, sender_signature: signForm(key, senderForm(rest)) };
}

/** Whether a submission's `sender_signature` verifies with its sender's key (EVT-24); false when it has none. */
export function submissionSignatureVerifies(senderKey: VerifyKey, sub: Submission): boolean {
  return sub.sender_signature !== undefined && verifyForm(senderKey, senderForm(sub), sub.sender_signature);
}

/** Whether an event's `sender_signature` verifies with its sender's key over the event's own members (EVT-28). */
export function eventSenderSignatureVerifies(senderKey: VerifyKey, event: Event): boolean {
  if (event.sender_signature === undefined || event.submission_id === undefined) return false;
  return verifyForm(senderKey, senderForm({ ...event, submission_id: event.submission_id }), event.sender_signature);
}
