// Storage for every SMCP component of the reference instance: embedded SQLite (WAL), migrations and typed prepared statements.
import Database from "better-sqlite3";
import { dirname } from "node:path";
import type { Event, TransactionResult } from "../../protocol/types.ts";
import { ensurePrivateDir, ensurePrivateFile, tightenIfPresent } from "./private-files.ts";

export type Sqlite = Database.Database;

/** Each entry moves the schema one version forward; never edit an entry once released, append a new one. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
  CREATE TABLE hosts (server_name TEXT PRIMARY KEY, base_url TEXT NOT NULL);
  CREATE TABLE peers (
    server_name TEXT PRIMARY KEY, endpoint TEXT NOT NULL, version TEXT NOT NULL, components TEXT NOT NULL,
    key_id TEXT NOT NULL, public_key TEXT NOT NULL, limits TEXT NOT NULL, discovered_ts INTEGER NOT NULL, expires_ts INTEGER NOT NULL
  );
  CREATE TABLE channels (
    channel TEXT PRIMARY KEY, hub TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('hub','participant')),
    joined INTEGER NOT NULL, local_seq INTEGER NOT NULL DEFAULT 0, known_seq INTEGER NOT NULL DEFAULT 0,
    created_ts INTEGER NOT NULL,
    -- Participant side: the newest verified ChannelHead from the hub (JSON).
    head TEXT
  );
  -- Current and former members; left_seq is the seq of the member's leave event (NULL while a member).
  CREATE TABLE members (
    channel TEXT NOT NULL REFERENCES channels(channel), server TEXT NOT NULL,
    joined_seq INTEGER NOT NULL, left_seq INTEGER, PRIMARY KEY (channel, server)
  );
  CREATE INDEX members_by_server ON members(server);
  CREATE TABLE events (
    channel TEXT NOT NULL REFERENCES channels(channel), seq INTEGER NOT NULL, event_id TEXT NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (channel, seq)
  ) WITHOUT ROWID;
  -- Hub side: events waiting for delivery to one destination, in enqueue order.
  CREATE TABLE outbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL
  );
  CREATE INDEX outbound_by_destination ON outbound(destination, id);
  CREATE TABLE outbound_state (destination TEXT PRIMARY KEY, suspended INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE txn_results (
    origin TEXT NOT NULL, txn_id TEXT NOT NULL, body_sha256 TEXT NOT NULL, result TEXT NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (origin, txn_id)
  ) WITHOUT ROWID;
  CREATE INDEX txn_results_by_ts ON txn_results(ts);
  -- Participant side: submissions waiting for their hub's answer, in publish order (durable, spec §8.3).
  CREATE TABLE submission_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, submission_id TEXT NOT NULL UNIQUE, json TEXT NOT NULL
  );
  CREATE INDEX submission_queue_by_hub ON submission_queue(hub, id);
  -- Hub-signed statements that contradict each other: evidence of equivocation (spec §9.6).
  CREATE TABLE evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, seq INTEGER NOT NULL, held TEXT NOT NULL, offered TEXT NOT NULL,
    ts INTEGER NOT NULL
  );
  CREATE TABLE submissions (
    sender TEXT NOT NULL, submission_id TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL,
    ts INTEGER NOT NULL, PRIMARY KEY (sender, submission_id)
  ) WITHOUT ROWID;
  `,
  // v2: the hub's outbound queue becomes one read position per destination and channel instead of one row per event
  // per destination (events stay in the channel store, which the queue only references: spec §9.2 DLV-06). Rows still
  // queued become a position just before the oldest of them; resending from there is idempotent (TXN-23).
  `
  CREATE TABLE outbound_cursor (
    destination TEXT NOT NULL, channel TEXT NOT NULL REFERENCES channels(channel),
    -- Every event of the channel up to acked_seq has been delivered to the destination (or dropped by suspension).
    acked_seq INTEGER NOT NULL,
    -- The destination's leave event: nothing after it is queued for it (NULL while it is a member).
    end_seq INTEGER,
    PRIMARY KEY (destination, channel)
  ) WITHOUT ROWID;
  INSERT INTO outbound_cursor(destination, channel, acked_seq, end_seq)
    SELECT m.server, m.channel,
      COALESCE((SELECT min(o.seq) - 1 FROM outbound o WHERE o.destination = m.server AND o.channel = m.channel), c.local_seq),
      m.left_seq
    FROM members m JOIN channels c ON c.channel = m.channel WHERE c.role = 'hub' AND m.server <> c.hub;
  DROP TABLE outbound;
  `,
  // v3: Roshumba's call records (spec §10.3 CALL-10..12), which reference-impl/roshumba/store.ts used to create on its
  // own. IF NOT EXISTS: a database from before v3 already holds the table, rows and all, and keeps it unchanged.
  `
  CREATE TABLE IF NOT EXISTS roshumba_calls (
    origin      TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    result      TEXT,
    errcode     TEXT,
    error       TEXT,
    created_ts  INTEGER NOT NULL,
    updated_ts  INTEGER NOT NULL,
    PRIMARY KEY (origin, call_id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS roshumba_calls_updated ON roshumba_calls (updated_ts);
  `,
  // Roshumba 1.1 forwarding (spec §10.6 FWD-28): the envelopes this instance signed as origin, reused for retries.
  `
  CREATE TABLE roshumba_forward_envelopes (
    call_id TEXT PRIMARY KEY,
    envelope TEXT NOT NULL,
    params TEXT NOT NULL,
    created_ts INTEGER NOT NULL
  );
  `,
  // Gail (spec §18.2): the forwarder's durable outbox, counters and configuration; the aggregator's records, sources
  // and read position. Only gail_* tables.
  `
  CREATE TABLE gail_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, bytes INTEGER NOT NULL, json TEXT NOT NULL);
  CREATE TABLE gail_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE gail_config (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
  CREATE TABLE gail_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, rid INTEGER NOT NULL, ts INTEGER NOT NULL, level INTEGER NOT NULL,
    component TEXT NOT NULL, msg TEXT NOT NULL, fields TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE (source, rid)
  );
  CREATE INDEX gail_records_by_source ON gail_records (source, id);
  CREATE TABLE gail_sources (
    server TEXT PRIMARY KEY, records INTEGER NOT NULL DEFAULT 0, evicted INTEGER NOT NULL DEFAULT 0,
    invalid_batches INTEGER NOT NULL DEFAULT 0, dropped TEXT NOT NULL DEFAULT '{"records":0,"bytes":0,"age":0}', last_ts INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE gail_cursor (channel TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
  `,
  // Kathy (spec §18.3): subscriptions, applied entries (with tombstones), the audit trail and published versions. Only kathy_* tables.
  `
  CREATE TABLE kathy_subscriptions (channel TEXT PRIMARY KEY, patterns TEXT NOT NULL, evaluated_seq INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
  CREATE TABLE kathy_entries (
    channel TEXT NOT NULL, key TEXT NOT NULL, value TEXT, version INTEGER NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel, key)
  ) WITHOUT ROWID;
  CREATE TABLE kathy_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, sender TEXT NOT NULL,
    op TEXT NOT NULL, key TEXT, version INTEGER, outcome TEXT NOT NULL, reason TEXT, UNIQUE (channel, seq)
  );
  CREATE TABLE kathy_versions (channel TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (channel, key)) WITHOUT ROWID;
  `,
  // Judith (spec §18.1): workflow definitions, owned runs and their steps, the event outbox, observed runs and read cursors.
  `
  CREATE TABLE judith_workflows (name TEXT PRIMARY KEY, json TEXT NOT NULL, created_ts INTEGER NOT NULL);
  CREATE TABLE judith_runs (
    run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, definition TEXT NOT NULL, request_sha256 TEXT NOT NULL,
    input TEXT NOT NULL, state TEXT NOT NULL, error TEXT, deadline_ts INTEGER NOT NULL,
    created_ts INTEGER NOT NULL, updated_ts INTEGER NOT NULL
  );
  CREATE INDEX judith_runs_by_state ON judith_runs(state);
  CREATE TABLE judith_steps (
    run_id TEXT NOT NULL REFERENCES judith_runs(run_id), idx INTEGER NOT NULL, step_id TEXT NOT NULL, kind TEXT NOT NULL,
    state TEXT NOT NULL, call_id TEXT, target TEXT, request TEXT, after_seq INTEGER, deadline_ts INTEGER,
    started_ts INTEGER, finished_ts INTEGER, output TEXT, error TEXT, PRIMARY KEY (run_id, idx)
  ) WITHOUT ROWID;
  CREATE TABLE judith_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL
  );
  CREATE TABLE judith_observed (
    owner TEXT NOT NULL, run_id TEXT NOT NULL, json TEXT NOT NULL, updated_ts INTEGER NOT NULL, PRIMARY KEY (owner, run_id)
  ) WITHOUT ROWID;
  CREATE INDEX judith_observed_by_ts ON judith_observed(updated_ts);
  CREATE TABLE judith_cursors (channel TEXT PRIMARY KEY, seq INTEGER NOT NULL);
  `,
  // Protocol 1.1, spec §7.5, §9.8, §14): every version a peer lists, since 1.1 features are used only toward peers
  // listing "1.1" (a peer recorded before this migration lists its preferred version until rediscovered); and the seq of the
  // leave event a hub answered for a channel this participant left on its own (events up to it are still taken).
  `
  ALTER TABLE peers ADD COLUMN versions TEXT NOT NULL DEFAULT '[]';
  UPDATE peers SET versions = json_array(version);
  CREATE TABLE channel_leaves (
    channel TEXT PRIMARY KEY REFERENCES channels(channel),
    leave_seq INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

/**
 * Opens (creating) the database. The file is made 0600 before SQLite opens it: SQLite creates `-wal` and `-shm` with
 * the database file's mode, so all three stay unreadable by group and other whatever the umask or directory mode.
 */
export function openDatabase(file: string): Sqlite {
  if (file !== ":memory:") {
    ensurePrivateDir(dirname(file), false);
    ensurePrivateFile(file);
    for (const suffix of ["-wal", "-shm", "-journal"]) tightenIfPresent(file + suffix);
  }
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // WAL with synchronous=NORMAL: a commit is in the WAL before it returns, so it survives a crash of this process
  // (kill -9, an uncaught error) but not necessarily a power loss or OS crash, which may roll back the last commits
  // (the WAL is fsynced at checkpoints, not per commit). The database stays consistent in both cases.
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

function migrate(db: Sqlite): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export interface ChannelRow {
  channel: string;
  hub: string;
  role: "hub" | "participant";
  joined: number;
  local_seq: number;
  known_seq: number;
  created_ts: number;
  head?: string | null;
}

export interface PeerRow {
  server_name: string;
  endpoint: string;
  version: string;
  /** JSON array of every version the peer's discovery document lists (the protocol 1.1 migration). */
  versions: string;
  components: string;
  key_id: string;
  public_key: string;
  limits: string;
  discovered_ts: number;
  expires_ts: number;
}

/** A destination's read position in one channel the instance hubs. */
export interface CursorRow {
  channel: string;
  acked_seq: number;
  end_seq: number | null;
}

export interface SubmissionRow {
  channel: string;
  seq: number;
  event_id: string;
}

/** Typed prepared statements, compiled once per database. */
export class Store {
  readonly db: Sqlite;
  private readonly s;
  /** One transaction wrapper for every tx() (nested calls become savepoints): building one per call costs more than the statements. */
  private readonly runTx: (fn: () => unknown) => unknown;

  constructor(db: Sqlite) {
    this.db = db;
    this.runTx = db.transaction((fn: () => unknown) => fn());
    this.s = {
      metaGet: db.prepare<[string], { value: Buffer | string }>("SELECT value FROM meta WHERE key = ?"),
      metaPut: db.prepare<[string, Buffer | string]>("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
      hostPut: db.prepare<[string, string]>("INSERT INTO hosts VALUES (?, ?) ON CONFLICT(server_name) DO UPDATE SET base_url = excluded.base_url"),
      hostsAll: db.prepare<[], { server_name: string; base_url: string }>("SELECT server_name, base_url FROM hosts"),
      peerPut: db.prepare<[PeerRow]>(
        `INSERT INTO peers(server_name, endpoint, version, components, key_id, public_key, limits, discovered_ts, expires_ts, versions)
         VALUES (@server_name, @endpoint, @version, @components, @key_id, @public_key, @limits, @discovered_ts, @expires_ts, @versions)
         ON CONFLICT(server_name) DO UPDATE SET endpoint = excluded.endpoint, version = excluded.version, versions = excluded.versions, components = excluded.components,
         key_id = excluded.key_id, public_key = excluded.public_key, limits = excluded.limits, discovered_ts = excluded.discovered_ts,
         expires_ts = excluded.expires_ts`,
      ),
      peersAll: db.prepare<[], PeerRow>("SELECT * FROM peers ORDER BY server_name"),
      peerDelete: db.prepare<[string]>("DELETE FROM peers WHERE server_name = ?"),
      channelGet: db.prepare<[string], ChannelRow>("SELECT * FROM channels WHERE channel = ?"),
      channelsAll: db.prepare<[], ChannelRow>("SELECT * FROM channels ORDER BY channel"),
      channelInsert: db.prepare<[ChannelRow]>(
        "INSERT INTO channels VALUES (@channel, @hub, @role, @joined, @local_seq, @known_seq, @created_ts, NULL)",
      ),
      channelSetJoined: db.prepare<[number, string]>("UPDATE channels SET joined = ? WHERE channel = ?"),
      channelSetHead: db.prepare<[string, string]>("UPDATE channels SET head = ? WHERE channel = ?"),
      subQueuePut: db.prepare<[string, string, string]>("INSERT OR IGNORE INTO submission_queue(hub, submission_id, json) VALUES (?, ?, ?)"),
      subQueueBatch: db.prepare<[string, number], { submission_id: string; json: string }>(
        "SELECT submission_id, json FROM submission_queue WHERE hub = ? ORDER BY id LIMIT ?",
      ),
      subQueueCount: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM submission_queue WHERE hub = ?"),
      subQueueDelete: db.prepare<[string]>("DELETE FROM submission_queue WHERE submission_id = ?"),
      subQueueHubs: db.prepare<[], { hub: string }>("SELECT DISTINCT hub FROM submission_queue"),
      evidencePut: db.prepare<[string, number, string, string, number]>("INSERT INTO evidence(channel, seq, held, offered, ts) VALUES (?, ?, ?, ?, ?)"),
      evidenceCount: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM evidence WHERE channel = ?"),
      channelSetSeqs: db.prepare<[number, number, string]>("UPDATE channels SET local_seq = ?, known_seq = ? WHERE channel = ?"),
      membersCurrent: db.prepare<[string], { server: string }>("SELECT server FROM members WHERE channel = ? AND left_seq IS NULL ORDER BY server"),
      memberGet: db.prepare<[string, string], { joined_seq: number; left_seq: number | null }>(
        "SELECT joined_seq, left_seq FROM members WHERE channel = ? AND server = ?",
      ),
      memberJoin: db.prepare<[string, string, number]>(
        "INSERT INTO members VALUES (?, ?, ?, NULL) ON CONFLICT(channel, server) DO UPDATE SET joined_seq = excluded.joined_seq, left_seq = NULL",
      ),
      memberLeave: db.prepare<[number, string, string]>("UPDATE members SET left_seq = ? WHERE channel = ? AND server = ?"),
      channelsOfMember: db.prepare<[string, string], { channel: string }>(
        "SELECT m.channel FROM members m JOIN channels c ON c.channel = m.channel WHERE m.server = ? AND m.left_seq IS NULL AND c.hub = ? ORDER BY m.channel",
      ),
      eventGet: db.prepare<[string, number], { event_id: string; json: string }>("SELECT event_id, json FROM events WHERE channel = ? AND seq = ?"),
      eventInsert: db.prepare<[string, number, string, string]>("INSERT INTO events VALUES (?, ?, ?, ?)"),
      eventsRange: db.prepare<[string, number, number, number], { json: string }>(
        "SELECT json FROM events WHERE channel = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
      ),
      eventsSeqsAbove: db.prepare<[string, number], { seq: number }>("SELECT seq FROM events WHERE channel = ? AND seq > ? ORDER BY seq"),
      eventsJsonRange: db.prepare<[string, number, number, number], { seq: number; json: string }>(
        "SELECT seq, json FROM events WHERE channel = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
      ),
      cursorsOf: db.prepare<[string], CursorRow>("SELECT channel, acked_seq, end_seq FROM outbound_cursor WHERE destination = ?"),
      cursorPut: db.prepare<[string, string, number, number | null]>(
        `INSERT INTO outbound_cursor(destination, channel, acked_seq, end_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT(destination, channel) DO UPDATE SET acked_seq = excluded.acked_seq, end_seq = excluded.end_seq`,
      ),
      cursorAck: db.prepare<[number, string, string]>("UPDATE outbound_cursor SET acked_seq = max(acked_seq, ?) WHERE destination = ? AND channel = ?"),
      outboundDestinations: db.prepare<[], { destination: string }>(
        `SELECT o.destination FROM outbound_cursor o JOIN channels c ON c.channel = o.channel
         WHERE o.acked_seq < min(coalesce(o.end_seq, c.local_seq), c.local_seq)
         UNION SELECT destination FROM outbound_state WHERE suspended = 1`,
      ),
      suspendedGet: db.prepare<[string], { suspended: number }>("SELECT suspended FROM outbound_state WHERE destination = ?"),
      suspendedPut: db.prepare<[string, number]>(
        "INSERT INTO outbound_state VALUES (?, ?) ON CONFLICT(destination) DO UPDATE SET suspended = excluded.suspended",
      ),
      txnGet: db.prepare<[string, string], { body_sha256: string; result: string }>(
        "SELECT body_sha256, result FROM txn_results WHERE origin = ? AND txn_id = ?",
      ),
      txnPut: db.prepare<[string, string, string, string, number]>("INSERT INTO txn_results VALUES (?, ?, ?, ?, ?)"),
      txnExpire: db.prepare<[number]>("DELETE FROM txn_results WHERE ts < ?"),
      submissionGet: db.prepare<[string, string], SubmissionRow>("SELECT channel, seq, event_id FROM submissions WHERE sender = ? AND submission_id = ?"),
      submissionPut: db.prepare<[string, string, string, number, string, number]>("INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?)"),
    };
  }

  // --- meta (seed, control token) ---
  metaGet(key: string): Buffer | string | undefined {
    return this.s.metaGet.get(key)?.value;
  }
  metaPut(key: string, value: Buffer | string): void {
    this.s.metaPut.run(key, value);
  }
  /** Deletes a meta row so that no trace stays on disk: secure delete, then VACUUM and a truncating checkpoint. */
  purgeMeta(key: string): void {
    this.db.pragma("secure_delete = ON");
    this.db.prepare("DELETE FROM meta WHERE key = ?").run(key);
    this.db.exec("VACUUM");
    this.db.pragma("wal_checkpoint(TRUNCATE)");
  }

  // --- Paulina: host map and peers ---
  putHost(serverName: string, baseUrl: string): void {
    this.s.hostPut.run(serverName, baseUrl);
  }
  hosts(): Map<string, string> {
    return new Map(this.s.hostsAll.all().map((r) => [r.server_name, r.base_url]));
  }
  putPeer(row: PeerRow): void {
    this.s.peerPut.run(row);
  }
  deletePeer(serverName: string): void {
    this.s.peerDelete.run(serverName);
  }
  peers(): PeerRow[] {
    return this.s.peersAll.all();
  }

  // --- Naomi: channels and membership ---
  channel(channel: string): ChannelRow | undefined {
    return this.s.channelGet.get(channel);
  }
  channels(): ChannelRow[] {
    return this.s.channelsAll.all();
  }
  insertChannel(row: ChannelRow): void {
    this.s.channelInsert.run(row);
  }
  setJoined(channel: string, joined: boolean): void {
    this.s.channelSetJoined.run(joined ? 1 : 0, channel);
  }
  /** 1.1 (spec §9.8 CHAN-36): the seq of the leave event the hub answered for this participant's own leave, if any. */
  ownLeaveSeq(channel: string): number | undefined {
    return this.db.prepare<[string], { leave_seq: number }>("SELECT leave_seq FROM channel_leaves WHERE channel = ?").get(channel)?.leave_seq;
  }
  putOwnLeave(channel: string, seq: number): void {
    this.db.prepare<[string, number]>("INSERT INTO channel_leaves VALUES (?, ?) ON CONFLICT(channel) DO UPDATE SET leave_seq = excluded.leave_seq").run(channel, seq);
  }
  clearOwnLeave(channel: string): void {
    this.db.prepare<[string]>("DELETE FROM channel_leaves WHERE channel = ?").run(channel);
  }
  setHead(channel: string, headJson: string): void {
    this.s.channelSetHead.run(headJson, channel);
  }
  setSeqs(channel: string, localSeq: number, knownSeq: number): void {
    this.s.channelSetSeqs.run(localSeq, knownSeq, channel);
  }
  members(channel: string): string[] {
    return this.s.membersCurrent.all(channel).map((r) => r.server);
  }
  member(channel: string, server: string): { joined_seq: number; left_seq: number | null } | undefined {
    return this.s.memberGet.get(channel, server);
  }
  memberJoin(channel: string, server: string, seq: number): void {
    this.s.memberJoin.run(channel, server, seq);
  }
  memberLeave(channel: string, server: string, seq: number): void {
    this.s.memberLeave.run(seq, channel, server);
  }
  /** Channels hubbed by `hub` that `server` currently belongs to. */
  channelsOfMember(server: string, hub: string): string[] {
    return this.s.channelsOfMember.all(server, hub).map((r) => r.channel);
  }

  // --- Naomi: events ---
  event(channel: string, seq: number): { event_id: string; json: string } | undefined {
    return this.s.eventGet.get(channel, seq);
  }
  insertEvent(event: Event, json = JSON.stringify(event)): void {
    this.s.eventInsert.run(event.channel, event.seq, event.event_id, json);
  }
  /** Events with after < seq <= upTo, in seq order. */
  events(channel: string, after: number, upTo: number, limit: number): Event[] {
    return this.s.eventsRange.all(channel, after, upTo, limit).map((r) => JSON.parse(r.json) as Event);
  }
  seqsAbove(channel: string, seq: number): number[] {
    return this.s.eventsSeqsAbove.all(channel, seq).map((r) => r.seq);
  }

  // --- Naomi: outbound queue (read positions into the channel store) ---
  /** Up to `limit` stored events with after < seq <= upTo, in seq order, as stored. */
  eventsJson(channel: string, after: number, upTo: number, limit: number): { seq: number; json: string }[] {
    return this.s.eventsJsonRange.all(channel, after, upTo, limit);
  }
  cursors(destination: string): CursorRow[] {
    return this.s.cursorsOf.all(destination);
  }
  putCursor(destination: string, channel: string, ackedSeq: number, endSeq: number | null): void {
    this.s.cursorPut.run(destination, channel, ackedSeq, endSeq);
  }
  /** Moves the read position forward (never back). */
  ackCursor(destination: string, channel: string, ackedSeq: number): void {
    this.s.cursorAck.run(ackedSeq, destination, channel);
  }
  /** Destinations with events past their read position, or suspended (restart recovery). */
  outboundDestinations(): string[] {
    return this.s.outboundDestinations.all().map((r) => r.destination);
  }
  suspended(destination: string): boolean {
    return (this.s.suspendedGet.get(destination)?.suspended ?? 0) === 1;
  }
  setSuspended(destination: string, suspended: boolean): void {
    this.s.suspendedPut.run(destination, suspended ? 1 : 0);
  }

  // --- Naomi: participant submission queue and equivocation evidence ---
  queueSubmission(hub: string, submissionId: string, json: string): void {
    this.s.subQueuePut.run(hub, submissionId, json);
  }
  queuedSubmissions(hub: string, limit: number): { submission_id: string; json: string }[] {
    return this.s.subQueueBatch.all(hub, limit);
  }
  queuedSubmissionCount(hub: string): number {
    return this.s.subQueueCount.get(hub)!.n;
  }
  dequeueSubmission(submissionId: string): void {
    this.s.subQueueDelete.run(submissionId);
  }
  submissionHubs(): string[] {
    return this.s.subQueueHubs.all().map((r) => r.hub);
  }
  /** `offered` is the offered event or head as JSON, or a JSON array: the event, then the chain up to the hub-signed event that authenticated it. */
  putEvidence(channel: string, seq: number, held: string, offered: string, now: number): void {
    this.s.evidencePut.run(channel, seq, held, offered, now);
  }
  evidenceCount(channel: string): number {
    return this.s.evidenceCount.get(channel)!.n;
  }

  // --- Naomi: transaction results and submission dedupe ---
  txnResult(origin: string, txnId: string): { body_sha256: string; result: TransactionResult } | undefined {
    const row = this.s.txnGet.get(origin, txnId);
    return row && { body_sha256: row.body_sha256, result: JSON.parse(row.result) as TransactionResult };
  }
  putTxnResult(origin: string, txnId: string, bodySha256: string, result: TransactionResult, now: number): void {
    this.s.txnPut.run(origin, txnId, bodySha256, JSON.stringify(result), now);
  }
  expireTxnResults(before: number): void {
    this.s.txnExpire.run(before);
  }
  submission(sender: string, submissionId: string): SubmissionRow | undefined {
    return this.s.submissionGet.get(sender, submissionId);
  }
  putSubmission(sender: string, submissionId: string, row: SubmissionRow, now: number): void {
    this.s.submissionPut.run(sender, submissionId, row.channel, row.seq, row.event_id, now);
  }

  /** Runs `fn` in one SQLite transaction, committed before it returns: durable against a process crash, not power loss (see openDatabase). */
  tx<T>(fn: () => T): T {
    return this.runTx(fn) as T;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
