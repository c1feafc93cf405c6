#!/usr/bin/env node
// Reference instance CLI entry (`npx smcp serve ...`): runs the TypeScript sources, bundled once per source state
// (bin/launch.js) or through tsx.
import { runEntry } from "./launch.js";

await runEntry(new URL("../reference-impl/cli.ts", import.meta.url));
