// Conformance harness: optional profiles (spec §18) — check groups an implementer opts into with --profile.
import type { Check } from "./context.ts";

/** The profiles of spec §18, each built on channels and calls, each checked only when selected. */
export const PROFILES = ["judith", "gail", "kathy"] as const;
export type Profile = (typeof PROFILES)[number];

/** Parses `--profile judith,gail` (repeatable; `all` selects every profile, `none` none). */
export function parseProfiles(values: string[] | undefined): Profile[] {
  const names = (values ?? []).flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean);
  if (names.includes("all")) return [...PROFILES];
  const out = new Set<Profile>();
  for (const n of names) {
    if (n === "none") continue;
    if (!(PROFILES as readonly string[]).includes(n)) throw new Error(`unknown profile ${JSON.stringify(n)} (known: ${PROFILES.join(", ")}, all, none)`);
    out.add(n as Profile);
  }
  return [...out];
}

/** Why a profile check does not run here: its profile was not selected. Excluded with that reason, never passed. */
export function profileUnavailable(c: Check, selected: readonly Profile[]): string | undefined {
  if (c.profile === undefined || selected.includes(c.profile)) return undefined;
  return `profile ${c.profile} not selected (run with --profile ${c.profile} to check it)`;
}
