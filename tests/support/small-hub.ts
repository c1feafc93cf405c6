// Conformance harness self-tests: a small hub that publishes through a Control API and delivers to one participant —
// correctly (one transaction in flight, batching, identical-byte retries with back-off, honouring 429) or with faults.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { backoffDelay } from "../../protocol/backoff.ts";
import { finaliseEvent, signHead } from "../../protocol/events.ts";
import { createDispatcher, sendRaw } from "../../protocol/http-client.ts";
import { JSON_TYPE, parseJsonBody, readBody, sendError, sendJson } from "../../protocol/http.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import { DEFAULT_LIMITS, TXN_RETRY_BACKOFF } from "../../protocol/limits.ts";
import { AUTH_HEADER, signRequest } from "../../protocol/signing.ts";
import { SmcpError } from "../../protocol/errors.ts";
import type { Event } from "../../protocol/types.ts";

export interface HubFaults {
  /** Every event goes out at once in its own transaction (several in flight). */
  parallel?: boolean;
  /** A failed transaction is dropped, never retried. */
  noRetry?: boolean;
  /** A failed transaction is retried under a new txn_id (different bytes). */
  retryAsNew?: boolean;
  /** Retries after 250 ms whatever a 429 said. */
  ignoreRetryAfter?: boolean;
  /** Resends a transaction answered with a final 4xx such as 404 (TXN-38 forbids it). */
  resend4xx?: boolean;
  /** Not a fault: after a 5xx, pings the participant and, once it answers 200, retries at once (TXN-39 permits it). */
  pingThenRetryEarly?: boolean;
  /** Sends queued events one per transaction instead of batching them (TXN-33 says SHOULD batch). */
  noBatching?: boolean;
}

/** 4xx answers a sender may retry (TXN-38); every other 4xx abandons the transaction. */
const RETRYABLE_4XX = [401, 408, 429];

export async function smallHub(name: string, key: SigningKey, channel: string, participant: { name: string; url: string }, faults: HubFaults = {}): Promise<{ url: string; close(): Promise<void> }> {
  const dispatcher = createDispatcher();
  const events: Event[] = [];
  const queue: Event[] = [];
  let sending = false;
  let txnCounter = 0;

  const append = (type: string, data: Record<string, unknown>): Event => {
    const now = Date.now();
    const ev = finaliseEvent(key, { channel, seq: events.length + 1, prev_event: events[events.length - 1]?.event_id ?? null, type, sender: name, origin_ts: now, hub_ts: now, data: data as never });
    events.push(ev);
    return ev;
  };
  append("smcp:channel.create", { creator: name });

  const ping = async (): Promise<number> => {
    const auth = signRequest(key, { method: "GET", uri: "/federation/v1/ping", body: Buffer.alloc(0), origin: name, destination: participant.name });
    return (await sendRaw(dispatcher, `${participant.url}/federation/v1/ping`, { method: "GET", headers: { [AUTH_HEADER]: auth } })).status;
  };

  /** Sends one transaction; returns the answer status and any retry_after_ms. */
  const sendTxn = async (txnId: string, batch: Event[]): Promise<{ status: number; retryAfterMs?: number }> => {
    const last = events[events.length - 1]!;
    const head = signHead(key, { channel, seq: last.seq, event_id: last.event_id, hub_ts: Date.now() });
    const body = Buffer.from(JSON.stringify({ origin: name, origin_ts: Date.now(), events: batch, heads: [head] }));
    const path = `/federation/v1/send/${txnId}`;
    const attempt = async (): Promise<{ status: number; retryAfterMs?: number }> => {
      const auth = signRequest(key, { method: "PUT", uri: path, body, origin: name, destination: participant.name });
      const a = await sendRaw(dispatcher, participant.url + path, { method: "PUT", headers: { [AUTH_HEADER]: auth, "content-type": JSON_TYPE }, body });
      return { status: a.status, ...(typeof (a.body as { retry_after_ms?: unknown })?.retry_after_ms === "number" ? { retryAfterMs: (a.body as { retry_after_ms: number }).retry_after_ms } : {}) };
    };
    let failures = 0;
    let result = await attempt();
    const final = (status: number): boolean => status >= 400 && status < 500 && !RETRYABLE_4XX.includes(status) && !faults.resend4xx;
    while (result.status !== 200 && !faults.noRetry && !final(result.status)) {
      const backoff = backoffDelay(++failures, TXN_RETRY_BACKOFF);
      const early = faults.pingThenRetryEarly && result.status >= 500 && (await ping()) === 200;
      const wait = early ? 0 : faults.ignoreRetryAfter ? TXN_RETRY_BACKOFF.baseMs : Math.max(backoff, result.retryAfterMs ?? 0);
      await new Promise((r) => setTimeout(r, wait));
      if (faults.retryAsNew) return sendTxn(`${txnId}-again`, batch);
      result = await attempt();
    }
    return result;
  };

  const pump = async (): Promise<void> => {
    if (faults.parallel) {
      for (const ev of queue.splice(0)) void sendTxn(`t${++txnCounter}`, [ev]);
      return;
    }
    if (sending) return;
    sending = true;
    try {
      while (queue.length > 0) await sendTxn(`t${++txnCounter}`, queue.splice(0, faults.noBatching ? 1 : queue.length));
    } finally {
      sending = false;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://x");
    const bytes = await readBody(req, DEFAULT_LIMITS.max_body_bytes);
    if (req.method === "POST" && url.pathname === `/control/v1/channels/${encodeURIComponent(channel)}/events`) {
      const body = parseJsonBody(req, bytes) as { type: string; data: Record<string, unknown> };
      const ev = append(body.type, body.data);
      queue.push(ev);
      void pump();
      return sendJson(res, 200, { channel, event_id: ev.event_id, seq: ev.seq });
    }
    // Backfill (spec §9.4), enough for the self-tests: abandoned events stay available (TXN-35). The stub trusts the caller.
    const backfill = `/federation/v1/channels/${encodeURIComponent(channel)}/events`;
    if (req.method === "GET" && url.pathname === backfill) {
      const after = Number(url.searchParams.get("after") ?? 0);
      const limit = Number(url.searchParams.get("limit") ?? 100);
      const last = events[events.length - 1]!;
      const head = signHead(key, { channel, seq: last.seq, event_id: last.event_id, hub_ts: Date.now() });
      return sendJson(res, 200, { channel, events: events.slice(after, after + limit), head });
    }
    throw new SmcpError("SMCP_NOT_FOUND", "no such route");
  };
  const server = createServer((req, res) => void handle(req, res).catch((err) => sendError(res, err)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await dispatcher.close();
    },
  };
}
