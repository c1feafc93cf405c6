// Security test of storage (spec §4.1 KEY-26, §15, issue 10 finding 3): in a pre-existing 0755 data directory under a
// permissive umask, no file the instance writes is readable by group or other, and the seed is in its own 0600 file,
// never in the database or its WAL; data directories that kept the seed in the database are migrated.
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateSeed, signingKeyFromSeed } from "../protocol/keys.ts";
import { openDatabase, Store } from "../reference-impl/storage/db.ts";
import { KEY_FILE } from "../reference-impl/storage/key-file.ts";
import { control, start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function openDataDir(label: string): string {
  const dir = join(tempDir(label), "data");
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755); // as a bind mount, `VOLUME` or plain mkdir leaves it
  dirs.push(dir);
  return dir;
}

/** Every file and directory below `dir`, with its permission bits. */
function walk(dir: string): Array<{ path: string; mode: number; file: boolean }> {
  const out: Array<{ path: string; mode: number; file: boolean }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    out.push({ path, mode: st.mode & 0o777, file: st.isFile() });
    if (st.isDirectory()) out.push(...walk(path));
  }
  return out;
}

function containsSeed(dir: string, seed: Buffer): string[] {
  return walk(dir).filter((e) => e.file && !e.path.endsWith(KEY_FILE)).filter((e) => readFileSync(e.path).includes(seed)).map((e) => e.path);
}

describe("the key on disk (KEY-26, KEY-27)", () => {
  it("a fresh instance in a 0755 directory: every file 0600, every directory 0700, the seed only in ed25519.key", async () => {
    const dir = openDataDir("perm");
    const old = process.umask(0o022);
    try {
      const alice = await start("alice.example", dir, { logDestination: join(dir, "logs", "alice.log"), logLevel: "info" });
      // Traffic, so that the WAL and -shm exist and hold pages.
      const fake = await startFakePeer("bob.example", [alice]);
      await control(alice, "POST", "/control/v1/channels", { name: "c" });
      await fake.close();
      const files = walk(dir);
      const names = files.map((f) => f.path.slice(dir.length + 1)).sort();
      expect(names).toEqual(expect.arrayContaining([KEY_FILE, "control-token", "smcp.sqlite", "smcp.sqlite-wal", "smcp.sqlite-shm", "logs/alice.log", "components"]));
      expect(files.filter((f) => f.file && (f.mode & 0o077) !== 0).map((f) => f.path.slice(dir.length + 1))).toEqual([]);
      expect(files.filter((f) => !f.file && (f.mode & 0o077) !== 0).map((f) => f.path.slice(dir.length + 1))).toEqual([]);
      const seed = Buffer.from(readFileSync(join(dir, KEY_FILE), "utf8").trim().slice("ed25519-seed:".length), "base64url");
      expect(signingKeyFromSeed(seed).keyId).toBe(alice.keyId);
      await alice.close();
      expect(containsSeed(dir, seed)).toEqual([]);
      // The data directory itself is the operator's: left as it was.
      expect(statSync(dir).mode & 0o777).toBe(0o755);
    } finally {
      process.umask(old);
    }
  });

  it("a data directory of an earlier version (seed in the database, files 0644) is migrated: same key, no seed left in the database", async () => {
    const dir = openDataDir("migrate");
    const seed = generateSeed();
    const old = process.umask(0o022);
    try {
      const db = openDatabase(join(dir, "smcp.sqlite"));
      new Store(db).metaPut("ed25519_seed", seed);
      db.close();
      for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
      expect(containsSeed(dir, seed).length).toBeGreaterThan(0);
      const alice = await start("alice.example", dir);
      expect(alice.keyId).toBe(signingKeyFromSeed(seed).keyId);
      expect(alice.store.metaGet("ed25519_seed")).toBeUndefined();
      await alice.close();
      expect(walk(dir).filter((f) => f.file && (f.mode & 0o077) !== 0)).toEqual([]);
      expect(containsSeed(dir, seed)).toEqual([]);
      // And the key survives a restart from the file alone.
      const again = await start("alice.example", dir);
      expect(again.keyId).toBe(signingKeyFromSeed(seed).keyId);
      await again.close();
    } finally {
      process.umask(old);
    }
  });

  it("a damaged key file stops the start with a clear error rather than a new identity", async () => {
    const dir = openDataDir("damaged");
    const alice = await start("alice.example", dir);
    await alice.close();
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(dir, KEY_FILE), "garbage\n");
    await expect(start("alice.example", dir)).rejects.toThrow(/not an SMCP key file/);
  });
});
