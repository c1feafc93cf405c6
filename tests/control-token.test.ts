// Security test of the control API edge and the CLI (spec §12.1 CTRL-01, CTRL-02, CTRL-39; issue 10 "Low"): the token
// is taken from a file or the environment (never needed on the command line), must be long enough, and a wrong token
// of any length, or none, is refused the same way.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { control, start } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

const BIN = fileURLToPath(new URL("../bin/smcp.js", import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** Runs `smcp serve`, answers with the instance's control API reply for `token`, then stops it. */
async function serveAndAsk(args: string[], env: Record<string, string>, token: string): Promise<number> {
  const child = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  try {
    let out = "";
    child.stdout.setEncoding("utf8");
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (c: string) => ((out += c), out.includes("\n") && resolve(out.slice(0, out.indexOf("\n")))));
      child.once("exit", (code) => reject(new Error(`exited ${code}`)));
    });
    const { url } = JSON.parse(line) as { url: string };
    return (await fetch(`${url}/control/v1/instance`, { headers: { authorization: `Bearer ${token}` } })).status;
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}

describe("control token (CTRL-01, CTRL-02, CTRL-39)", () => {
  const token = "t".repeat(40);

  it("--control-token-file FILE and SMCP_CONTROL_TOKEN set the token without it appearing in argv", async () => {
    const dir = tempDir("token-file");
    dirs.push(dir);
    const file = join(dir, "token");
    writeFileSync(file, token + "\n", { mode: 0o600 });
    const base = ["--name", "alice.example", "--listen", "127.0.0.1:0", "--log-level", "warn", "--config", join(dir, "c.json")];
    writeFileSync(join(dir, "c.json"), JSON.stringify({ includeVikunja: false }));
    expect(await serveAndAsk([...base, "--data", join(dir, "a"), "--control-token-file", file], {}, token)).toBe(200);
    expect(await serveAndAsk([...base, "--data", join(dir, "b")], { SMCP_CONTROL_TOKEN: token }, token)).toBe(200);
    expect(await serveAndAsk([...base, "--data", join(dir, "c")], { SMCP_CONTROL_TOKEN: token }, "x".repeat(40))).toBe(401);
  });

  it("CTRL-39: a token shorter than 32 characters is refused at start", async () => {
    const dir = tempDir("token-short");
    dirs.push(dir);
    await expect(start("alice.example", dir, { controlToken: "short" })).rejects.toThrow(/32 to 512 printable/);
  });

  it("CTRL-01: no token, a prefix, a longer token and an empty bearer are all 401 SMCP_UNAUTHORIZED", async () => {
    const dir = tempDir("token-cmp");
    dirs.push(dir);
    const alice = await start("alice.example", dir, { controlToken: token });
    try {
      for (const wrong of ["", token.slice(0, 39), token + "t", token.toUpperCase()]) {
        const a = await control(alice, "GET", "/control/v1/instance", undefined, wrong);
        expect([a.status, (a.body as { errcode: string }).errcode]).toEqual([401, "SMCP_UNAUTHORIZED"]);
      }
      expect((await control(alice, "GET", "/control/v1/instance", undefined, token)).status).toBe(200);
    } finally {
      await alice.close();
    }
  });
});
