// Conformance harness CLI (`npm start`, `npx smcp-conformance run|list`): drives two SMCP instances through every check.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { createDispatcher } from "../protocol/http-client.ts";
import { allChecks } from "./checks/index.ts";
import { coverage, KIND_TEXT, type CoverageRow, type ExclusionKind } from "./checks/exclusions.ts";
import { loadRequirements } from "./checks/requirements.ts";
import type { CheckContext, Options, Role, Target } from "./context.ts";
import { ControlClient } from "./control-client.ts";
import { deploy, DeploymentError, type Deployment, type RoleSpec } from "./deployment.ts";
import { FakePeer } from "./fake-peer.ts";
import { progressLine, summary, writeReports, type RunMeta } from "./report.ts";
import { htmlReport, loadRun } from "./report-html.ts";
import { runChecks } from "./runner.ts";
import { exitCodeFor, loadExpectedFailures, splitPatterns, anyMatches, type ExpectedFailures } from "./selection.ts";
import { WireRecorder } from "./wire-log.ts";

const USAGE = `usage: smcp-conformance run [target options] [options]
       smcp-conformance list [--only GLOB,...] [--skip GLOB,...] [--strict] [--coverage]
       smcp-conformance compare --html OUT.html REPORT.json...   (runs side by side)

targets (per role; default: two reference instances started locally):
  --alice URL --alice-token T         an instance that is already running (same for --bob / --bob-token)
  --alice-cmd "CMD"                   start any implementation; {name} {port} {data} {token} are substituted
  --alice-image IMAGE                 start a Docker image via testcontainers (needs a Docker engine)
  --alice-name NAME                   server name for a started instance (default alice.example / bob.example)
  --image-args "TEMPLATE"             container command for --*-image (default: serve --name {name} ...)

options:
  --only GLOB,...                     run only matching checks (and their prerequisites)
  --skip GLOB,...                     do not run matching checks
  --expected-failures FILE            JSON or text list of check IDs expected to fail
  --json FILE                         write one record per check (with wire log)
  --junit FILE                        write JUnit XML
  --html FILE                         write a self-contained HTML report (with compare: several runs side by side)
  --latency-calls N                   direct calls for the latency check (default 200)
  --latency-p99-ms B                  fail the latency check when p99 >= B ms (default 500)
  --strict                            also run SHOULD-level checks
  --verbose                           notes, wire excerpts and instance logs on the console
  --startup-timeout-ms MS             wait for started instances (default 20000)
  --delivery-timeout-ms MS            wait for asynchronous delivery (default 10000)
  --coverage                          (list) also print every requirement as tested, excluded (with why) or untested

exit codes: 0 conformant (or only listed failures), 1 unexpected failure or stale expected-failure entry,
            2 usage or deployment error (nothing was checked)`;

const OPTIONS = {
  alice: { type: "string" },
  bob: { type: "string" },
  "alice-token": { type: "string" },
  "bob-token": { type: "string" },
  "alice-cmd": { type: "string" },
  "bob-cmd": { type: "string" },
  "alice-image": { type: "string" },
  "bob-image": { type: "string" },
  "alice-name": { type: "string" },
  "bob-name": { type: "string" },
  "image-args": { type: "string" },
  only: { type: "string", multiple: true },
  skip: { type: "string", multiple: true },
  "expected-failures": { type: "string" },
  json: { type: "string" },
  junit: { type: "string" },
  html: { type: "string" },
  "latency-calls": { type: "string" },
  "latency-p99-ms": { type: "string" },
  strict: { type: "boolean" },
  verbose: { type: "boolean" },
  "startup-timeout-ms": { type: "string" },
  "delivery-timeout-ms": { type: "string" },
  coverage: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

class UsageError extends Error {}

function positiveInt(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${v}`);
  return n;
}

/** Works out how each role is provided; one kind per role, and URL mode needs its token. */
export function roleSpecs(values: Values): Record<Role, RoleSpec> {
  const spec = (role: Role): RoleSpec => {
    const url = values[role];
    const cmd = values[`${role}-cmd`];
    const image = values[`${role}-image`];
    const name = values[`${role}-name`];
    const given = [url, cmd, image].filter((x) => x !== undefined).length;
    if (given > 1) throw new UsageError(`give at most one of --${role}, --${role}-cmd, --${role}-image`);
    if (url !== undefined) {
      const token = values[`${role}-token`];
      if (!token) throw new UsageError(`--${role} needs --${role}-token`);
      return { kind: "url", url, token };
    }
    if (cmd !== undefined) return { kind: "cmd", command: cmd, ...(name ? { name } : {}) };
    if (image !== undefined) return { kind: "image", image, ...(name ? { name } : {}), ...(values["image-args"] ? { args: values["image-args"] } : {}) };
    return { kind: "reference", ...(name ? { name } : {}) };
  };
  return { alice: spec("alice"), bob: spec("bob") };
}

/** A pattern that selects nothing is almost always a typo: refuse it instead of running nothing. */
function patterns(values: Values, flag: "only" | "skip"): string[] {
  const list = splitPatterns(values[flag]);
  const ids = allChecks().map((c) => c.id);
  for (const p of list) {
    if (!ids.some((id) => anyMatches([p], id))) throw new UsageError(`--${flag} ${p} matches no check (see \`list\`; use * for prefixes, e.g. ${p}/*)`);
  }
  return list;
}

function list(values: Values): number {
  const only = patterns(values, "only");
  const skip = patterns(values, "skip");
  for (const c of allChecks()) {
    if ((only.length > 0 && !anyMatches(only, c.id)) || anyMatches(skip, c.id)) continue;
    const should = c.level === "SHOULD" && !values.strict ? "  (SHOULD: runs with --strict)" : "";
    process.stdout.write(`${c.id}\n    ${c.level}  ${c.requirements.join(", ")}${should}\n    ${c.name}\n`);
  }
  if (values.coverage) printCoverage();
  return 0;
}

/** Every requirement as tested (by which checks), excluded (with the reason, grouped by kind) or untested. */
function printCoverage(): void {
  const cited = new Map<string, string[]>();
  for (const c of allChecks()) for (const r of c.requirements) cited.set(r, [...(cited.get(r) ?? []), c.id]);
  const rows = coverage(loadRequirements(), cited);
  const count = (s: string): number => rows.filter((r) => r.status === s).length;
  const line = (r: CoverageRow["requirement"]): string => `  ${r.id.padEnd(8)} ${r.level.padEnd(10)} §${r.section.padEnd(5)} ${r.summary}`;
  process.stdout.write(`\nrequirements of spec/requirements.json: ${rows.length} — tested ${count("tested")}, excluded with a reason ${count("excluded")}, untested ${count("untested")}\n`);
  const excluded = rows.filter((r) => r.status === "excluded");
  for (const kind of Object.keys(KIND_TEXT) as ExclusionKind[]) {
    const group = excluded.filter((r) => r.exclusion!.kind === kind);
    if (group.length === 0) continue;
    process.stdout.write(`\nexcluded: ${kind} (${group.length}) — ${KIND_TEXT[kind]}\n`);
    for (const r of group) process.stdout.write(`${line(r.requirement)}\n      why: ${r.exclusion!.reason}\n`);
  }
  const untested = rows.filter((r) => r.status === "untested");
  if (untested.length > 0) {
    process.stdout.write(`\nUNTESTED, no check and no exclusion (${untested.length}) — add a check or an entry in conformance/checks/exclusions.ts:\n`);
    for (const r of untested) process.stdout.write(`${line(r.requirement)}\n`);
  }
}

async function run(values: Values): Promise<number> {
  const options: Options = {
    latencyCalls: positiveInt(values["latency-calls"], "--latency-calls", 200),
    latencyP99Ms: positiveInt(values["latency-p99-ms"], "--latency-p99-ms", 500),
    strict: values.strict === true,
    verbose: values.verbose === true,
    deliveryTimeoutMs: positiveInt(values["delivery-timeout-ms"], "--delivery-timeout-ms", 10_000),
  };
  let expected: ExpectedFailures = new Map();
  if (values["expected-failures"]) {
    try {
      expected = loadExpectedFailures(values["expected-failures"]);
    } catch (err) {
      throw new UsageError(`cannot read --expected-failures ${values["expected-failures"]}: ${(err as Error).message}`);
    }
  }
  patterns(values, "only");
  patterns(values, "skip");
  const specs = roleSpecs(values);
  const started = Date.now();
  const deployment = await deploy(specs, { startupTimeoutMs: positiveInt(values["startup-timeout-ms"], "--startup-timeout-ms", 20_000), verbose: options.verbose });
  let keepLogs = false;
  const stopAll = async (): Promise<void> => {
    await deployment.close(keepLogs);
  };
  const onSignal = (): void => void stopAll().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const code = await runAgainst(deployment, options, expected, values, started);
    keepLogs = code !== 0 && deployment.logFiles.length > 0;
    if (keepLogs) process.stdout.write(`instance logs kept: ${deployment.logFiles.join(", ")}\n`);
    return code;
  } finally {
    await stopAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function runAgainst(deployment: Deployment, options: Options, expected: ExpectedFailures, values: Values, started: number): Promise<number> {
  const recorder = new WireRecorder();
  const dispatcher = createDispatcher({ connections: 32 });
  const runId = randomBytes(3).toString("hex");
  const fake = await FakePeer.start(`mallory-${runId}.test`, recorder);
  const target = (role: Role): Target => {
    const ep = deployment[role];
    return { role, name: ep.name ?? "", baseUrl: ep.baseUrl, token: ep.token, control: new ControlClient(dispatcher, ep.baseUrl, ep.token, recorder, role) };
  };
  const ctx: CheckContext = { alice: target("alice"), bob: target("bob"), fake, dispatcher, recorder, options, runId, state: { published: [], adv: {} }, note: () => {} };
  process.stdout.write(`SMCP conformance (${deployment.kind}): alice ${deployment.alice.baseUrl}, bob ${deployment.bob.baseUrl}, fake peer ${fake.name} ${fake.url}\n`);
  try {
    const results = await runChecks(allChecks(), ctx, {
      only: patterns(values, "only"),
      skip: patterns(values, "skip"),
      strict: options.strict,
      expectedFailures: expected,
      onResult: (r) => {
        const line = progressLine(r, options.verbose);
        if (line) process.stdout.write(line + "\n");
      },
    });
    const meta: RunMeta = {
      deployment: deployment.kind,
      alice: `${ctx.alice.name || "?"} @ ${deployment.alice.baseUrl}`,
      bob: `${ctx.bob.name || "?"} @ ${deployment.bob.baseUrl}`,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      options: { ...options, only: values.only ?? [], skip: values.skip ?? [], expectedFailures: values["expected-failures"] ?? null },
      ...(ctx.state.latency ? { latency: ctx.state.latency } : {}),
    };
    process.stdout.write(summary(results, meta) + "\n");
    writeReports(results, meta, { json: values.json, junit: values.junit, html: values.html });
    return exitCodeFor(results);
  } finally {
    await fake.close();
    await dispatcher.close();
  }
}

/** `compare --html OUT a.json b.json ...`: several runs (e.g. implementations) side by side, Autobahn-style. */
function compare(values: Values, files: string[]): number {
  if (!values.html) throw new UsageError("compare needs --html OUT.html");
  let runs;
  try {
    runs = files.map((f) => ({ label: basename(f, ".json"), run: loadRun(f) }));
  } catch (err) {
    throw new UsageError(`cannot read a report: ${(err as Error).message}`);
  }
  writeFileSync(values.html, htmlReport(runs));
  process.stdout.write(`wrote ${values.html} (${runs.length} runs)\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`smcp-conformance: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  try {
    if (positionals[0] === "list" && positionals.length === 1) return list(values);
    if (positionals[0] === "run" && positionals.length === 1) return await run(values);
    if (positionals[0] === "compare" && positionals.length > 1) return compare(values, positionals.slice(1));
    throw new UsageError("the commands are `run`, `list` and `compare`");
  } catch (err) {
    if (err instanceof UsageError || err instanceof DeploymentError) {
      process.stderr.write(`smcp-conformance: ${err.message}\n${err instanceof UsageError ? USAGE + "\n" : ""}`);
      return 2;
    }
    throw err;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /conformance[\\/]cli\.ts$|smcp-conformance(\.js)?$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`smcp-conformance: harness error: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(2);
    },
  );
}
