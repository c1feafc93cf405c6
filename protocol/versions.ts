// Shared primitive (spec §14): protocol versions an instance speaks and the minor-version negotiation rule.

/** Every protocol version this code base speaks, oldest first. */
export const SUPPORTED_VERSIONS = ["1.0", "1.1"] as const;
export type ProtocolVersion = (typeof SUPPORTED_VERSIONS)[number];

/** The version this code base prefers (discovery's `version`). */
export const PREFERRED_VERSION: ProtocolVersion = "1.1";

/** Whether a peer whose discovery document lists `versions` speaks `version` (exact `MAJOR.MINOR` match). */
export function speaks(versions: readonly string[] | undefined, version: ProtocolVersion): boolean {
  return versions?.includes(version) ?? false;
}

/** The highest version both sides list, or undefined if they share none (VER-08: then discovery failed). */
export function highestCommon(ours: readonly string[], theirs: readonly string[]): string | undefined {
  const common = ours.filter((v) => theirs.includes(v));
  return common.sort(compareVersions).at(-1);
}

function compareVersions(a: string, b: string): number {
  const [am, an] = a.split(".").map(Number);
  const [bm, bn] = b.split(".").map(Number);
  return am! - bm! || an! - bn!;
}
