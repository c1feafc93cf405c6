// Conformance harness, fake peer: what instances under test sent the fake — recorded requests, their problems, and waiting on them.
import { EventEmitter } from "node:events";

/** The fake's routes, named for the records (`unexpected` when no route matched). */
export type RouteName = "well-known" | "keys" | "ping" | "registry" | "invite" | "send" | "backfill" | "call" | "unexpected";

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
}

/** Every inbound request, in arrival order; checks wait on it and the runner charges its problems to the running check. */
export class Observation {
  readonly records: InboundRecord[] = [];
  private readonly emitter = new EventEmitter();
  private problemCursor = 0;
  private seq = 0;

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

  /** Problems found in inbound requests since the last call (the runner charges them to the running check). */
  takeProblems(): InboundRecord[] {
    const fresh = this.records.slice(this.problemCursor).filter((r) => r.problems.length > 0);
    this.problemCursor = this.records.length;
    return fresh;
  }
}
