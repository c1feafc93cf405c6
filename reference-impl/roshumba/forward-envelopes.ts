// Roshumba (1.1 forwarding, spec §10.6 FWD-04, FWD-28): the envelopes this instance signed as origin, kept durably so
// that a retry of a call_id — by the operator, through any intermediate — carries the identical envelope.
// The table is a storage migration (reference-impl/storage/db.ts, roshumba_forward_envelopes).
import type Database from "better-sqlite3";
import { FORWARD_ENVELOPE_GRACE_MS } from "../../protocol/limits.ts";
import type { ForwardEnvelope } from "../../protocol/types.ts";

interface Row {
  envelope: string;
  params: string;
}

export class ForwardEnvelopeStore {
  private readonly select: Database.Statement<[string], Row>;
  private readonly upsert: Database.Statement<[string, string, string, number]>;
  private readonly prune: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.select = db.prepare("SELECT envelope, params FROM roshumba_forward_envelopes WHERE call_id = ?");
    this.upsert = db.prepare("INSERT OR REPLACE INTO roshumba_forward_envelopes (call_id, envelope, params, created_ts) VALUES (?, ?, ?, ?)");
    this.prune = db.prepare("DELETE FROM roshumba_forward_envelopes WHERE created_ts < ?");
  }

  get(callId: string): { envelope: ForwardEnvelope; params: Record<string, unknown> } | undefined {
    const row = this.select.get(callId);
    return row ? { envelope: JSON.parse(row.envelope) as ForwardEnvelope, params: JSON.parse(row.params) as Record<string, unknown> } : undefined;
  }

  put(envelope: ForwardEnvelope, params: Record<string, unknown>, now: number): void {
    this.upsert.run(envelope.call_id, JSON.stringify(envelope), JSON.stringify(params), now);
  }

  /** Envelopes no receiver accepts any more (FWD-09, with W up to `skewMs`) are dropped. */
  pruneExpired(now: number, skewMs: number): number {
    return this.prune.run(now - 2 * (skewMs + FORWARD_ENVELOPE_GRACE_MS)).changes;
  }
}
