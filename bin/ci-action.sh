#!/usr/bin/env bash
# The steps of action.yml (SMCP conformance in an implementer's CI): install the harness's runtime dependencies
# once, run it in the caller's workspace with the action's inputs (INPUT_* variables), write JSON, JUnit and HTML
# reports into INPUT_REPORTS_DIR, and pass the harness's exit code on (also as the step output `exit-code`).
set -uo pipefail
harness_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reports="${INPUT_REPORTS_DIR:-smcp-conformance-reports}"

if [ ! -d "$harness_root/node_modules" ]; then
  (cd "$harness_root" && npm ci --omit=dev --no-audit --no-fund) || { echo "smcp-conformance action: npm ci failed" >&2; exit 2; }
fi

args=(run --json "$reports/report.json" --junit "$reports/junit.xml" --html "$reports/report.html")
[ -n "${INPUT_ALICE_CMD:-}" ] && args+=(--alice-cmd "$INPUT_ALICE_CMD")
[ -n "${INPUT_BOB_CMD:-}" ] && args+=(--bob-cmd "$INPUT_BOB_CMD")
[ -n "${INPUT_ALICE_URL:-}" ] && args+=(--alice "$INPUT_ALICE_URL" --alice-token "${INPUT_ALICE_TOKEN:-}")
[ -n "${INPUT_BOB_URL:-}" ] && args+=(--bob "$INPUT_BOB_URL" --bob-token "${INPUT_BOB_TOKEN:-}")
[ -n "${INPUT_EXPECTED_FAILURES:-}" ] && args+=(--expected-failures "$INPUT_EXPECTED_FAILURES")
# Extra options are split on whitespace, as documented for the `args` input.
read -r -a extra <<<"${INPUT_ARGS:-}"
args+=("${extra[@]}")

mkdir -p "$reports"
node "$harness_root/bin/smcp-conformance.js" "${args[@]}"
code=$?

[ -n "${GITHUB_OUTPUT:-}" ] && echo "exit-code=$code" >>"$GITHUB_OUTPUT"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "### SMCP conformance: exit $code"
    if [ -f "$reports/report.json" ]; then
      node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const s=r.summary;console.log(`${s.pass} passed, ${s.fail} failed, ${s.notTestable} not testable, ${s.excluded} excluded; reports in the artifact (report.html, junit.xml, report.json)`);for(const c of r.checks.filter(c=>(c.status==="fail"||c.status==="not-testable")&&c.expectation!=="expected-failure"))console.log(`- \`${c.id}\` [${c.requirements.join(", ")}] ${(c.details[0]??"").slice(0,200)}`)' "$reports/report.json"
    else
      echo "no report was written (usage or deployment error: see the step log)"
    fi
  } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$code"
