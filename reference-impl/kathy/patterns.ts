// Kathy (selective config sharing, spec §18.3 KATHY-04): which keys a subscription pattern opts into — segments
// match exactly, `*` matches one segment, a final `**` any number of remaining segments (one at least, or the whole key).

export function matches(pattern: string, key: string): boolean {
  if (pattern === "**") return true;
  const p = pattern.split(".");
  const k = key.split(".");
  const rest = p.at(-1) === "**";
  const fixed = rest ? p.slice(0, -1) : p;
  if (rest ? k.length <= fixed.length : k.length !== fixed.length) return false;
  return fixed.every((seg, i) => seg === "*" || seg === k[i]);
}

export function matchesAny(patterns: readonly string[], key: string): boolean {
  return patterns.some((p) => matches(p, key));
}
