#!/usr/bin/env node
// Conformance harness CLI entry (`npx smcp-conformance run ...`): runs the TypeScript sources, bundled once per source
// state (bin/launch.js) or through tsx.
import { runEntry } from "./launch.js";

await runEntry(new URL("../conformance/cli.ts", import.meta.url));
