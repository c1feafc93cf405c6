// Mutation testing of the conformance harness (`npm run mutants`): plants each catalogued bug in a scratch copy of the
// reference instance, runs the unmutated harness against two instances of it, and reports killed/survived and the
// score (issue 11). Too slow for `npm test`; `--sample N` is the CI-sized run.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { tally, verdict, formatScore } from "./classify.ts";
import { ALL_MUTANTS } from "./catalogue/index.ts";
import { catalogueProblems, type Mutant } from "./mutant.ts";
import { checkKills, progressLine, row, summary, writeJson, type JsonReport, type ReportRow } from "./report.ts";
import { runBaseline, runMutants, stopAllHarnesses, type HarnessCommand } from "./runner.ts";
import { only, partitionStale, sample } from "./selection.ts";
import { ALLOWED_SURVIVORS, SURVIVOR_KIND_TEXT } from "./survivors.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

const USAGE = `usage: npm run mutants -- [options]

  --jobs N            mutants run at once (default: the number of cores, ${availableParallelism()} here)
  --only ID,...       only these mutants (IDs or globs: sign/*)
  --sample N          a deterministic sample of N mutants spread over the spec's sections (CI)
  --seed S            another deterministic sample (default smcp)
  --min-score X       fail below this score (default 0.95)
  --json FILE         JSON report (default reports/mutants.json), rewritten after every mutant
  --timeout-ms MS     per-mutant limit, then the harness and its instances are killed (default 300000)
  --harness-arg ARG   pass ARG to \`conformance/cli.ts run\` (repeatable), e.g. --harness-arg=--verbose
  --no-baseline       skip the run of the unmutated reference (its failing checks never count as kills)
  --keep              keep every scratch copy and the harness's files in it
  --list              print the catalogue (stale entries marked) and exit

exit codes: 0 score at or above --min-score and nothing stale; 1 below it, a stale mutant or a stale allow-list entry;
            2 usage error, a broken catalogue, or a baseline that cannot run`;

const OPTIONS = {
  jobs: { type: "string" },
  only: { type: "string", multiple: true },
  sample: { type: "string" },
  seed: { type: "string" },
  "min-score": { type: "string" },
  json: { type: "string" },
  "timeout-ms": { type: "string" },
  "harness-arg": { type: "string", multiple: true },
  "no-baseline": { type: "boolean" },
  keep: { type: "boolean" },
  list: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

class UsageError extends Error {}

function int(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${v}`);
  return n;
}

/** The level of every requirement: mutants breaking only SHOULD-level ones need the harness's --strict checks. */
function requirementLevels(): Map<string, string> {
  const file = JSON.parse(readFileSync(join(REPO, "spec", "requirements.json"), "utf8")) as { requirements: { id: string; level: string }[] };
  return new Map(file.requirements.map((r) => [r.id, r.level]));
}

function needsStrict(m: Mutant, levels: Map<string, string>): boolean {
  return m.requirements.every((r) => !(levels.get(r) ?? "MUST").startsWith("MUST"));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The unmutated harness of this repository, against two instances started from `sourceDir`; temporary files stay in it. */
function harnessCommand(extra: string[], levels: Map<string, string>, workDir: string): HarnessCommand {
  return (sourceDir, jsonFile, mutant) => {
    const instance = `${shellQuote(process.execPath)} ${shellQuote(join(sourceDir, "bin", "smcp.js"))} serve --name {name} --listen 127.0.0.1:{port} --data {data} --control-token={token} --accept-all-invites '--forward-allow=*>*'`; // the conformance profile (CONF-10, FWD-37), as the harness starts the reference
    const strict = mutant === null || needsStrict(mutant, levels) ? ["--strict"] : [];
    return {
      command: process.execPath,
      args: [join(REPO, "bin", "smcp-conformance.js"), "run", "--alice-cmd", instance, "--bob-cmd", instance, "--json", jsonFile, ...strict, ...extra],
      cwd: REPO,
      // Instance data and kept logs go under the scratch copy (or the work directory), deleted with it.
      env: { ...process.env, TMPDIR: mutant === null ? workDir : sourceDir },
    };
  };
}

function selectMutants(values: ReturnType<typeof parse>): Mutant[] {
  let list: Mutant[] = [...ALL_MUTANTS];
  try {
    list = only(list, (values.only ?? []).flatMap((v) => v.split(",")).map((p) => p.trim()).filter(Boolean));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.sample !== undefined) list = sample(list, int(values.sample, "--sample", 1), values.seed ?? "smcp");
  return list;
}

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: false }).values;
}

async function main(argv: string[]): Promise<number> {
  const values = parse(argv);
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const levels = requirementLevels();
  const problems = catalogueProblems(ALL_MUTANTS, new Set(levels.keys()));
  for (const id of Object.keys(ALLOWED_SURVIVORS)) if (!ALL_MUTANTS.some((m) => m.id === id)) problems.push(`allow-list names unknown mutant ${id}`);
  if (problems.length > 0) {
    process.stderr.write(`the catalogue is broken:\n${problems.map((p) => `  ${p}`).join("\n")}\n`);
    return 2;
  }
  const selected = selectMutants(values);
  const { live, stale: staleRaw } = partitionStale(REPO, selected);
  const stale = staleRaw;
  if (values.list) {
    for (const m of selected) {
      const st = stale.find((s) => s.id === m.id);
      process.stdout.write(`${m.id.padEnd(40)} ${m.section.padEnd(6)} ${m.requirements.join(",")}${st ? `  STALE: ${st.reason}` : ""}\n`);
    }
    process.stdout.write(`${selected.length} mutants, ${stale.length} stale\n`);
    return 0;
  }
  const minScore = values["min-score"] === undefined ? 0.95 : Number(values["min-score"]);
  if (!(minScore >= 0 && minScore <= 1)) throw new UsageError(`--min-score must be between 0 and 1, got ${values["min-score"]}`);
  const jobs = int(values.jobs, "--jobs", availableParallelism());
  const timeoutMs = int(values["timeout-ms"], "--timeout-ms", 300_000);
  const jsonFile = values.json ?? join(REPO, "reports", "mutants.json");
  const workDir = mkdtempSync(join(tmpdir(), "smcp-mutants-"));
  const harness = harnessCommand(values["harness-arg"] ?? [], levels, workDir);
  const started = Date.now();
  const onSignal = (): void => {
    stopAllHarnesses();
    rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const options = { jobs, timeoutMs, minScore, only: values.only ?? [], sample: values.sample ?? null, seed: values.seed ?? "smcp", harnessArgs: values["harness-arg"] ?? [] };
  process.stdout.write(`${selected.length} mutants selected (${live.length} to run, ${stale.length} stale), ${jobs} at a time\n`);
  try {
    let baseline: JsonReport["baseline"] = null;
    let baselineFailing = new Set<string>();
    if (!values["no-baseline"]) {
      process.stdout.write("baseline: the unmutated reference through the same path ...\n");
      const b = await runBaseline({ repo: REPO, harness, timeoutMs, workDir });
      baselineFailing = new Set(b.outcome.killers);
      baseline = { status: b.outcome.status === "killed" ? "checks-failing" : b.outcome.status === "survived" ? "pass" : b.outcome.status, failing: b.outcome.killers, durationMs: Date.now() - started, ...(b.outcome.detail ? { detail: b.outcome.detail } : {}) };
      if (b.outcome.status === "error" || b.outcome.status === "timeout") {
        process.stderr.write(`the baseline could not run (${b.outcome.detail}); nothing was measured\n`);
        return 2;
      }
      process.stdout.write(baselineFailing.size === 0
        ? `baseline: every check passes (${(baseline.durationMs / 1000).toFixed(1)} s)\n`
        : `baseline: ${baselineFailing.size} check(s) fail on the unmutated reference and never count as kills: ${[...baselineFailing].join(", ")}\n`);
    }
    const rows: ReportRow[] = [];
    const build = (complete: boolean): JsonReport => {
      const t = tally(rows.map((r) => ({ status: r.status, allowListed: r.allowListed })), stale.length);
      const staleAllowList = rows.filter((r) => r.status === "killed" && ALLOWED_SURVIVORS[r.id]).map((r) => r.id);
      const v = verdict(t, minScore, staleAllowList.length);
      return {
        tool: "smcp-mutants", startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, complete, options, baseline,
        tally: t, minScore, ok: complete ? v.ok : null, reasons: v.reasons, survivorKinds: SURVIVOR_KIND_TEXT, stale, staleAllowList,
        checkKills: checkKills(rows), mutants: [...rows],
      };
    };
    const byId = new Map(live.map((m) => [m.id, m]));
    await runMutants(live, {
      repo: REPO, harness, jobs, timeoutMs, workDir, keep: values.keep === true, baselineFailing,
      onResult: (r) => {
        const m = byId.get(r.id)!;
        const rr = row(m, r, needsStrict(m, levels), ALLOWED_SURVIVORS[m.id]);
        rows.push(rr);
        process.stdout.write(progressLine(rows.length, live.length, rr) + "\n");
        writeJson(jsonFile, build(false));
      },
    });
    rows.sort((a, b) => live.findIndex((m) => m.id === a.id) - live.findIndex((m) => m.id === b.id));
    const report = build(true);
    writeJson(jsonFile, report);
    process.stdout.write(summary(rows, stale, report.tally, report.staleAllowList, minScore));
    process.stdout.write(`report: ${jsonFile}\n`);
    process.stdout.write(report.ok ? `RESULT: score ${formatScore(report.tally.score)}, nothing stale\n` : `RESULT: FAIL — ${report.reasons.join("; ")}\n`);
    return report.ok ? 0 : 1;
  } finally {
    if (!values.keep) rmSync(workDir, { recursive: true, force: true });
    else process.stdout.write(`scratch copies kept under ${workDir}\n`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
