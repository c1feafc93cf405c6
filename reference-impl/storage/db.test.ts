// Tests of the reference instance's storage migrations (all components): fresh databases and databases from before each step.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { CallStore } from "../roshumba/store.ts";
import { MIGRATIONS, openDatabase } from "./db.ts";

const dir = mkdtempSync(join(tmpdir(), "smcp-db-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tables = (db: Database.Database) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name LIKE 'roshumba%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);

describe("storage migrations", () => {
  it("a fresh database is at the newest version and holds Roshumba's call table and index", () => {
    const db = openDatabase(":memory:");
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual(["roshumba_calls", "roshumba_calls_updated", "roshumba_forward_envelopes"]);
    db.close();
  });

  it("CALL-10: a v2 database whose call table Roshumba created itself keeps its calls across the upgrade (spec §10.3)", () => {
    const file = join(dir, "v2.sqlite");
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.exec(MIGRATIONS[1]!);
    old.pragma("user_version = 2");
    // What CallStore created on its own before migration v3, with one recorded outcome in it.
    old.exec(MIGRATIONS[2]!);
    old.prepare("INSERT INTO roshumba_calls VALUES ('bob.example', 'c1', 'sha', 'done', '{\"ok\":1}', NULL, NULL, 1, 1)").run();
    old.close();

    const db = openDatabase(file);
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(new CallStore(db).get("bob.example", "c1")).toEqual({ body_sha256: "sha", state: "done", result: '{"ok":1}', errcode: null, error: null });
    db.close();
  });

  it("CALL-10: a v2 database without the call table gets it on upgrade (spec §10.3)", () => {
    const file = join(dir, "v2-bare.sqlite");
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.exec(MIGRATIONS[1]!);
    old.pragma("user_version = 2");
    old.close();
    const db = openDatabase(file);
    const store = new CallStore(db);
    store.start("bob.example", "c2", "sha2", 5);
    expect(store.get("bob.example", "c2")?.state).toBe("started");
    db.close();
  });
});
