// Paulina / Roshumba boundary: how any module sends a signed request to a peer by server name (spec §5, §6).
import type { HttpAnswer } from "../protocol/http-client.ts";

export interface FederationSender {
  /**
   * Resolves `destination` through discovery (cached), signs with this instance's key and sends.
   * Returns the peer's answer whatever its status; throws SmcpError SMCP_PEER_UNREACHABLE when the
   * peer cannot be discovered or reached.
   */
  request(
    destination: string,
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown,
    opts?: { timeoutMs?: number },
  ): Promise<HttpAnswer>;

  /** How long no request may be sent to `destination` yet (its last 429's retry_after_ms, spec §5.7 RATE-07); 0 when free. */
  heldFor?(destination: string): number;
}
