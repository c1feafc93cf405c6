// Gail (log aggregation, spec §18.2 GAIL-09..GAIL-12): the forwarder's durable outbox in SQLite — bounded in records,
// bytes and age; what the bound pushes out is counted by reason, never dropped silently; record IDs are never reused.
import type { GailDropCounts, GailLogRecord } from "../../protocol/types.ts";
import type { Sqlite } from "../storage/db.ts";

export interface Retention {
  records: number;
  bytes: number;
  ageMs: number;
}

export type QueuedRecord = Omit<GailLogRecord, "id">;

export interface Batch {
  records: GailLogRecord[];
  /** Highest outbox ID in the batch: ack(lastId) removes it and everything before. */
  lastId: number;
}

export class Outbox {
  private count = 0;
  private bytes = 0;
  /** The batch being sent: its records are committed to the hub and never dropped by the bound (GAIL-10). */
  private inFlight = { lastId: 0, records: 0, bytes: 0 };
  private readonly s;

  constructor(private readonly db: Sqlite, private retention: Retention) {
    this.s = {
      insert: db.prepare<[number, number, string]>("INSERT INTO gail_outbox (ts, bytes, json) VALUES (?, ?, ?)"),
      oldest: db.prepare<[number, number], { id: number; bytes: number }>("SELECT id, bytes FROM gail_outbox WHERE id > ? ORDER BY id LIMIT ?"),
      deleteUpTo: db.prepare<[number]>("DELETE FROM gail_outbox WHERE id <= ?"),
      deleteRange: db.prepare<[number, number]>("DELETE FROM gail_outbox WHERE id > ? AND id <= ?"),
      olderThan: db.prepare<[number], { n: number; b: number | null; last: number | null }>(
        "SELECT count(*) AS n, sum(bytes) AS b, max(id) AS last FROM gail_outbox WHERE id <= (SELECT max(id) FROM gail_outbox WHERE ts < ?)",
      ),
      batch: db.prepare<[number], { id: number; bytes: number; json: string }>("SELECT id, bytes, json FROM gail_outbox ORDER BY id LIMIT ?"),
      totals: db.prepare<[], { n: number; b: number | null; oldest: number | null }>("SELECT count(*) AS n, sum(bytes) AS b, min(ts) AS oldest FROM gail_outbox"),
      counterGet: db.prepare<[string], { value: number }>("SELECT value FROM gail_counters WHERE name = ?"),
      counterAdd: db.prepare<[string, number, number]>("INSERT INTO gail_counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?"),
    };
    const t = this.s.totals.get()!;
    this.count = t.n;
    this.bytes = t.b ?? 0;
  }

  setRetention(retention: Retention): void {
    this.retention = retention;
    this.db.transaction(() => this.enforce())();
  }

  /** Queues a record durably (committed before it returns), then pushes the oldest out while over a bound. */
  put(record: QueuedRecord): void {
    const json = JSON.stringify(record);
    const size = Buffer.byteLength(json);
    this.db.transaction(() => {
      this.s.insert.run(record.ts, size, json);
      this.count++;
      this.bytes += size;
      this.enforce();
    })();
  }

  /** Drops records older than the retention age (counted as `age`), then returns the oldest ones that fit a batch. */
  next(now: number, maxRecords: number, maxBytes: number): Batch | undefined {
    this.expire(now);
    const rows = this.s.batch.all(maxRecords);
    const records: GailLogRecord[] = [];
    let size = BATCH_ENVELOPE_BYTES;
    let lastId = 0;
    let bytes = 0;
    for (const r of rows) {
      // A batch carries at least one record: a single record is bounded (GAIL-06) well below any batch bound.
      if (records.length > 0 && size + r.bytes + RECORD_OVERHEAD_BYTES > maxBytes) break;
      records.push({ id: r.id, ...(JSON.parse(r.json) as QueuedRecord) });
      size += r.bytes + RECORD_OVERHEAD_BYTES;
      bytes += r.bytes;
      lastId = r.id;
    }
    if (records.length === 0) return undefined;
    this.inFlight = { lastId, records: records.length, bytes };
    return { records, lastId };
  }

  /** The batch in flight was not accepted and stays queued: the bound may drop its records again. */
  release(): void {
    this.inFlight = { lastId: 0, records: 0, bytes: 0 };
    this.db.transaction(() => this.enforce())();
  }

  /** The hub accepted a batch, or Naomi's durable submission queue holds it: its records leave the outbox, forwarded. */
  ack(batch: Batch): void {
    this.db.transaction(() => {
      this.removeUpTo(batch.lastId);
      this.add("forwarded", batch.records.length);
    })();
  }

  /** A record the hub refused as too large even alone: dropped and counted with the byte bound's drops. */
  dropTooLarge(batch: Batch): void {
    this.db.transaction(() => {
      this.removeUpTo(batch.lastId);
      this.add("dropped_bytes", batch.records.length);
    })();
  }

  dropped(): GailDropCounts {
    return { records: this.counter("dropped_records"), bytes: this.counter("dropped_bytes"), age: this.counter("dropped_age") };
  }

  forwarded(): number {
    return this.counter("forwarded");
  }

  totals(): { records: number; bytes: number; oldestTs: number | null } {
    const t = this.s.totals.get()!;
    return { records: t.n, bytes: t.b ?? 0, oldestTs: t.oldest };
  }

  private expire(now: number): void {
    const cutoff = now - this.retention.ageMs;
    const old = this.s.olderThan.get(cutoff)!;
    if (!old.last) return;
    this.db.transaction(() => {
      this.removeUpTo(old.last!);
      this.add("dropped_age", old.n);
    })();
  }

  /**
   * Inside a transaction: while a bound is exceeded the oldest records not in flight go, each counted by the bound
   * that pushed it out. The outbox thus holds at most the bound plus the batch in flight.
   */
  private enforce(): void {
    const f = this.inFlight;
    const deleteRange = (last: number) => this.s.deleteRange.run(f.lastId, last);
    if (this.count - f.records > this.retention.records) {
      const rows = this.s.oldest.all(f.lastId, this.count - f.records - this.retention.records);
      deleteRange(rows.at(-1)!.id);
      this.count -= rows.length;
      this.bytes -= rows.reduce((sum, r) => sum + r.bytes, 0);
      this.add("dropped_records", rows.length);
    }
    if (this.bytes - f.bytes > this.retention.bytes) {
      let freed = 0;
      let n = 0;
      let last = 0;
      for (const r of this.s.oldest.iterate(f.lastId, this.count)) {
        if (this.bytes - f.bytes - freed <= this.retention.bytes) break;
        freed += r.bytes;
        n++;
        last = r.id;
      }
      if (n > 0) deleteRange(last);
      this.count -= n;
      this.bytes -= freed;
      this.add("dropped_bytes", n);
    }
  }

  private removeUpTo(id: number): void {
    if (id >= this.inFlight.lastId) this.inFlight = { lastId: 0, records: 0, bytes: 0 };
    this.s.deleteUpTo.run(id);
    const t = this.s.totals.get()!;
    this.count = t.n;
    this.bytes = t.b ?? 0;
  }

  private add(name: string, n: number): void {
    if (n > 0) this.s.counterAdd.run(name, n, n);
  }

  private counter(name: string): number {
    return this.s.counterGet.get(name)?.value ?? 0;
  }
}

/** `{"records":[],"dropped":{...}}` with room for large counters. */
const BATCH_ENVELOPE_BYTES = 128;
/** The record's `"id":N,` member and the separating comma. */
const RECORD_OVERHEAD_BYTES = 24;
