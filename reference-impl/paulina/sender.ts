// Paulina (registry) for every component that talks to peers: resolve by server name, sign, send (spec §5, §6).
import type { Dispatcher } from "undici";
import { sendSigned, type HttpAnswer } from "../../protocol/http-client.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Discovery } from "./discovery.ts";

export class PaulinaSender implements FederationSender {
  constructor(
    private readonly self: string,
    private readonly key: SigningKey,
    private readonly discovery: Discovery,
    private readonly dispatcher: Dispatcher,
  ) {}

  async request(
    destination: string,
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown,
    opts: { timeoutMs?: number } = {},
  ): Promise<HttpAnswer> {
    const peer = await this.discovery.discover(destination);
    return sendSigned(this.dispatcher, this.key, {
      baseUrl: peer.endpoint,
      origin: this.self,
      destination,
      method,
      path,
      body,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }
}
