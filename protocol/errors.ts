// Protocol primitive (all components): the error-code table and the one error body every non-2xx answer carries (spec §13).
import type { ErrorCode, Error as ErrorBody, ValidationIssue } from "./types.ts";

export type { ErrorCode, ErrorBody, ValidationIssue };

/** HTTP status for each error code (spec §13, error-code table). */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  SMCP_BAD_JSON: 400,
  SMCP_INVALID: 400,
  SMCP_UNSUPPORTED_MEDIA_TYPE: 415,
  SMCP_TOO_LARGE: 413,
  SMCP_NOT_FOUND: 404,
  SMCP_METHOD_NOT_ALLOWED: 405,
  SMCP_UNAUTHORIZED: 401,
  SMCP_BAD_SIGNATURE: 401,
  SMCP_UNKNOWN_KEY: 401,
  SMCP_WRONG_DESTINATION: 401,
  SMCP_BAD_TIMESTAMP: 401,
  SMCP_REPLAY: 401,
  SMCP_ORIGIN_MISMATCH: 403,
  SMCP_FORBIDDEN: 403,
  SMCP_NOT_MEMBER: 403,
  SMCP_NOT_HUB: 403,
  SMCP_UNKNOWN_CHANNEL: 404,
  SMCP_UNKNOWN_TARGET: 404,
  SMCP_UNKNOWN_TOOL: 404,
  SMCP_CONFLICT: 409,
  SMCP_BAD_EVENT: 400,
  SMCP_EQUIVOCATION: 409,
  SMCP_RATE_LIMITED: 429,
  SMCP_PEER_UNREACHABLE: 502,
  SMCP_COMPONENT_UNAVAILABLE: 502,
  SMCP_CALL_TIMEOUT: 504,
  SMCP_INTERNAL: 500,
  SMCP_FORWARD_REFUSED: 403,
  SMCP_BAD_ENVELOPE: 403,
  SMCP_FORWARD_LOOP: 508,
  SMCP_HOP_LIMIT: 508,
};

/** A protocol failure: carries everything needed to answer with the spec's error body. */
export class SmcpError extends Error {
  constructor(
    readonly errcode: ErrorCode,
    message: string,
    readonly extra: { retryAfterMs?: number; details?: ValidationIssue[]; hop?: string } = {},
  ) {
    super(message);
    this.name = "SmcpError";
  }

  get status(): number {
    return ERROR_STATUS[this.errcode];
  }

  toBody(): ErrorBody {
    // Messages may echo client input (paths, names): clamp to the Error schema's bounds so the body always validates.
    const body: ErrorBody = { errcode: this.errcode, error: clamp(this.message, 4096) };
    if (this.extra.retryAfterMs !== undefined) body.retry_after_ms = this.extra.retryAfterMs;
    if (this.extra.hop !== undefined) body.hop = this.extra.hop; // 1.1 forwarded calls: the failing hop (FWD-30)
    if (this.extra.details !== undefined && this.extra.details.length > 0) {
      body.details = this.extra.details.slice(0, 64).map((d) => ({ ...d, path: clamp(d.path, 1024), message: clamp(d.message, 1024) }));
    } else if (this.errcode === "SMCP_INVALID") {
      // ERR-05: every SMCP_INVALID carries details; a thrower that named no value is about the request as a whole (ERR-10).
      body.details = [{ path: "", message: body.error.slice(0, 1024) }];
    }
    return body;
  }
}

/** At most `max` characters (UTF-16 units, so never more code points), marked with an ellipsis when cut. */
function clamp(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_STATUS, value);
}
