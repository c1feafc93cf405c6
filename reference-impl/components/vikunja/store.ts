// Roshumba sample component (vikunja): the task store behind the MCP tools, in SQLite so tasks survive restarts (spec §16).
import Database from "better-sqlite3";
import { ensurePrivateFile, tightenIfPresent } from "../../storage/private-files.ts";

export interface Task {
  id: number;
  title: string;
  done: boolean;
}

interface TaskRow {
  id: number;
  title: string;
  done: number;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  title TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  created_ts INTEGER NOT NULL
)`;

function toTask(row: TaskRow): Task {
  return { id: row.id, title: row.title, done: row.done === 1 };
}

export class TaskStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, number]>;
  private readonly byId: Database.Statement<[number], TaskRow>;
  private readonly all: Database.Statement<[], TaskRow>;
  private readonly markDone: Database.Statement<[number]>;

  constructor(file: string) {
    // 0600 whatever the umask (KEY-26); SQLite gives its -wal and -shm files the database file's mode.
    ensurePrivateFile(file);
    for (const suffix of ["-wal", "-shm", "-journal"]) tightenIfPresent(file + suffix);
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // A created task is reported to a remote caller, who may never ask again: it must survive power loss too.
    this.db.pragma("synchronous = FULL");
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare("INSERT INTO tasks (title, created_ts) VALUES (?, ?)");
    this.byId = this.db.prepare("SELECT id, title, done FROM tasks WHERE id = ?");
    this.all = this.db.prepare("SELECT id, title, done FROM tasks ORDER BY id");
    this.markDone = this.db.prepare("UPDATE tasks SET done = 1 WHERE id = ?");
  }

  create(title: string): Task {
    const info = this.insert.run(title, Date.now());
    return { id: Number(info.lastInsertRowid), title, done: false };
  }

  list(): Task[] {
    return this.all.all().map(toTask);
  }

  /** Marks a task done (idempotent); undefined when no task has this id. */
  complete(id: number): Task | undefined {
    this.markDone.run(id);
    const row = this.byId.get(id);
    return row ? toTask(row) : undefined;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
