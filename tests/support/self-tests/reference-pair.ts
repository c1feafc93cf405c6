// Conformance harness self-tests: two reference instances (all SMCP components) started in-process, each behind a
// broken front (broken-front.ts), and the check context a real run would build around them (cli.ts runAgainst).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDispatcher } from "../../../protocol/http-client.ts";
import { signingKeyFromSeed } from "../../../protocol/keys.ts";
import { start } from "../instances.ts";
import { removeDir, tempDir } from "../temp-dir.ts";
import type { Instance } from "../../../reference-impl/instance.ts";
import type { CheckContext, Options, Role, Target } from "../../../conformance/context.ts";
import { ControlClient } from "../../../conformance/control-client.ts";
import { FakePeer } from "../../../conformance/fake-peer.ts";
import { TEST_OPTIONS } from "../harness-self-test.ts";
import { WireRecorder } from "../../../conformance/wire-log.ts";
import { startFront, type FaultFactory, type Front } from "./broken-front.ts";

export interface Pair {
  ctx: CheckContext;
  fronts: Record<Role, Front>;
  instances: Record<Role, Instance>;
  close(): Promise<void>;
}

export const PAIR_NAMES: Record<Role, string> = { alice: "alice.test", bob: "bob.test" };

/** The reference instance's Ed25519 seed: in `<data>/ed25519.key` (`ed25519-seed:<base64url>`) or, before that file, in its database. */
function seedOf(inst: Instance, dir: string): Buffer {
  const file = join(dir, "ed25519.key");
  if (existsSync(file)) return Buffer.from(readFileSync(file, "utf8").trim().replace(/^ed25519-seed:/, ""), "base64url");
  return inst.store.metaGet("ed25519_seed") as Buffer;
}

/** Reference alice and bob, reached only through their fronts (Control API, federation API and discovery `endpoint`). */
export async function referencePair(faults: Partial<Record<Role, FaultFactory>> = {}, options: Partial<Options> = {}): Promise<Pair> {
  const dirs: string[] = [];
  const up = async (role: Role): Promise<[Front, Instance]> => {
    const front = await startFront(faults[role] ?? (() => []));
    const dir = tempDir(`selftest-${role}`);
    dirs.push(dir);
    const inst = await start(PAIR_NAMES[role], dir, { includeVikunja: true, forwardAllow: ["*>*"], backoffBaseMs: 250, backoffMaxMs: 30_000, publicUrl: front.url, controlToken: randomBytes(24).toString("hex") });
    front.upstream = inst.url;
    front.env.controlToken = inst.controlToken;
    front.env.controlUrl = inst.url;
    // A broken sender signs what it sends with the instance's own key (outbound-relay.ts); the key is in its store.
    front.env.instanceKey = signingKeyFromSeed(seedOf(inst, dir));
    return [front, inst];
  };
  const [[fa, ia], [fb, ib]] = await Promise.all([up("alice"), up("bob")]);
  const recorder = new WireRecorder();
  const dispatcher = createDispatcher({ connections: 32 });
  const fake = await FakePeer.start(`mallory-${randomBytes(3).toString("hex")}.test`, recorder);
  fa.env.fakeUrl = fake.url;
  fb.env.fakeUrl = fake.url;
  const target = (role: Role, front: Front, inst: Instance): Target => ({
    role, name: inst.serverName, baseUrl: front.url, token: inst.controlToken, control: new ControlClient(dispatcher, front.url, inst.controlToken, recorder, role),
  });
  const ctx: CheckContext = {
    alice: target("alice", fa, ia), bob: target("bob", fb, ib), fake, dispatcher, recorder,
    options: { ...TEST_OPTIONS, ...options }, runId: randomBytes(3).toString("hex"), state: { published: [], adv: {} }, note: () => {},
  };
  return {
    ctx,
    fronts: { alice: fa, bob: fb },
    instances: { alice: ia, bob: ib },
    close: async () => {
      await fake.close();
      await dispatcher.close();
      await Promise.all([ia.close(), ib.close()]);
      await Promise.all([fa.close(), fb.close()]);
      dirs.forEach(removeDir);
    },
  };
}
