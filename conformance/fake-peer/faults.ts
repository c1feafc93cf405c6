// Conformance harness, fake peer: deliberate receiver bugs, so the fake can play a broken instance under test (harness self-tests). A new fault is one entry here.
import { ERROR_STATUS, SmcpError, type ErrorCode } from "../../protocol/errors.ts";
import type { Answer, RouteRequest } from "./routes.ts";

/** Receiver bugs the fake can plant; the self-tests prove each check fails against the matching fault. */
export interface ReceiverFaults {
  /** Authentication failures the receiver ignores (e.g. SMCP_BAD_SIGNATURE: it skips signature checks). */
  ignoreAuth?: ErrorCode[];
  /** Errors answered with the wrong code. */
  rewriteErrcode?: Partial<Record<ErrorCode, ErrorCode>>;
  /** Delay before every successful answer. */
  delayMs?: number;
  /** Ping answered with a body that violates the Ping schema. */
  invalidPing?: boolean;
  /** Invites answered 200 with a body that is not a valid InviteAnswer (CTRL-33). */
  invalidInviteAnswer?: boolean;
  /** The well-known document is served with this status instead of 200 (DISC-18). */
  wellKnownStatus?: number;
  /** The well-known request is redirected (302) this many times before the document is served (DISC-15). */
  wellKnownRedirects?: number;
  /**
   * Calls are expected (a check directs them here) and answered with this error: a remote whose refusal the instance
   * must relay or map (CTRL-28, CTRL-29). Without it a call to the fake is an unexpected request.
   */
  refuseCalls?: ErrorCode;
}

/** Where a fault hooks into the fake's request handling; every hook is optional. */
export interface FaultHooks {
  /** Answers instead of the route (nothing: the route answers). */
  before?(r: RouteRequest): Answer | undefined;
  /** Rewrites a successful answer. */
  after?(r: RouteRequest, answer: Answer): Answer | Promise<Answer>;
  /** Rewrites an error before it is answered. */
  onError?(err: unknown): unknown;
  /** Whether an authentication failure with this code is let through. */
  acceptsAuthFailure?(errcode: ErrorCode): boolean;
}

type FaultMakers = { [K in keyof ReceiverFaults]-?: (value: NonNullable<ReceiverFaults[K]>) => FaultHooks };

const MAKERS: FaultMakers = {
  ignoreAuth: (codes) => ({ acceptsAuthFailure: (errcode) => codes.includes(errcode) }),
  rewriteErrcode: (map) => ({
    onError: (err) => {
      const wrong = err instanceof SmcpError ? map[err.errcode] : undefined;
      return wrong ? new SmcpError(wrong, (err as SmcpError).message, (err as SmcpError).extra) : err;
    },
  }),
  delayMs: (ms) => ({
    after: async (_, answer) => {
      await new Promise((r) => setTimeout(r, ms));
      return answer;
    },
  }),
  invalidPing: (on) => (on ? { after: (r, answer) => (r.rec.route === "ping" ? { status: 200, body: { server_name: r.self.name, ts: "now" } } : answer) } : {}),
  invalidInviteAnswer: (on) =>
    on ? { after: (r, answer) => (r.rec.route === "invite" ? { status: 200, body: { channel: (answer.body as { channel: string }).channel, accepted: "yes" } } : answer) } : {},
  wellKnownStatus: (status) => ({ after: (r, answer) => (r.rec.route === "well-known" && answer.status === 200 ? { ...answer, status } : answer) }),
  refuseCalls: (errcode) => ({
    before: (r) => (r.rec.route === "call" ? { status: ERROR_STATUS[errcode], body: { errcode, error: `${r.self.name} refuses this call (planted by the check)` } } : undefined),
  }),
  wellKnownRedirects: (hops) => ({
    before: (r) => {
      if (r.rec.route !== "well-known") return undefined;
      const hop = Number(r.url.searchParams.get("hop") ?? "0");
      return hop < hops ? { status: 302, body: {}, headers: { location: `${r.self.url}/.well-known/smcp/server?hop=${hop + 1}` } } : undefined;
    },
  }),
};

/** The hooks of every fault that is set, in a stable order. */
export function faultHooks(faults: ReceiverFaults): FaultHooks[] {
  const hooks: FaultHooks[] = [];
  for (const [name, make] of Object.entries(MAKERS) as Array<[keyof ReceiverFaults, (v: unknown) => FaultHooks]>) {
    const value = faults[name];
    if (value !== undefined) hooks.push(make(value));
  }
  return hooks;
}
