// Roshumba component host test helpers: the fixture server's config, a quiet logger and a bounded wait on observable state.
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino, type Logger } from "pino";
import { SmcpError } from "../../../protocol/errors.ts";
import type { ComponentConfig } from "../host.ts";

export const quietLogger: Logger = pino({ level: process.env.SMCP_TEST_LOG ?? "silent" });

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `smcp-${prefix}-`));
}

/** The fixture MCP server (slow / failing / crashing tools), run like vikunja: this Node with tsx as loader. */
export function fixtureConfig(name = "fixture"): ComponentConfig {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const server = fileURLToPath(new URL("./fixture-server.ts", import.meta.url));
  return { name, command: process.execPath, args: ["--import", tsx, server] };
}

/** Polls `check` until it holds, for at most `timeoutMs`; throws with `what` otherwise. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Awaits `p` and returns the SmcpError it fails with; fails the test when it succeeds or throws anything else. */
export async function errorOf(p: Promise<unknown>): Promise<SmcpError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SmcpError) return err;
    throw err;
  }
  throw new Error("expected an SmcpError, the call succeeded");
}
