#!/usr/bin/env node
// Runs one TypeScript entry point the way bin/smcp.js runs the instance (bin/launch.js: bundled, or through tsx):
// `node bin/run-entry.js FILE.ts [args...]`; the entry sees `process.argv` as `node FILE.ts args...`.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { runEntry } from "./launch.js";

const [file] = process.argv.splice(2, 1);
if (!file) {
  process.stderr.write("usage: node bin/run-entry.js FILE.ts [args...]\n");
  process.exit(2);
}
process.argv[1] = resolve(file);
await runEntry(pathToFileURL(resolve(file)));
