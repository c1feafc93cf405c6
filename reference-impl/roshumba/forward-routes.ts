// Roshumba / Paulina (1.1 forwarding, spec §11.3 FWD-34, FWD-35): where to send a call for a destination this instance
// does not reach — the operator's configured routes, then intermediates whose signed registry listing says they
// forward to it. A route is a hint where to send, never a source of keys (FWD-03).
import { FORWARD_ROUTE_CACHE_MS, FORWARD_ROUTE_PROBES } from "../../protocol/limits.ts";
import { validate } from "../../protocol/schemas.ts";
import type { RegistryListing } from "../../protocol/types.ts";
import { speaks } from "../../protocol/versions.ts";
import { isServerName } from "../../protocol/identity.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Peer } from "../paulina/discovery.ts";

const REGISTRY_PATH = "/federation/v1/registry";
const LISTING_TIMEOUT_MS = 5_000;
/** Learned listings kept at once; a flood of peers cannot grow it. */
const MAX_LISTINGS = 1024;

export interface ForwardRoutesOptions {
  self: string;
  /** `DESTINATION=VIA` rules (the `--forward-route` flag); DESTINATION may be `*`. Configured routes are always used (FWD-27). */
  configured?: readonly string[];
  federation: FederationSender;
  /** Paulina's recorded peers, most recently verified last (REG-01). */
  peers: () => Peer[];
  now?: () => number;
}

interface Listing {
  forwardsTo: Set<string>;
  until: number;
}

export class ForwardRoutes {
  private readonly configured: Array<{ destination: string; via: string }>;
  private readonly listings = new Map<string, Listing>();
  private readonly now: () => number;
  /** Registry listings fetched to find routes (tests: the bound of FWD-35 holds). */
  probes = 0;

  constructor(private readonly opts: ForwardRoutesOptions) {
    this.now = opts.now ?? Date.now;
    this.configured = (opts.configured ?? []).map(parseRoute);
  }

  /** The configured intermediates for `destination`, in configuration order: the operator routes this call (FWD-27). */
  configuredFor(destination: string): string[] {
    return this.configured.filter((r) => r.destination === destination || r.destination === "*").map((r) => r.via).filter((v) => v !== destination);
  }

  /**
   * Intermediates to try for `destination`, best first, none of them in `exclude`: configured ones, then peers whose
   * listing (fetched by us, signed, cached) names the destination in `forwards_to`. At most FORWARD_ROUTE_PROBES
   * listings are fetched per call, peers speaking 1.1 only, most recently verified first.
   */
  async candidates(destination: string, exclude: ReadonlySet<string>): Promise<string[]> {
    const out = this.configuredFor(destination).filter((v) => !exclude.has(v));
    const peers = this.opts.peers().filter((p) => p.serverName !== destination && !exclude.has(p.serverName) && speaks(p.versions, "1.1")).reverse();
    let fetched = 0;
    for (const peer of peers) {
      if (out.includes(peer.serverName)) continue;
      let listing = this.fresh(peer.serverName);
      if (!listing) {
        if (fetched >= FORWARD_ROUTE_PROBES) continue;
        fetched++;
        listing = await this.fetchListing(peer.serverName);
      }
      if (listing.forwardsTo.has(destination)) out.push(peer.serverName);
    }
    return out;
  }

  private fresh(server: string): Listing | undefined {
    const l = this.listings.get(server);
    return l && l.until > this.now() ? l : undefined;
  }

  private async fetchListing(server: string): Promise<Listing> {
    this.probes++;
    let forwardsTo = new Set<string>();
    try {
      const answer = await this.opts.federation.request(server, "GET", REGISTRY_PATH, undefined, { timeoutMs: LISTING_TIMEOUT_MS });
      if (answer.status === 200 && validate("RegistryListing", answer.body).length === 0) {
        const body = answer.body as RegistryListing;
        if (body.server_name === server) forwardsTo = new Set((body.forwards_to ?? []).filter((n) => n !== this.opts.self));
      }
    } catch {
      // An unreachable peer routes nothing; it is asked again once the cached (empty) listing expires.
    }
    const listing = { forwardsTo, until: this.now() + FORWARD_ROUTE_CACHE_MS };
    this.listings.delete(server);
    this.listings.set(server, listing);
    while (this.listings.size > MAX_LISTINGS) this.listings.delete(this.listings.keys().next().value!);
    return listing;
  }
}

export function parseRoute(text: string): { destination: string; via: string } {
  const parts = text.split("=");
  if (parts.length !== 2 || !(parts[0] === "*" || isServerName(parts[0]!)) || !isServerName(parts[1]!)) {
    throw new Error(`forward route must be DESTINATION=VIA (server names; DESTINATION may be *): ${JSON.stringify(text)}`);
  }
  return { destination: parts[0]!, via: parts[1]! };
}
