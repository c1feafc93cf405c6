// Roshumba: the durable record of incoming calls per (origin, call_id) that makes remote calls idempotent and at-most-once (spec §10.3).
// The table itself is a storage migration (reference-impl/storage/db.ts, v3).
import type Database from "better-sqlite3";
import type { RemoteCallResult } from "../../protocol/types.ts";

/** `started`: dispatched, no outcome yet. `done`: result stored. `failed`: dispatched, outcome unknown (the id is spent). */
export type CallState = "started" | "done" | "failed";

export interface CallRow {
  body_sha256: string;
  state: CallState;
  result: string | null;
  errcode: string | null;
  error: string | null;
}

export class CallStore {
  private readonly select: Database.Statement<[string, string], CallRow>;
  private readonly insert: Database.Statement<[string, string, string, number, number]>;
  private readonly done: Database.Statement<[string, number, string, string]>;
  private readonly fail: Database.Statement<[string, string, number, string, string]>;
  private readonly remove: Database.Statement<[string, string]>;
  private readonly prune: Database.Statement<[number]>;

  /** `db` comes from openDatabase (reference-impl/storage/db.ts), whose migrations create roshumba_calls. */
  constructor(private readonly db: Database.Database) {
    this.select = db.prepare("SELECT body_sha256, state, result, errcode, error FROM roshumba_calls WHERE origin = ? AND call_id = ?");
    this.insert = db.prepare(
      "INSERT INTO roshumba_calls (origin, call_id, body_sha256, state, created_ts, updated_ts) VALUES (?, ?, ?, 'started', ?, ?)",
    );
    this.done = db.prepare("UPDATE roshumba_calls SET state = 'done', result = ?, updated_ts = ? WHERE origin = ? AND call_id = ?");
    this.fail = db.prepare(
      "UPDATE roshumba_calls SET state = 'failed', errcode = ?, error = ?, updated_ts = ? WHERE origin = ? AND call_id = ?",
    );
    this.remove = db.prepare("DELETE FROM roshumba_calls WHERE origin = ? AND call_id = ?");
    this.prune = db.prepare("DELETE FROM roshumba_calls WHERE updated_ts < ? AND state != 'started'");
  }

  get(origin: string, callId: string): CallRow | undefined {
    return this.select.get(origin, callId);
  }

  /** Written before the tool is dispatched, so that a crash leaves evidence that the tool may have run. */
  start(origin: string, callId: string, bodySha256: string, now: number): void {
    this.insert.run(origin, callId, bodySha256, now, now);
  }

  complete(origin: string, callId: string, result: RemoteCallResult, now: number): void {
    this.done.run(JSON.stringify(result), now, origin, callId);
  }

  /** The tool may have run but no result came back: remember the failure so that a retry never runs it again. */
  markFailed(origin: string, callId: string, errcode: string, error: string, now: number): void {
    this.fail.run(errcode, error, now, origin, callId);
  }

  /** The tool was never dispatched: forget the call so that a retry may run it. */
  forget(origin: string, callId: string): void {
    this.remove.run(origin, callId);
  }

  /** Calls still `started` when the instance starts were cut by a crash: their outcome is unknown. */
  recoverInterrupted(now: number): number {
    const message = "the instance stopped while this call was running; its outcome is unknown";
    return this.db
      .prepare(
        "UPDATE roshumba_calls SET state = 'failed', errcode = 'SMCP_COMPONENT_UNAVAILABLE', error = ?, updated_ts = ? WHERE state = 'started'",
      )
      .run(message, now).changes;
  }

  pruneBefore(ts: number): number {
    return this.prune.run(ts).changes;
  }
}
