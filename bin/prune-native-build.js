#!/usr/bin/env node
// Package install step (issue 13, installed size): where better-sqlite3 was compiled from source because no prebuilt
// binary could be downloaded, node-gyp leaves ~15 MB of intermediate object files next to the finished addon. They
// are never loaded; `npm rebuild better-sqlite3` recreates them. Nothing else is touched, and an install never fails here.
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

try {
  const root = dirname(createRequire(import.meta.url).resolve("better-sqlite3/package.json"));
  const release = join(root, "build", "Release");
  if (existsSync(join(release, "better_sqlite3.node"))) {
    for (const dir of ["obj", "obj.target"]) rmSync(join(release, dir), { recursive: true, force: true });
  }
} catch {
  // better-sqlite3 not resolvable from here (e.g. a partial install): nothing to prune.
}
