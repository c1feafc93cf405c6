// Tests that protocol/limits.ts says what the spec says (spec §6.2 table, DISC-12, DISC-17, TXN-31, DLV-04, DLV-18, CTRL-22, DISC-27) and fits the `Limits` schema.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { validate } from "./schemas.ts";
import {
  DEFAULT_LIMITS, DEFAULT_PING_INTERVAL_MS, DISCOVERY_FAILURE_BACKOFF, DISCOVERY_FETCH_TIMEOUT_MS, DISCOVERY_MAX_DOCUMENT_BYTES,
  LONG_POLL_MAX_WAIT_MS, OUTBOUND_QUEUE_BOUND, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, TXN_RETRY_BACKOFF,
  CALL_ANSWER_MARGIN_MS, CALL_TIMEOUT_MAX_MS, DISCOVERY_CACHE, IDLE_BACKFILL_MS, MIN_RESULT_RETENTION_MS, KEY_REFETCH_INTERVAL_MS,
} from "./limits.ts";

const spec = readFileSync(new URL("../spec/smcp-federation.md", import.meta.url), "utf8");
const openapi = JSON.parse(readFileSync(new URL("../schemas/openapi/openapi.json", import.meta.url), "utf8")) as {
  components: { schemas: { Limits: { required: string[]; properties: Record<string, { minimum?: number; maximum?: number }> } } };
};

/** The text of requirement `id`'s bullet. */
function requirement(id: string): string {
  const line = spec.split("\n").find((l) => l.startsWith(`- **[${id}]`));
  if (!line) throw new Error(`requirement ${id} not found in the spec`);
  return line;
}

/** "1 048 576" and "60 000" as the spec writes them. */
const num = (text: string): number => Number(text.replace(/\s/g, ""));

/** The §6.2 defaults table: member → default values (in the order the row lists them). */
function defaultsTable(): Map<string, number> {
  const start = spec.indexOf("### 6.2 Limits");
  const rows = spec.slice(start, spec.indexOf("\n- **[", start)).split("\n").filter((l) => l.startsWith("| `"));
  const table = new Map<string, number>();
  for (const row of rows) {
    const [members, , defaults] = row.split("|").slice(1, 4).map((c) => c.trim());
    // "1 048 576 (1 MiB)": the parenthesis only restates the value.
    const values = defaults!.replace(/\(.*\)/, "").split(",").map(num);
    [...members!.matchAll(/`([a-z_]+)`/g)].forEach((m, i) => table.set(m[1]!, values[i]!));
  }
  return table;
}

describe("protocol/limits.ts against the spec", () => {
  it("DISC-10: DEFAULT_LIMITS is exactly the §6.2 defaults table, member for member (spec §6.2)", () => {
    const table = defaultsTable();
    expect([...table.keys()].sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
    for (const [member, value] of table) expect(DEFAULT_LIMITS[member as keyof typeof DEFAULT_LIMITS], member).toBe(value);
  });

  it("DISC-10: DEFAULT_LIMITS is the §6.1 example document's limits and a valid Limits (spec §6.1, §6.2)", () => {
    const example = /"limits": (\{[^}]*\})/.exec(spec);
    expect(JSON.parse(example![1]!)).toEqual(DEFAULT_LIMITS);
    expect(validate("Limits", DEFAULT_LIMITS)).toEqual([]);
    const schema = openapi.components.schemas.Limits;
    expect([...schema.required].sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
    for (const [name, p] of Object.entries(schema.properties)) {
      const v = DEFAULT_LIMITS[name as keyof typeof DEFAULT_LIMITS];
      if (p.minimum !== undefined) expect(v, name).toBeGreaterThanOrEqual(p.minimum);
      if (p.maximum !== undefined) expect(v, name).toBeLessThanOrEqual(p.maximum);
    }
  });

  it("SIGN-25, SIGN-26, RATE-02, TXN-05, TXN-06: the prose defaults agree with the table (spec §5.5, §5.7, §8.2)", () => {
    expect(requirement("SIGN-25")).toContain(`default ${fmt(DEFAULT_LIMITS.max_clock_skew_ms)} ms`);
    expect(requirement("SIGN-26")).toContain(`= ${DEFAULT_LIMITS.max_clock_skew_ms}`);
    expect(requirement("RATE-02")).toContain(`\`rate_per_second\` = ${DEFAULT_LIMITS.rate_per_second} and \`rate_burst\` = ${DEFAULT_LIMITS.rate_burst}`);
    expect(requirement("TXN-05")).toContain(`(default ${DEFAULT_LIMITS.max_txn_items})`);
    expect(requirement("TXN-06")).toContain(`(default ${DEFAULT_LIMITS.max_body_bytes / 1_048_576} MiB)`);
  });

  it("KEY-10: unknown key IDs re-fetch at most once per 5 seconds (spec §4.2)", () => {
    expect(requirement("KEY-10")).toContain(`at most once per origin per ${KEY_REFETCH_INTERVAL_MS / 1000} seconds`);
  });

  it("DISC-12: 64 KiB discovery documents, 10 s fetches (spec §6.2)", () => {
    expect(requirement("DISC-12")).toContain(`larger than ${DISCOVERY_MAX_DOCUMENT_BYTES / 1024} KiB`);
    expect(requirement("DISC-12")).toContain(`after ${DISCOVERY_FETCH_TIMEOUT_MS / 1000} seconds`);
  });

  it("DISC-17, TXN-31: the back-off schedules (spec §6.3, §8.6)", () => {
    expect(requirement("DISC-17")).toContain(`${DISCOVERY_FAILURE_BACKOFF.baseMs / 1000} s after the first consecutive failure, doubling, never more than ${DISCOVERY_FAILURE_BACKOFF.maxMs / 3_600_000} hour`);
    expect(requirement("TXN-31")).toContain(`${TXN_RETRY_BACKOFF.baseMs} ms after the first failure, doubling after each further failure, at most ${TXN_RETRY_BACKOFF.maxMs / 1000} s`);
  });

  it("DLV-04, DLV-18, CTRL-22, DISC-27: queue bound, page limits, long-poll wait and ping interval (spec §9.2, §9.4, §12.3, §6.5)", () => {
    expect(requirement("DLV-04")).toContain(`(default ${fmt(OUTBOUND_QUEUE_BOUND)} events)`);
    expect(requirement("DLV-18")).toContain(`\`limit\` defaults to ${PAGE_LIMIT_DEFAULT} and is at most ${PAGE_LIMIT_MAX}`);
    expect(requirement("CTRL-22")).toContain(`\`limit\` to ${PAGE_LIMIT_DEFAULT} (at most ${PAGE_LIMIT_MAX}), \`wait_ms\` to 0 (at most ${fmt(LONG_POLL_MAX_WAIT_MS)})`);
    expect(requirement("DISC-27")).toContain(`every ${DEFAULT_PING_INTERVAL_MS / 1000} s`);
  });
});

describe("protocol/limits.ts against the spec: caching, timeouts, retention", () => {
  it("DISC-16, DLV-14: discovery cache lifetimes and the idle backfill interval (spec §6.3, §9.3)", () => {
    expect(requirement("DISC-16")).toContain(`capped at ${DISCOVERY_CACHE.maxMs / 3_600_000} hours, and for ${DISCOVERY_CACHE.defaultMs / 3_600_000} hours when absent`);
    expect(requirement("DLV-14")).toContain(`for ${IDLE_BACKFILL_MS / 1000} s`);
  });

  it("CALL-16, CALL-19, TXN-18, CALL-14: call timeouts and result retention (spec §10.3, §10.4, §8.4)", () => {
    expect(requirement("CALL-16")).toContain(`or ${fmt(CALL_TIMEOUT_MAX_MS)} ms when absent (\`timeout_ms\` is at most ${fmt(CALL_TIMEOUT_MAX_MS)})`);
    expect(requirement("CALL-19")).toContain(`T + ${fmt(CALL_ANSWER_MARGIN_MS)} ms`);
    for (const id of ["TXN-18", "CALL-14"]) expect(requirement(id)).toContain(`at least ${MIN_RESULT_RETENTION_MS / 3_600_000} hours`);
  });
});

/** 60000 → "60 000", the spec's digit grouping. */
function fmt(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}
