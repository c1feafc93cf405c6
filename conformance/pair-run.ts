// Conformance harness: one run — deploy alice and bob, drive them through the selected checks, write the reports,
// stop everything that was started (also on failure). Shared by `run` and each pair of `matrix`. With `tls` the whole
// run goes over HTTPS with a CA generated for it (instances, fake peers, Control API, federation traffic).
import { createDispatcher } from "../protocol/http-client.ts";
import { randomId } from "../protocol/random-id.ts";
import { allChecks } from "./checks/index.ts";
import { tlsUnavailable } from "./checks/tls.ts";
import type { Check, CheckContext, Options, Role, Target } from "./context.ts";
import { ControlClient } from "./control-client.ts";
import { deploy, type Deployment, type RoleSpec } from "./deployment.ts";
import { FakePeer } from "./fake-peer.ts";
import { progressLine, summary, writeReports, type RunMeta } from "./report.ts";
import { runChecks, type CheckResult } from "./runner.ts";
import { exitCodeFor, type ExpectedFailures } from "./selection.ts";
import { makeRunTls, type RunTls } from "./tls-material.ts";
import { withRunTls } from "./tls-transport.ts";
import { WireRecorder } from "./wire-log.ts";
import { profileUnavailable } from "./profiles.ts";

export interface PairSettings {
  options: Options;
  only: string[];
  skip: string[];
  expected: ExpectedFailures;
  expectedFile: string | null;
  startupTimeoutMs: number;
  /** `--no-durability`: the checks that restart instances are reported excluded (not run), never passed. */
  noDurability?: boolean;
  /** --tls: everything over HTTPS with a CA the harness generates; the adv/tls checks run (excluded otherwise). */
  tls?: boolean;
  reports: { json?: string | undefined; junit?: string | undefined; html?: string | undefined };
  /** Console output (progress lines and the summary). */
  write: (text: string) => void;
}

export interface PairOutcome {
  results: CheckResult[];
  meta: RunMeta;
  code: 0 | 1;
}

export async function runPair(specs: Record<Role, RoleSpec>, s: PairSettings): Promise<PairOutcome> {
  const started = Date.now();
  const tls = s.tls ? await makeRunTls() : undefined;
  try {
    const deployment = await deploy(specs, { startupTimeoutMs: s.startupTimeoutMs, verbose: s.options.verbose, ...(tls ? { tls } : {}) });
    let keepLogs = false;
    try {
      const outcome = tls ? await withRunTls(tls, () => drive(deployment, s, started, tls)) : await drive(deployment, s, started);
      keepLogs = outcome.code !== 0 && deployment.logFiles.length > 0;
      if (keepLogs) s.write(`instance logs kept: ${deployment.logFiles.join(", ")}\n`);
      return outcome;
    } finally {
      await deployment.close(keepLogs);
    }
  } finally {
    tls?.remove();
  }
}

/** Why a check that restarts instances cannot run here: --no-durability, or an instance the harness cannot restart. */
export function durabilityUnavailable(c: Check, deployment: Pick<Deployment, "restart">, noDurability: boolean): string | undefined {
  if (!c.restarts || c.restarts.length === 0) return undefined;
  if (noDurability) return "durability phase not run (--no-durability): nothing about restarts was checked";
  const missing = c.restarts.filter((role) => !deployment.restart[role]);
  if (missing.length === 0) return undefined;
  return `durability phase not run for ${missing.join(" and ")}: given by URL without ${missing.map((r) => `--${r}-restart-cmd`).join("/")}, so the harness cannot restart it`;
}

async function drive(deployment: Deployment, s: PairSettings, started: number, tls?: RunTls): Promise<PairOutcome> {
  const recorder = new WireRecorder();
  const dispatcher = createDispatcher({ connections: 32, ...(tls ? { ca: tls.caPem } : {}) });
  const runId = randomId(3, "hex");
  const fake = await FakePeer.start(`mallory-${runId}.test`, recorder);
  const target = (role: Role): Target => {
    const ep = deployment[role];
    const restart = deployment.restart[role];
    return { role, name: ep.name ?? "", baseUrl: ep.baseUrl, token: ep.token, ...(ep.dataDir ? { dataDir: ep.dataDir } : {}), control: new ControlClient(dispatcher, ep.baseUrl, ep.token, recorder, role), ...(restart ? { restart } : {}) };
  };
  const ctx: CheckContext = { alice: target("alice"), bob: target("bob"), fake, dispatcher, recorder, options: s.options, runId, state: { published: [], adv: {} }, note: () => {} };
  s.write(`SMCP conformance (${deployment.kind}${tls ? ", over HTTPS with the run's own CA" : ""}): alice ${deployment.alice.baseUrl}, bob ${deployment.bob.baseUrl}, fake peer ${fake.name} ${fake.url}\n`);
  try {
    const results = await runChecks(allChecks(), ctx, {
      only: s.only,
      skip: s.skip,
      strict: s.options.strict,
      expectedFailures: s.expected,
      unavailable: (c) => durabilityUnavailable(c, deployment, s.noDurability === true) ?? profileUnavailable(c, s.options.profiles) ?? tlsUnavailable(tls !== undefined).get(c.id),
      onResult: (r) => {
        const line = progressLine(r, s.options.verbose);
        if (line) s.write(line + "\n");
      },
    });
    const meta: RunMeta = {
      deployment: deployment.kind,
      alice: `${ctx.alice.name || "?"} @ ${deployment.alice.baseUrl}`,
      bob: `${ctx.bob.name || "?"} @ ${deployment.bob.baseUrl}`,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      options: { ...s.options, only: s.only, skip: s.skip, expectedFailures: s.expectedFile, tls: tls !== undefined },
      ...(ctx.state.latency ? { latency: ctx.state.latency } : {}),
    };
    s.write(summary(results, meta) + "\n");
    writeReports(results, meta, s.reports);
    return { results, meta, code: exitCodeFor(results) };
  } finally {
    await fake.close();
    await dispatcher.close();
  }
}
