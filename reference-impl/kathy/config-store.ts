// Kathy (selective config sharing, spec §18.3): SQLite state — subscriptions, applied entries and tombstones,
// the audit trail, and the versions this instance published.
import type { KathyAuditRecord, KathyEntry, KathySubscriptionInfo } from "../../protocol/types.ts";
import type { Sqlite } from "../storage/db.ts";

export interface EntryRow {
  channel: string;
  key: string;
  value: string | null;
  version: number;
  seq: number;
  sender: string;
  deleted: number;
}

export class ConfigStore {
  private readonly s;

  constructor(readonly db: Sqlite) {
    this.s = {
      subPut: db.prepare<[string, string]>("INSERT INTO kathy_subscriptions (channel, patterns, evaluated_seq) VALUES (?, ?, 0) ON CONFLICT(channel) DO UPDATE SET patterns = excluded.patterns, evaluated_seq = 0"),
      subGet: db.prepare<[string], { channel: string; patterns: string; evaluated_seq: number }>("SELECT * FROM kathy_subscriptions WHERE channel = ?"),
      subAll: db.prepare<[], { channel: string; patterns: string; evaluated_seq: number }>("SELECT * FROM kathy_subscriptions ORDER BY channel"),
      subSeq: db.prepare<[number, string]>("UPDATE kathy_subscriptions SET evaluated_seq = ? WHERE channel = ?"),
      entriesClear: db.prepare<[string]>("DELETE FROM kathy_entries WHERE channel = ?"),
      auditClear: db.prepare<[string]>("DELETE FROM kathy_audit WHERE channel = ?"),
      entryGet: db.prepare<[string, string], EntryRow>("SELECT * FROM kathy_entries WHERE channel = ? AND key = ?"),
      entryPut: db.prepare<[string, string, string | null, number, number, string, number]>(
        "INSERT INTO kathy_entries (channel, key, value, version, seq, sender, deleted) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(channel, key) DO UPDATE SET value = excluded.value, version = excluded.version, seq = excluded.seq, sender = excluded.sender, deleted = excluded.deleted",
      ),
      entriesLive: db.prepare<[], EntryRow>("SELECT * FROM kathy_entries WHERE deleted = 0 ORDER BY channel, key"),
      auditPut: db.prepare<[string, number, string, string, string, string | null, number | null, string, string | null]>(
        "INSERT OR REPLACE INTO kathy_audit (channel, seq, event_id, sender, op, key, version, outcome, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      auditPage: db.prepare<[number, number], { id: number; channel: string; seq: number; event_id: string; sender: string; op: string; key: string | null; version: number | null; outcome: string; reason: string | null }>(
        "SELECT * FROM kathy_audit WHERE id > ? ORDER BY id LIMIT ?",
      ),
      versionGet: db.prepare<[string, string], { version: number }>("SELECT version FROM kathy_versions WHERE channel = ? AND key = ?"),
      versionPut: db.prepare<[string, string, number]>("INSERT INTO kathy_versions (channel, key, version) VALUES (?, ?, ?) ON CONFLICT(channel, key) DO UPDATE SET version = max(version, excluded.version)"),
    };
  }

  /** Sets a channel's patterns and forgets what was evaluated under the old ones: the channel is evaluated again from seq 1. */
  subscribe(channel: string, patterns: string[]): void {
    this.db.transaction(() => {
      this.s.subPut.run(channel, JSON.stringify(patterns));
      this.s.entriesClear.run(channel);
      this.s.auditClear.run(channel);
    })();
  }

  subscription(channel: string): KathySubscriptionInfo | undefined {
    const r = this.s.subGet.get(channel);
    return r && { channel: r.channel, patterns: JSON.parse(r.patterns) as string[], evaluated_seq: r.evaluated_seq };
  }

  subscriptions(): KathySubscriptionInfo[] {
    return this.s.subAll.all().map((r) => ({ channel: r.channel, patterns: JSON.parse(r.patterns) as string[], evaluated_seq: r.evaluated_seq }));
  }

  evaluated(channel: string, seq: number): void {
    this.s.subSeq.run(seq, channel);
  }

  entry(channel: string, key: string): EntryRow | undefined {
    return this.s.entryGet.get(channel, key);
  }

  putEntry(row: EntryRow): void {
    this.s.entryPut.run(row.channel, row.key, row.value, row.version, row.seq, row.sender, row.deleted);
  }

  applied(): KathyEntry[] {
    return this.s.entriesLive.all().map((r) => ({ channel: r.channel, key: r.key, value: JSON.parse(r.value!) as unknown, version: r.version, sender: r.sender, seq: r.seq }));
  }

  audit(record: KathyAuditRecord): void {
    this.s.auditPut.run(record.channel, record.seq, record.event_id, record.sender, record.op, record.key ?? null, record.version ?? null, record.outcome, record.reason ?? null);
  }

  auditPage(after: number, limit: number): { records: KathyAuditRecord[]; next: number | null } {
    const rows = this.s.auditPage.all(after, limit + 1);
    const page = rows.slice(0, limit);
    return {
      records: page.map((r) => ({
        channel: r.channel, seq: r.seq, event_id: r.event_id, sender: r.sender, op: r.op as KathyAuditRecord["op"],
        ...(r.key !== null ? { key: r.key } : {}), ...(r.version !== null ? { version: r.version } : {}),
        outcome: r.outcome as KathyAuditRecord["outcome"], ...(r.reason !== null ? { reason: r.reason as KathyAuditRecord["reason"] } : {}),
      })),
      next: rows.length > limit ? page.at(-1)!.id : null,
    };
  }

  /** Highest version of the key this instance published or saw on the channel. */
  highestVersion(channel: string, key: string): number {
    return Math.max(this.s.versionGet.get(channel, key)?.version ?? 0, this.entry(channel, key)?.version ?? 0);
  }

  sawVersion(channel: string, key: string, version: number): void {
    this.s.versionPut.run(channel, key, version);
  }
}
