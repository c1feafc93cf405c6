// Tests of the reference instance command line (all SMCP components): the ready line, the token file, clean shutdown.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { validate } from "../protocol/schemas.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";

const BIN = fileURLToPath(new URL("../bin/smcp.js", import.meta.url));

/** Starts `smcp serve` and resolves with its ready line once it prints it. */
async function serve(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; ready: { url: string; control_token_file: string } }> {
  const child = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.setEncoding("utf8");
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")));
    });
    child.once("exit", (code) => reject(new Error(`exited ${code} before listening`)));
  });
  return { child, ready: JSON.parse(line) as { url: string; control_token_file: string } };
}

describe("smcp serve", () => {
  it("TXN-13: an event acknowledged by the control API survives kill -9 (spec §8)", async () => {
    const dir = tempDir("kill");
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ includeVikunja: false, logLevel: "warn" }));
    const args = ["--name", "alice.example", "--listen", "127.0.0.1:0", "--data", join(dir, "data"), "--config", config];
    let { child, ready } = await serve(args);
    try {
      const token = readFileSync(ready.control_token_file, "utf8").trim();
      const call = (url: string, method: string, path: string, body?: unknown) =>
        fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      expect((await call(ready.url, "POST", "/control/v1/channels", { name: "durable" })).status).toBe(201);
      const published = await call(ready.url, "POST", `/control/v1/channels/${encodeURIComponent("!durable:alice.example")}/events`, { type: "chat:message", data: { keep: true } });
      expect(published.status).toBe(200);
      const killed = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await killed;
      ({ child, ready } = await serve(args));
      const list = await call(ready.url, "GET", `/control/v1/channels/${encodeURIComponent("!durable:alice.example")}/events`);
      const body = (await list.json()) as { events: Array<{ seq: number; data: unknown }> };
      expect(body.events.map((e) => e.seq)).toEqual([1, 2]);
      expect(body.events[1]!.data).toEqual({ keep: true });
    } finally {
      child.kill("SIGKILL");
      removeDir(dir);
    }
  });


  it("CLI: prints exactly one JSON 'listening' line, serves discovery, and exits 0 on SIGTERM (spec §12)", async () => {
    const dir = tempDir("cli");
    const child = spawn(process.execPath, [BIN, "serve", "--name", "alice.example", "--listen", "127.0.0.1:0", "--data", dir, "--peer", "bob.example=http://127.0.0.1:1", "--log-level", "warn"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let stdout = "";
      child.stdout.setEncoding("utf8");
      const firstLine = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (chunk: string) => {
          stdout += chunk;
          if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")));
        });
        child.once("exit", (code) => reject(new Error(`exited ${code} before listening`)));
      });
      const ready = JSON.parse(firstLine) as { event: string; server_name: string; url: string; control_token_file: string };
      expect(Object.keys(ready)).toEqual(["event", "server_name", "url", "control_token_file"]);
      expect(ready).toMatchObject({ event: "listening", server_name: "alice.example" });
      expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(statSync(ready.control_token_file).mode & 0o777).toBe(0o600);
      const token = readFileSync(ready.control_token_file, "utf8").trim();
      const discovery = await (await fetch(`${ready.url}/.well-known/smcp/server`)).json();
      expect(validate("ServerDiscovery", discovery)).toEqual([]);
      const instance = await fetch(`${ready.url}/control/v1/instance`, { headers: { authorization: `Bearer ${token}` } });
      expect(instance.status).toBe(200);
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(stdout.trim().split("\n")).toHaveLength(1);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      removeDir(dir);
    }
  });
});
