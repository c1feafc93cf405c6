// Conformance harness self-test: the checks added to kill mutation survivors (issue 11) can fail. Each is run, with
// its prerequisites (`run --only`), against two reference instances started from a scratch copy with the mutants it
// was written for planted — the catalogue's own patches, several per copy where they touch different lines and no
// check's prerequisites — and must fail there (never "not testable"). That they pass against the unmutated reference
// is `npm start`'s job.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";
import { ALL_MUTANTS } from "./mutants/catalogue/index.ts";
import { applyMutant, type Mutant } from "./mutants/mutant.ts";
import { runHarness } from "./mutants/runner.ts";
import { makeScratch } from "./mutants/scratch.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));

/** A planted bug (a catalogue mutant) and the new or sharpened checks it proves able to fail. */
interface Proof {
  mutant: string;
  fails: string[];
}

/** Mutants planted together: different lines, and none breaks a prerequisite of another's check. */
const RUNS: Record<string, Proof[]> = {
  "edge, signing, discovery, calls": [
    { mutant: "window/grace-two-seconds", fails: ["adv/window/edges"] },
    { mutant: "replay/kept-one-second", fails: ["adv/replay/retained"] },
    { mutant: "sign/nonce-not-decoded", fails: ["adv/sign/header-grammar"] },
    { mutant: "sign/destination-after-key", fails: ["adv/sign/check-order"] },
    { mutant: "http/streamed-body-unbounded", fails: ["adv/limits/too-large-chunked"] },
    { mutant: "err/message-unbounded", fails: ["adv/http/long-path-error"] },
    { mutant: "jcs/negative-unsafe-integer", fails: ["adv/json/negative-unsafe-integer"] },
    { mutant: "jcs/surrogate-in-member-name", fails: ["adv/json/surrogate-in-member-name"] },
    { mutant: "edge/gzip-only-refused", fails: ["adv/http/any-content-coding"] },
    { mutant: "edge/token-without-bearer", fails: ["ctl/auth-required"] },
    { mutant: "ctl/host-map-200", fails: ["adv/control/hosts-and-peers"] },
    { mutant: "dlv/backfill-default-limit-1000", fails: ["adv/lists/default-page"] },
    { mutant: "disc/components-without-services", fails: ["adv/discovery/lists-services"] },
    { mutant: "disc/no-default-ttl", fails: ["adv/discovery/kept-without-max-age"] },
    { mutant: "disc/failure-not-cached", fails: ["adv/discovery/failure-cached"] },
    { mutant: "call/all-remote-errors-relayed", fails: ["adv/control/remote-auth-error-not-relayed"] },
    { mutant: "call/answer-not-matched", fails: ["adv/control/answer-of-another-call"] },
    { mutant: "rate/sender-ignores-429", fails: ["adv/control/call-held-after-429"] },
    { mutant: "call/forbidden-after-target-checks", fails: ["adv/calls/non-peer-forbidden"] },
    { mutant: "conf/tasks-by-title", fails: ["adv/lists/tasks-in-id-order"] },
    { mutant: "store/heads-after-removal", fails: ["adv/removal/no-heads-after-leave"] },
    // Not with chain/one-verified-trusts-batch: the event that one lets in occupies the seq this check probes.
    { mutant: "chain/prev-link-unchecked", fails: ["adv/batch/prev-link"] },
  ],
  "events, batches, lists, removal": [
    { mutant: "jcs/max-safe-refused", fails: ["adv/json/safe-integer-bounds"] },
    { mutant: "ctl/discover-from-cache", fails: ["adv/control/hosts-and-peers"] },
    { mutant: "ctl/events-default-limit-10", fails: ["adv/lists/default-page"] },
    { mutant: "chain/one-verified-trusts-batch", fails: ["adv/batch/unlinked-neighbour"] },
    { mutant: "txn/changed-redelivery-accepted", fails: ["adv/batch/changed-redelivery"] },
    { mutant: "txn/events-from-non-hub", fails: ["adv/batch/not-the-hub"] },
    { mutant: "evt/prev-event-one-way", fails: ["adv/batch/seq-one-with-prev"] },
    { mutant: "txn/items-count-submissions-only", fails: ["adv/batch/events-are-items"] },
    { mutant: "store/removed-member-may-call", fails: ["adv/removal/may-not-call"] },
  ],
  // Bugs whose traffic the fake peer refuses whichever check is running (nonces from the clock repeat within a
  // millisecond; a -1e21 event fans out to it): planted apart, with only their own checks selected.
  "sender nonces, fanned-out event": [
    { mutant: "sign/nonce-from-clock", fails: ["adv/final/sender-nonces-random"] },
    { mutant: "jcs/negative-number-canonical", fails: ["adv/txn/negative-non-canonical-data"] },
  ],
};

/** Every check ID this file proves able to fail (indexed in tests/support/self-tests/proofs.ts). */
const SHARPER_CHECKS_PROVEN: readonly string[] = [...new Set(Object.values(RUNS).flatMap((r) => r.flatMap((p) => p.fails)))];

type Report = { checks: { id: string; status: string; category?: string; details?: string[] }[] };

function mutantById(id: string): Mutant {
  const m = ALL_MUTANTS.find((x) => x.id === id);
  if (!m) throw new Error(`no mutant ${id} in the catalogue`);
  return m;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One scratch copy with every mutant of `proofs` applied, and the harness run (only their checks) against it. */
async function plantedRun(work: string, proofs: Proof[]): Promise<Report> {
  const [first, ...rest] = proofs.map((p) => mutantById(p.mutant));
  const scratch = makeScratch(REPO, work, first!);
  for (const m of rest) {
    const file = join(scratch.dir, m.file);
    const patched = applyMutant(m, readFileSync(file, "utf8"));
    if ("stale" in patched) throw new Error(`${m.id} does not apply together with the others: ${patched.stale}`);
    writeFileSync(file, patched.text);
  }
  const json = join(scratch.dir, "report.json");
  const instance = `${quote(process.execPath)} ${quote(join(scratch.dir, "bin", "smcp.js"))} serve --name {name} --listen 127.0.0.1:{port} --data {data} --control-token={token} --accept-all-invites '--forward-allow=*>*'`;
  const only = [...new Set(proofs.flatMap((p) => p.fails))].join(",");
  const run = await runHarness({
    command: process.execPath,
    args: [join(REPO, "bin", "smcp-conformance.js"), "run", "--alice-cmd", instance, "--bob-cmd", instance, "--only", only, "--json", json],
    cwd: REPO,
    env: { ...process.env, TMPDIR: scratch.dir },
  }, json, 240_000);
  scratch.remove();
  if (!run.report) throw new Error(`no harness report (exit ${run.exitCode}): ${run.outputTail.slice(-800)}`);
  return run.report as Report;
}

describe("the checks aimed at mutation survivors fail against the mutants they were written for", () => {
  const work = mkdtempSync(join(tmpdir(), "sharper-checks-"));
  const reports = new Map<string, Promise<Report>>();

  beforeAll(() => {
    // Started together (each waits on its own instances), awaited by the tests.
    for (const [name, proofs] of Object.entries(RUNS)) {
      const p = plantedRun(work, proofs);
      p.catch(() => {});
      reports.set(name, p);
    }
  });
  afterAll(async () => {
    await Promise.allSettled(reports.values());
    rmSync(work, { recursive: true, force: true });
  });

  for (const [name, proofs] of Object.entries(RUNS)) {
    it(`${name}: ${proofs.flatMap((p) => p.fails).join(", ")} fail (${proofs.map((p) => p.mutant).join(", ")} planted)`, async () => {
      const report = await reports.get(name)!;
      const status = new Map(report.checks.map((c) => [c.id, c]));
      const wrong: string[] = [];
      for (const p of proofs) {
        for (const id of p.fails) {
          for (const role of ["alice", "bob"]) {
            const c = status.get(`${id}@${role}`);
            if (c?.status !== "fail" || !["requirement", "instance-invalid"].includes(c.category ?? "")) {
              wrong.push(`${id}@${role} (${p.mutant}): ${c ? `${c.status} ${c.category ?? ""} ${(c.details ?? []).join(" ").slice(0, 200)}` : "not run"}`);
            }
          }
        }
      }
      expect(wrong).toEqual([]);
    }, 300_000);
  }
});

declaresProofs(import.meta.url, SHARPER_CHECKS_PROVEN);
