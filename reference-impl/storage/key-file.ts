// Storage of the reference instance (spec §4.4 KEY-27): the Ed25519 seed lives in its own 0600 file,
// `<data>/ed25519.key`, apart from the database; data directories that kept it in the database are migrated.
import { existsSync, readFileSync } from "node:fs";
import { generateSeed } from "../../protocol/keys.ts";
import type { Store } from "./db.ts";
import { tightenIfPresent, writePrivateFileAtomic } from "./private-files.ts";

export const KEY_FILE = "ed25519.key";
/** Where versions before issue 10 kept the seed: the meta table of the database. */
const LEGACY_SEED_KEY = "ed25519_seed";
const PREFIX = "ed25519-seed:";

/**
 * The instance's seed: read from `file`; else moved there from the database (the row is deleted and the database
 * vacuumed so that no page or WAL frame keeps it); else generated there.
 */
export function loadSeed(file: string, store: Store): Buffer {
  const legacy = store.metaGet(LEGACY_SEED_KEY);
  let seed = existsSync(file) ? parseSeedFile(file) : undefined;
  if (!seed) {
    seed = Buffer.isBuffer(legacy) && legacy.length === 32 ? Buffer.from(legacy) : generateSeed();
    writePrivateFileAtomic(file, `${PREFIX}${seed.toString("base64url")}\n`);
  }
  tightenIfPresent(file);
  if (legacy !== undefined) store.purgeMeta(LEGACY_SEED_KEY);
  return seed;
}

function parseSeedFile(file: string): Buffer {
  const text = readFileSync(file, "utf8").trim();
  const seed = text.startsWith(PREFIX) ? Buffer.from(text.slice(PREFIX.length), "base64url") : Buffer.alloc(0);
  if (seed.length !== 32) throw new Error(`${file} is not an SMCP key file (expected ${PREFIX}<base64url of 32 bytes>)`);
  return seed;
}
