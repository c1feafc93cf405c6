#!/usr/bin/env node
// Reference instance CLI entry (`npx smcp serve ...`): runs the TypeScript sources through tsx.
import { register } from "tsx/esm/api";
register();
await import("../reference-impl/cli.ts");
