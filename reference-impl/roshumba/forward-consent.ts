// Roshumba (1.1 forwarding, spec §10.6 FWD-13, §11.3 FWD-33): the operator's consent to forward — which origin's calls
// this instance carries to which destination. Nothing is forwarded unless a rule says so.
import { isServerName } from "../../protocol/identity.ts";

/** One `ORIGIN>DESTINATION` rule; either side may be `*` (any server). */
interface Rule {
  origin: string;
  destination: string;
}

export class ForwardConsent {
  private readonly rules: Rule[];

  /** `rules` are `ORIGIN>DESTINATION` strings (the `--forward-allow` flag); a malformed one is refused at start. */
  constructor(rules: readonly string[] = []) {
    this.rules = rules.map(parseRule);
  }

  allows(origin: string, destination: string): boolean {
    return this.rules.some((r) => (r.origin === "*" || r.origin === origin) && (r.destination === "*" || r.destination === destination));
  }

  /** The destinations named for `origin`, for its registry listing (FWD-33); `*` destinations are not advertised. */
  destinationsFor(origin: string): string[] {
    const names = this.rules.filter((r) => (r.origin === "*" || r.origin === origin) && r.destination !== "*" && r.destination !== origin);
    return [...new Set(names.map((r) => r.destination))].sort().slice(0, 256);
  }
}

export function parseRule(text: string): Rule {
  const parts = text.split(">");
  const ok = (s: string | undefined): s is string => s !== undefined && (s === "*" || isServerName(s));
  if (parts.length !== 2 || !ok(parts[0]) || !ok(parts[1])) {
    throw new Error(`forward rule must be ORIGIN>DESTINATION (server names or *): ${JSON.stringify(text)}`);
  }
  return { origin: parts[0], destination: parts[1] };
}
