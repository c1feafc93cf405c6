#!/usr/bin/env node
// Builds the start-up bundles of the instance and its vikunja component ahead of time (bin/launch.js), for an
// installation whose node_modules the instance cannot write, such as the reference image (Dockerfile).
import { prebuild } from "./launch.js";

await prebuild([new URL("../reference-impl/cli.ts", import.meta.url), new URL("../reference-impl/components/vikunja/server.ts", import.meta.url)]);
