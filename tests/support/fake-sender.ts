// Roshumba test double: a FederationSender that records requests and answers with canned HttpAnswers (spec §10.1).
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { FederationSender } from "../../reference-impl/federation-sender.ts";

export interface SentRequest {
  destination: string;
  method: string;
  path: string;
  body: unknown;
  opts: { timeoutMs?: number } | undefined;
}

type Answer = { status: number; body?: unknown };

export class FakeSender implements FederationSender {
  readonly requests: SentRequest[] = [];

  constructor(private readonly answer: (req: SentRequest) => Answer = () => ({ status: 500 })) {}

  async request(destination: string, method: "GET" | "POST" | "PUT", path: string, body?: unknown, opts?: { timeoutMs?: number }): Promise<HttpAnswer> {
    // A JSON round trip, as the wire would do: the receiver never sees our objects.
    const sent: SentRequest = { destination, method, path, body: body === undefined ? undefined : JSON.parse(JSON.stringify(body)), opts };
    this.requests.push(sent);
    const a = this.answer(sent);
    const raw = Buffer.from(a.body === undefined ? "" : typeof a.body === "string" ? a.body : JSON.stringify(a.body));
    return { status: a.status, headers: {}, body: typeof a.body === "string" ? undefined : a.body, raw };
  }
}
