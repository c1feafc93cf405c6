// Conformance harness self-tests: the Control API contract checks (spec §6.4, §12.5) pass against a small, correct Control
// API and fail against one with a single deliberate fault — so each check is shown to bite.
import { afterEach, describe, expect, it } from "vitest";
import { generateSeed, signingKeyFromSeed, verifyKeyOf } from "../protocol/keys.ts";
import { runOne } from "./runner.ts";
import { checkById, harnessAgainst } from "../tests/support/harness-self-test.ts";
import { controlApi, CONTROL_API_NAME as NAME, type ControlFaults } from "../tests/support/small-control-api.ts";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function run(id: string, faults: ControlFaults) {
  const api = await controlApi(faults);
  const key = verifyKeyOf(signingKeyFromSeed(generateSeed()));
  const h = await harnessAgainst({ alice: { name: NAME, url: api.url, key }, bob: { name: "bob.test", url: api.url, key } });
  closers.push(h.close, api.close);
  return runOne(checkById(`${id}@alice`), h.ctx);
}

describe("Control API contract checks against a small Control API", () => {
  const cases: Array<[string, ControlFaults, string]> = [
    ["ctl/check-order", { tokenFirst: true }, "checks the token before the route (CTRL-30)"],
    ["ctl/host-map-remote-http", { anyMapping: true }, "accepts plain http to a remote host (DISC-22)"],
    ["ctl/self-not-peer", { selfPeer: true }, "lets the instance discover itself (CTRL-31)"],
    ["ctl/body-limit", { noBodyLimit: true }, "reads bodies beyond its advertised max_body_bytes (CTRL-36)"],
  ];
  for (const [id, fault, what] of cases) {
    it(`${id} passes against a correct Control API`, async () => {
      const r = await run(id, {});
      expect([r.status, r.details[0]]).toEqual(["pass", undefined]);
    });

    it(`${id} fails against a Control API that ${what}`, async () => {
      const r = await run(id, fault);
      expect([r.status, r.category]).toEqual(["fail", "requirement"]);
    });
  }
});
