// Gail (log aggregation, spec §18.2 GAIL-15..GAIL-22): the aggregator side — takes `gail:log.batch` events of its log
// channel `!gail:<self>` into its record store (one copy per source and record ID, bounded per source), and answers queries.
import { validate } from "../../protocol/schemas.ts";
import type { Event, GailDropCounts, GailLevel, GailLogBatch, GailRecordPage, GailRecordQuery, GailSource } from "../../protocol/types.ts";
import type { Sqlite } from "../storage/db.ts";
import { levelName, levelNumber } from "./levels.ts";

export const BATCH_TYPE = "gail:log.batch";
export const QUERY_LIMIT_DEFAULT = 100;

interface RecordRow {
  id: number;
  source: string;
  rid: number;
  ts: number;
  level: number;
  component: string;
  msg: string;
  fields: string;
  seq: number;
}

export class AggregatorStore {
  private readonly s;

  /** `maxRecordsPerSource`: a source's oldest records are evicted (counted) beyond it (GAIL-19). */
  constructor(private readonly db: Sqlite, private readonly self: string, private readonly maxRecordsPerSource: number) {
    this.s = {
      cursorGet: db.prepare<[string], { seq: number }>("SELECT seq FROM gail_cursor WHERE channel = ?"),
      cursorPut: db.prepare<[string, number]>("INSERT INTO gail_cursor (channel, seq) VALUES (?, ?) ON CONFLICT(channel) DO UPDATE SET seq = excluded.seq"),
      insert: db.prepare<[string, number, number, number, string, string, string, number]>(
        "INSERT OR IGNORE INTO gail_records (source, rid, ts, level, component, msg, fields, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      sourceEnsure: db.prepare<[string]>("INSERT OR IGNORE INTO gail_sources (server) VALUES (?)"),
      sourceGet: db.prepare<[string], { records: number }>("SELECT records FROM gail_sources WHERE server = ?"),
      sourceUpdate: db.prepare<[number, number, string, number | null, string]>(
        "UPDATE gail_sources SET records = records + ?, evicted = evicted + ?, dropped = ?, last_ts = max(coalesce(last_ts, 0), coalesce(?, 0)) WHERE server = ?",
      ),
      invalid: db.prepare<[string]>("UPDATE gail_sources SET invalid_batches = invalid_batches + 1 WHERE server = ?"),
      evict: db.prepare<[string, string, number]>(
        "DELETE FROM gail_records WHERE id IN (SELECT id FROM gail_records WHERE source = ? ORDER BY id LIMIT max(0, (SELECT count(*) FROM gail_records WHERE source = ?) - ?))",
      ),
      sources: db.prepare<[], { server: string; records: number; evicted: number; invalid_batches: number; dropped: string; last_ts: number | null }>(
        "SELECT * FROM gail_sources ORDER BY server",
      ),
    };
  }

  channel(): string {
    return `!gail:${this.self}`;
  }

  cursor(): number {
    return this.s.cursorGet.get(this.channel())?.seq ?? 0;
  }

  /** Takes a page of the log channel's events, and the new cursor, in one transaction. */
  take(events: Event[]): void {
    this.db.transaction(() => {
      for (const e of events) if (e.type === BATCH_TYPE) this.takeBatch(e);
      this.s.cursorPut.run(this.channel(), events.at(-1)!.seq);
    })();
  }

  private takeBatch(e: Event): void {
    this.s.sourceEnsure.run(e.sender);
    // The hub sequenced any JSON object; a batch that is not GailLogBatch data is counted and ignored, never partly taken.
    if (validate("GailLogBatch", e.data).length > 0) {
      this.s.invalid.run(e.sender);
      return;
    }
    const batch = e.data as unknown as GailLogBatch;
    let added = 0;
    let lastTs: number | null = null;
    for (const r of batch.records) {
      added += this.s.insert.run(e.sender, r.id, r.ts, levelNumber(r.level), r.component, r.msg, JSON.stringify(r.fields), e.seq).changes;
      lastTs = Math.max(lastTs ?? 0, r.ts);
    }
    const before = this.s.sourceGet.get(e.sender)!.records + added;
    const evicted = before > this.maxRecordsPerSource ? this.s.evict.run(e.sender, e.sender, this.maxRecordsPerSource).changes : 0;
    this.s.sourceUpdate.run(added - evicted, evicted, JSON.stringify(batch.dropped), lastTs, e.sender);
  }

  query(q: GailRecordQuery): GailRecordPage {
    const where: string[] = ["id > ?"];
    const args: Array<string | number> = [q.after ?? 0];
    if (q.source !== undefined) (where.push("source = ?"), args.push(q.source));
    if (q.min_level !== undefined) (where.push("level >= ?"), args.push(levelNumber(q.min_level)));
    if (q.component !== undefined) (where.push("component = ?"), args.push(q.component));
    if (q.since !== undefined) (where.push("ts >= ?"), args.push(q.since));
    if (q.until !== undefined) (where.push("ts <= ?"), args.push(q.until));
    // instr, not LIKE: the text is matched literally, `%` and `_` included.
    if (q.text !== undefined) (where.push("instr(msg, ?) > 0"), args.push(q.text));
    const limit = q.limit ?? QUERY_LIMIT_DEFAULT;
    const rows = this.db.prepare<unknown[], RecordRow>(`SELECT * FROM gail_records WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`).all(...args, limit + 1);
    const page = rows.slice(0, limit);
    return {
      records: page.map((r) => ({
        source: r.source, id: r.rid, ts: r.ts, level: levelName(r.level) as GailLevel, component: r.component, msg: r.msg,
        fields: JSON.parse(r.fields) as Record<string, unknown>, seq: r.seq,
      })),
      next: rows.length > limit ? page.at(-1)!.id : null,
    };
  }

  sources(): GailSource[] {
    return this.s.sources.all().map((r) => ({
      server: r.server, records: r.records, evicted: r.evicted, invalid_batches: r.invalid_batches,
      dropped: JSON.parse(r.dropped) as GailDropCounts, last_ts: r.last_ts,
    }));
  }
}
