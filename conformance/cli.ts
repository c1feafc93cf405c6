// Conformance harness CLI (`npm start`, `npx smcp-conformance run|list`): drives two SMCP instances through every check.
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { allChecks } from "./checks/index.ts";
import { coverage, KIND_TEXT, type CoverageRow, type ExclusionKind } from "./checks/exclusions.ts";
import { loadRequirements } from "./checks/requirements.ts";
import { tlsUnavailable } from "./checks/tls.ts";
import type { Options, Role } from "./context.ts";
import { DeploymentError, stopEverything, type RoleSpec } from "./deployment.ts";
import { matrixExitCode, parseImplementation, runMatrix } from "./matrix.ts";
import { writeMatrix } from "./matrix-report.ts";
import { runPair, type PairSettings } from "./pair-run.ts";
import { htmlReport, loadRun } from "./report-html.ts";
import { loadExpectedFailures, splitPatterns, anyMatches, type ExpectedFailures } from "./selection.ts";
import { parseProfiles, type Profile } from "./profiles.ts";

const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

const USAGE = `usage: smcp-conformance run [target options] [options]
       smcp-conformance matrix --impl NAME=CMD --impl NAME=CMD... [--out DIR] [options]
       smcp-conformance list [--only GLOB,...] [--skip GLOB,...] [--strict] [--coverage]
       smcp-conformance compare --html OUT.html REPORT.json...   (runs side by side)
       smcp-conformance --version

targets (per role; default: two reference instances started locally):
  --alice URL --alice-token T         an instance that is already running (same for --bob / --bob-token)
  --alice-cmd "CMD"                   start any implementation; {name} {port} {data} {token} are substituted
                                      (with --tls also {ca} {cert} {key}: PEM files to trust and to serve HTTPS with)
  --alice-image IMAGE                 start a Docker image via testcontainers (needs a Docker engine)
  --alice-name NAME                   server name for a started instance (default alice.example / bob.example)
  --alice-restart-cmd "CMD"           with --alice URL: a command that kills and restarts it on its data ({url} {port}
                                      {token} substituted; exit 0 when done), so the durability checks can run
  --image-args "TEMPLATE"             container command for --*-image (default: serve --name {name} ...)

matrix (interop report: every ordered pair alice = A, bob = B, A with A included):
  --impl NAME=CMD                     an implementation; CMD as for --alice-cmd (repeat, at least one)
  --out DIR                           where matrix.json/.md/.html and runs/ go (default ./smcp-matrix)

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
  --no-durability                     do not kill and restart instances (the dur/* checks are reported excluded)
  --profile NAME,...                  also run the checks of optional profiles (spec §18): judith, gail, kathy, all;
                                      unselected profiles are reported excluded
  --tls                               run everything over HTTPS with a CA the harness generates (no network, no
                                      openssl); started instances get {ca} {cert} {key}, the reference instance
                                      --ca --tls-cert --tls-key; the adv/tls certificate checks run only with it
  --verbose                           notes, wire excerpts and instance logs on the console
  --startup-timeout-ms MS             wait for started instances (default 20000)
  --delivery-timeout-ms MS            wait for asynchronous delivery (default 10000)
  --coverage                          (list) also print every requirement as tested, excluded (with why) or untested
  --version                           print the harness version
  -h, --help                          this text

commands run in the caller's folder; each started implementation runs in its own process group and is stopped
(SIGTERM, then SIGKILL after 5 s) with everything it spawned, also on Ctrl-C, SIGTERM or a harness failure.

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
  "alice-restart-cmd": { type: "string" },
  "bob-restart-cmd": { type: "string" },
  "no-durability": { type: "boolean" },
  profile: { type: "string", multiple: true },
  only: { type: "string", multiple: true },
  skip: { type: "string", multiple: true },
  "expected-failures": { type: "string" },
  json: { type: "string" },
  junit: { type: "string" },
  html: { type: "string" },
  "latency-calls": { type: "string" },
  "latency-p99-ms": { type: "string" },
  strict: { type: "boolean" },
  tls: { type: "boolean" },
  verbose: { type: "boolean" },
  "startup-timeout-ms": { type: "string" },
  "delivery-timeout-ms": { type: "string" },
  coverage: { type: "boolean" },
  impl: { type: "string", multiple: true },
  out: { type: "string" },
  version: { type: "boolean" },
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
    const restartCmd = values[`${role}-restart-cmd`];
    if (restartCmd !== undefined && url === undefined) throw new UsageError(`--${role}-restart-cmd applies to --${role} URL only: the harness restarts the instances it starts itself`);
    if (url !== undefined) {
      const token = values[`${role}-token`];
      if (!token) throw new UsageError(`--${role} needs --${role}-token`);
      return { kind: "url", url, token, ...(restartCmd !== undefined ? { restartCmd } : {}) };
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
  const tlsOnly = tlsUnavailable(values.tls === true);
  for (const c of allChecks()) {
    if ((only.length > 0 && !anyMatches(only, c.id)) || anyMatches(skip, c.id)) continue;
    const should = c.level === "SHOULD" && !values.strict ? "  (SHOULD: runs with --strict)" : "";
    const tls = tlsOnly.has(c.id) ? "  (TLS: runs with --tls)" : "";
    process.stdout.write(`${c.id}\n    ${c.level}  ${c.requirements.join(", ")}${should}${tls}\n    ${c.name}\n`);
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
  const tlsOnly = tlsUnavailable(false);
  const onlyUnderTls = rows.filter((r) => r.status === "tested" && r.checks.every((id) => tlsOnly.has(id))).map((r) => r.requirement.id);
  if (onlyUnderTls.length > 0) process.stdout.write(`  of the tested, ${onlyUnderTls.length} only by runs with --tls (adv/tls/*; excluded, never passed, without it): ${onlyUnderTls.join(", ")}\n`);
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

/** The settings every run shares, from the flags; refuses bad values before anything is started. */
function pairSettings(values: Values): Omit<PairSettings, "reports"> {
  let profiles: Profile[];
  try {
    profiles = parseProfiles(values.profile);
  } catch (err) {
    throw new UsageError(`--profile: ${(err as Error).message}`);
  }
  const options: Options = {
    profiles,
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
  return {
    options,
    only: patterns(values, "only"),
    skip: patterns(values, "skip"),
    expected,
    expectedFile: values["expected-failures"] ?? null,
    startupTimeoutMs: positiveInt(values["startup-timeout-ms"], "--startup-timeout-ms", 20_000),
    noDurability: values["no-durability"] === true,
    tls: values.tls === true,
    write: (text) => void process.stdout.write(text),
  };
}

/**
 * Runs `body` with SIGINT/SIGTERM handlers that stop every started instance (and all it spawned) before exiting
 * 130/143 — from the first process started, not only once both are up.
 */
async function interruptible<T>(body: () => Promise<T>): Promise<T> {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`smcp-conformance: ${signal}: stopping the instances it started\n`);
    interrupted = stopEverything().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await body();
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function run(values: Values): Promise<number> {
  const settings = pairSettings(values);
  const specs = roleSpecs(values);
  return interruptible(async () => (await runPair(specs, { ...settings, reports: { json: values.json, junit: values.junit, html: values.html } })).code);
}

/** `matrix --impl A=CMD --impl B=CMD`: every ordered pair, then the requirement × pair report. */
async function matrix(values: Values): Promise<number> {
  const impls = (values.impl ?? []).map((text) => {
    try {
      return parseImplementation(text);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  if (impls.length === 0) throw new UsageError("matrix needs at least one --impl NAME=CMD");
  const names = impls.map((i) => i.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UsageError(`--impl ${dup} is given twice`);
  for (const i of impls) if (!i.command.includes("{port}")) throw new UsageError(`--impl ${i.name}: the command must contain {port}`);
  for (const i of impls) {
    const missing = ["{ca}", "{cert}", "{key}"].filter((p) => !i.command.includes(p));
    if (values.tls && missing.length > 0) throw new UsageError(`--tls: --impl ${i.name} must contain ${missing.join(" ")} (the instance serves HTTPS with {cert} {key} and trusts {ca})`);
  }
  for (const flag of ["alice", "bob", "alice-cmd", "bob-cmd", "alice-image", "bob-image", "alice-restart-cmd", "bob-restart-cmd", "json", "junit", "html"] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to matrix (each pair gets runs/A__B.json and .html under --out)`);
  }
  const settings = pairSettings(values);
  const out = values.out ?? "smcp-matrix";
  return interruptible(async () => {
    const report = await runMatrix(impls, out, settings);
    const files = writeMatrix(report, out);
    process.stdout.write(`\nmatrix: ${report.runs.length} runs; wrote ${files.join(", ")}\n`);
    return matrixExitCode(report);
  });
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
    // Node's text goes on about positionals after '--', which is no help for a mistyped flag.
    return usageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`smcp-conformance ${VERSION}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  try {
    if (positionals[0] === "list" && positionals.length === 1) return list(values);
    if (positionals[0] === "run" && positionals.length === 1) return await run(values);
    if (positionals[0] === "matrix" && positionals.length === 1) return await matrix(values);
    if (positionals[0] === "compare" && positionals.length > 1) return compare(values, positionals.slice(1));
    throw new UsageError("the commands are `run`, `matrix`, `list` and `compare`");
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    if (err instanceof DeploymentError) {
      process.stderr.write(`smcp-conformance: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** One line on stderr and exit code 2; the full usage is one `--help` away. */
function usageError(message: string): number {
  process.stderr.write(`smcp-conformance: ${message.replace(/\s*\n\s*/g, " ")} (see smcp-conformance --help)\n`);
  return 2;
}

/**
 * Set by a SIGINT/SIGTERM handler: the run's own ending (its checks fail fast once the instances are stopped) must not
 * exit before the handler has stopped everything and exits 130/143.
 */
let interrupted: Promise<unknown> | undefined;

const invokedDirectly = process.argv[1] !== undefined && /conformance[\\/]cli\.ts$|smcp-conformance(\.js)?$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => interrupted ?? process.exit(code),
    (err: unknown) => {
      process.stderr.write(`smcp-conformance: harness error: ${(err as Error).stack ?? String(err)}\n`);
      // Whatever is still running was started by this run: stop it in order before leaving.
      if (!interrupted) void stopEverything().finally(() => process.exit(2));
    },
  );
}
