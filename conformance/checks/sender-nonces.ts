// Conformance harness: the nonces an instance under test signed its requests to the fake peer with — 16 fresh bytes
// from a CSPRNG, never repeated (spec §5.2). Randomness is judged statistically, over every request of the run.
import { decodeBase64Url } from "../../protocol/base64url.ts";
import { ensure, fail } from "../assert.ts";
import { perTarget } from "../context.ts";
import { known } from "./support/state.ts";

/** Enough nonces for the byte-spread test; every run sends far more (transactions, backfills, invites). */
const MIN_NONCES = 8;
/** Nonces looked at for the spread: 64 × 16 bytes. */
const SAMPLE = 64;
/**
 * Distinct byte values the sample must show. Uniform bytes give ≈ 100 distinct values in 8 nonces and ≈ 251 in 64;
 * nonces built from a clock or counter (ASCII digits, a few changing low bytes) show a few dozen at most.
 */
const MIN_DISTINCT_BYTES = 64;

export const senderNonceChecks = perTarget((role) => ({
  id: "adv/final/sender-nonces-random",
  name: "the nonces the instance signed its requests to the fake peer with are distinct and look like 16 random bytes",
  requirements: ["SIGN-09"],
  level: "MUST" as const,
  prerequisites: ["adv/participant/invited@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const nonces = ctx.fake.records.filter((r) => r.origin === t.name && r.nonce !== undefined).map((r) => r.nonce!);
    ensure(nonces.length >= MIN_NONCES, "too few signed requests from the instance to judge its nonces", `≥ ${MIN_NONCES}`, nonces.length);
    const seen = new Map<string, number>();
    for (const n of nonces) seen.set(n, (seen.get(n) ?? 0) + 1);
    const repeated = [...seen].filter(([, c]) => c > 1);
    if (repeated.length > 0) fail(`${repeated.length} nonces were used for more than one request`, "a fresh nonce per request", repeated.slice(0, 5));
    const bytes = new Set<number>();
    for (const n of nonces.slice(0, SAMPLE)) for (const b of decodeBase64Url(n, 16) ?? []) bytes.add(b);
    const sample = Math.min(nonces.length, SAMPLE);
    const want = Math.min(MIN_DISTINCT_BYTES, sample * 6);
    ensure(bytes.size >= want, "the nonces' bytes take few distinct values: not from a CSPRNG (a clock or counter?)", `≥ ${want} distinct byte values over ${sample} nonces`, bytes.size);
    ctx.note(`${nonces.length} nonces, all distinct; ${bytes.size} distinct byte values over ${sample}`);
  },
}));
