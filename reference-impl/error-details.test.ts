// Reference instance tests (spec §13 ERR-05, ERR-10): the SMCP_INVALID answers that used to come without details —
// a body on a GET, a path segment that is not valid percent-encoding, a refused host mapping — carry them now.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendRaw } from "../protocol/http-client.ts";
import { validate } from "../protocol/schemas.ts";
import type { Instance } from "./instance.ts";
import { control, dispatcher, start } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";

describe("every SMCP_INVALID carries details (ERR-05)", () => {
  const dir = tempDir("err05");
  let alice: Instance;
  beforeAll(async () => {
    alice = await start("alice.example", dir);
  });
  afterAll(async () => {
    await alice?.close();
    removeDir(dir);
  });

  const expectDetails = (a: { status: number; body: unknown }, label: string) => {
    expect(a.status, label).toBe(400);
    expect(validate("Error", a.body), label).toEqual([]);
    const body = a.body as { errcode: string; details?: unknown[] };
    expect(body.errcode, label).toBe("SMCP_INVALID");
    expect(body.details?.length, label).toBeGreaterThan(0);
  };

  it("a body on a GET of the control API", async () => {
    const a = await sendRaw(dispatcher, `${alice.url}/control/v1/instance`, {
      method: "GET", headers: { authorization: `Bearer ${alice.controlToken}`, "content-type": "application/json" }, body: Buffer.from("{}"), timeoutMs: 10_000,
    });
    expectDetails(a, "GET with a body");
  });

  it("a path segment that is not valid percent-encoding", async () => {
    expectDetails(await control(alice, "GET", "/control/v1/channels/%E0%A4%A/events"), "bad percent-encoding");
  });

  it("a refused host mapping", async () => {
    expectDetails(await control(alice, "PUT", "/control/v1/hosts/bob.example", { base_url: "ftp://bob.example" }), "refused host mapping");
  });
});
