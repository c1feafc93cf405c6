// Conformance harness, fake peer: what instances under test sent the fake — recorded requests, their problems (charged to
// the check that caused them, or kept as strays), and waiting on them.
import { EventEmitter } from "node:events";
import type { WireEntry } from "../wire-log.ts";

/** The fake's routes, named for the records (`unexpected` when no route matched). */
export type RouteName = "well-known" | "keys" | "ping" | "registry" | "invite" | "send" | "backfill" | "call" | "forward" | "leave" | "unexpected";

/** One request an instance under test sent to the fake peer, with whatever was wrong with it. */
export interface InboundRecord {
  seq: number;
  at: number;
  method: string;
  path: string;
  route: RouteName;
  origin?: string;
  body?: unknown;
  status: number;
  problems: string[];
  /** For `send`: the transaction ID. */
  txnId?: string;
  /** SHA-256 (base64url) of the body bytes, to recognise a retry that resends identical bytes. */
  sha?: string;
  /** The request signature's nonce: a retry must be freshly signed (SIGN-04). */
  nonce?: string;
  /** The channels the request is about (backfill path, channels named in its body): whose traffic it is. */
  concerns?: string[];
}

/** A request with problems that the check running when it arrived did not cause; reported by the final check. */
export interface StrayRecord {
  record: InboundRecord;
  /** The check running when it arrived (none: it arrived between checks). */
  during?: string;
  /** The last check that acted on a channel the request concerns, if any did. */
  cause?: string;
}

/** Channel IDs (spec §2.2 `!name:server`) named in a text: a path, a body, a wire-log entry. */
const CHANNEL_IN_TEXT = /![a-z0-9][a-z0-9._-]{0,63}:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?/g;

export function channelsIn(text: string | undefined): string[] {
  if (!text) return [];
  let decoded = text;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    // not percent-encoded text: scan it as it is
  }
  return [...new Set([...(text.match(CHANNEL_IN_TEXT) ?? []), ...(decoded.match(CHANNEL_IN_TEXT) ?? [])])];
}

/** The channels the harness acted on in a check: every channel its own requests (Control API, federation) name. */
function actedOn(wire: WireEntry[]): Set<string> {
  return new Set(wire.filter((e) => e.dir === "out").flatMap((e) => [...channelsIn(e.url), ...channelsIn(e.body)]));
}

/**
 * Every inbound request, in arrival order; checks wait on it, and the runner charges its problems to the running check
 * when that check caused it. A request about channels was caused by the running check only if the check acted on one
 * of them; anything else (a late backfill or retry from an earlier check, or a request between checks) is a stray,
 * kept with the check it arrived during and the last check that acted on its channels, for the final check to report.
 * Requests about no channel (ping, discovery, calls) are charged to the running check: nothing tells them apart.
 */
export class Observation {
  readonly records: InboundRecord[] = [];
  readonly strays: StrayRecord[] = [];
  private readonly emitter = new EventEmitter();
  private problemCursor = 0;
  private seq = 0;
  private running: string | undefined;
  /** The last check that acted on each channel. */
  private readonly lastActor = new Map<string, string>();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** A fresh record for a request that just arrived. */
  open(method: string, path: string): InboundRecord {
    return { seq: ++this.seq, at: Date.now(), method, path, route: "unexpected", status: 0, problems: [] };
  }

  /** Files a record once its answer is sent, waking every waiter. */
  close(rec: InboundRecord): void {
    this.records.push(rec);
    this.emitter.emit("record", rec);
  }

  /** Resolves once `cond()` holds, re-evaluated after every inbound request; false after `timeoutMs`. */
  waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onRecord = (): void => {
        if (!cond()) return;
        cleanup();
        resolve(true);
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(cond());
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.emitter.off("record", onRecord);
      };
      this.emitter.on("record", onRecord);
    });
  }

  /** A check starts: requests with problems since the last one ended arrived between checks (strays). */
  begin(checkId: string): void {
    for (const record of this.fresh()) this.strays.push({ record, ...this.causeOf(record) });
    this.running = checkId;
  }

  /**
   * Problems the running check caused, found in inbound requests since it began; `wire` is the check's wire log so far
   * (what the harness sent tells which channels it acted on). Requests it did not cause become strays.
   */
  takeProblems(wire: WireEntry[] = []): InboundRecord[] {
    const acted = actedOn(wire);
    const charged: InboundRecord[] = [];
    for (const record of this.fresh()) {
      const concerns = record.concerns ?? [];
      if (concerns.length === 0 || concerns.some((c) => acted.has(c))) charged.push(record);
      else this.strays.push({ record, ...(this.running ? { during: this.running } : {}), ...this.causeOf(record) });
    }
    if (this.running) for (const c of acted) this.lastActor.set(c, this.running);
    this.running = undefined;
    return charged;
  }

  private fresh(): InboundRecord[] {
    const fresh = this.records.slice(this.problemCursor).filter((r) => r.problems.length > 0);
    this.problemCursor = this.records.length;
    return fresh;
  }

  private causeOf(record: InboundRecord): { cause?: string } {
    const cause = (record.concerns ?? []).map((c) => this.lastActor.get(c)).find((x) => x !== undefined);
    return cause ? { cause } : {};
  }
}
