#!/usr/bin/env node
// Conformance harness CLI entry (`npx smcp-conformance run ...`): runs the TypeScript sources through tsx.
import { register } from "tsx/esm/api";
register();
await import("../conformance/cli.ts");
