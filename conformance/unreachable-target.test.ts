// Conformance harness self-tests: a target given by URL that does not answer at all is a deployment error — exit 2,
// "nothing was checked", no report of a hundred failed checks (issue 11 item 5; README "exit codes").
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { capture } from "../tests/support/capture-output.ts";
import { main } from "./cli.ts";
import { freePort, randomToken } from "./deployment.ts";

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});


describe("an unreachable target exits 2 before any check runs", () => {
  it("--alice on a closed port: exit 2, the cause named, no check run and no report written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "smcp-unreachable-"));
    dirs.push(dir);
    const port = await freePort();
    const io = capture();
    const json = join(dir, "report.json");
    const code = await main(["run", "--alice", `http://127.0.0.1:${port}`, "--alice-token", randomToken(), "--bob", `http://127.0.0.1:${port}`, "--bob-token", randomToken(), "--json", json]);
    expect(code).toBe(2);
    expect(io.err()).toMatch(new RegExp(`--alice http://127\\.0\\.0\\.1:${port} is unreachable .*ECONNREFUSED.*nothing was checked`));
    expect(io.out()).not.toMatch(/✗|✓/);
    expect(existsSync(json)).toBe(false);
  });

  it("a port that accepts connections but never answers HTTP: exit 2 after the bounded wait", async () => {
    // A listener that takes the connection and says nothing (a hung process, a wrong service).
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    try {
      const io = capture();
      const code = await main(["run", "--alice", `http://127.0.0.1:${port}`, "--alice-token", randomToken(), "--bob", `http://127.0.0.1:${port}`, "--bob-token", randomToken()]);
      expect(code).toBe(2);
      expect(io.err()).toMatch(/is unreachable .*nothing was checked/);
      expect(io.out()).not.toMatch(/✗|✓/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, 20_000);
});
