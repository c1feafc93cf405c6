// Vendela (health): answers federation pings with component health and pings known peers to track theirs (spec §6.5).
import type { Logger } from "pino";
import { errorFromAnswer } from "../../protocol/http-client.ts";
import { validate } from "../../protocol/schemas.ts";
import type { ComponentHealth, PeerHealth, Ping } from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";

export interface VendelaOptions {
  self: string;
  sender: FederationSender;
  /** Health of this instance's components. */
  components: () => ComponentHealth[];
  /** Servers to ping: every peer Paulina knows. */
  peers: () => string[];
  /** Told when a peer answered, so other components can stop backing off. */
  onPeerUp?: (server: string) => void;
  logger: Logger;
  intervalMs: number;
  now?: () => number;
}

export class Vendela {
  private readonly health = new Map<string, PeerHealth>();
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly opts: VendelaOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.pingAll(), this.opts.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** `GET /federation/v1/ping`: degraded when any component is down. */
  ping(): Ping {
    const components = this.opts.components();
    return {
      server_name: this.opts.self,
      ts: this.now(),
      status: components.every((c) => c.status === "up") ? "ok" : "degraded",
      components,
    };
  }

  peerHealth(server: string): PeerHealth {
    return this.health.get(server) ?? { status: "unknown" };
  }

  /** Pings every known peer once, in parallel; tests call this instead of waiting for the interval. */
  async pingAll(): Promise<void> {
    await Promise.all(this.opts.peers().map((p) => this.pingPeer(p)));
  }

  async pingPeer(server: string): Promise<PeerHealth> {
    const started = performance.now();
    const previous = this.health.get(server);
    const now = this.now();
    let next: PeerHealth;
    try {
      const answer = await this.opts.sender.request(server, "GET", "/federation/v1/ping", undefined, { timeoutMs: 5_000 });
      if (answer.status !== 200) throw errorFromAnswer(answer, server);
      if (validate("Ping", answer.body).length > 0) throw new Error(`${server} answered an invalid Ping`);
      next = { status: "up", last_check_ts: now, last_ok_ts: now, rtt_ms: Math.round((performance.now() - started) * 1000) / 1000 };
      this.opts.onPeerUp?.(server);
    } catch (err) {
      next = { status: "down", last_check_ts: now, last_error: String((err as Error).message).slice(0, 4096) };
      if (previous?.last_ok_ts !== undefined) next.last_ok_ts = previous.last_ok_ts;
      if (previous?.rtt_ms !== undefined) next.rtt_ms = previous.rtt_ms;
    }
    this.health.set(server, next);
    return next;
  }
}
