// Conformance harness: how a check states a failure, and the schema/error-body assertions every check uses.
import { ERROR_STATUS, isErrorCode, type ErrorCode } from "../protocol/errors.ts";
import type { HttpAnswer } from "../protocol/http-client.ts";
import { validate } from "../protocol/schemas.ts";
import type { Error as ErrorBody } from "../protocol/types.ts";

/** Why a check failed: the instance broke a requirement, sent schema-invalid data, or the harness itself broke. */
export type FailureCategory = "requirement" | "instance-invalid" | "prerequisite" | "harness-error";

/** The instance did not do what the requirement says. */
export class CheckFailure extends Error {
  constructor(
    message: string,
    readonly expected?: string,
    readonly actual?: string,
    readonly category: FailureCategory = "requirement",
  ) {
    super(message);
    this.name = "CheckFailure";
  }
}

/** The instance sent a message that violates the wire schemas (reported apart from harness errors). */
export class InstanceInvalid extends CheckFailure {
  constructor(message: string, actual?: string) {
    super(message, "a message valid against the SMCP JSON Schemas", actual, "instance-invalid");
    this.name = "InstanceInvalid";
  }
}

/** A check that does not apply to this target (e.g. it needs protocol 1.1 and the target lists only 1.0): reported excluded with the reason, never passed. */
export class NotApplicable extends Error {}

export function fail(message: string, expected?: unknown, actual?: unknown): never {
  throw new CheckFailure(message, show(expected), show(actual));
}

export function ensure(condition: unknown, message: string, expected?: unknown, actual?: unknown): asserts condition {
  if (!condition) fail(message, expected, actual);
}

export function show(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  const text = JSON.stringify(value);
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/** Validates a message the instance produced; a violation fails the check as "instance-invalid". */
export function valid<T>(schema: string, value: unknown, where: string): T {
  const issues = validate(schema, value);
  if (issues.length > 0) {
    const list = issues.map((i) => `${i.path || "/"} ${i.message}`).join("; ");
    throw new InstanceInvalid(`${where}: not a valid ${schema}: ${list}`, show(value));
  }
  return value as T;
}

export function answerSummary(a: HttpAnswer): string {
  const text = a.raw.toString("utf8");
  return `${a.status} ${text.length > 300 ? text.slice(0, 300) + "…" : text}`;
}

/** Expects a 2xx answer whose body is a valid `schema`; returns it typed. */
export function expectOk<T>(a: HttpAnswer, schema: string | null, where: string, status?: number): T {
  const okStatus = status === undefined ? a.status >= 200 && a.status < 300 : a.status === status;
  if (!okStatus) {
    if (a.status >= 400) expectErrorBody(a, where);
    throw new CheckFailure(`${where}: unexpected status`, status === undefined ? "2xx" : String(status), answerSummary(a));
  }
  if (schema === null) return undefined as T;
  return valid<T>(schema, a.body, where);
}

/** Every non-2xx answer must carry the spec's error body (spec §13). */
export function expectErrorBody(a: HttpAnswer, where: string): ErrorBody {
  if (a.body === undefined) {
    throw new InstanceInvalid(`${where}: ${a.status} answer without a JSON error body`, answerSummary(a));
  }
  const body = valid<ErrorBody>("Error", a.body, `${where} (error body)`);
  // ERR-05, enforced here for every error answer any check sees rather than per check.
  if (body.errcode === "SMCP_INVALID" && !(body.details && body.details.length > 0)) {
    throw new CheckFailure(`${where}: SMCP_INVALID answer without details (ERR-05)`, "details with at least one ValidationIssue", answerSummary(a));
  }
  return body;
}

/**
 * Expects the error `errcode` (or one of several), e.g. `"SMCP_REPLAY"`. The error body must be schema-valid and the
 * status the one the spec's error-code table (protocol/errors.ts ERROR_STATUS, spec §13) gives for that code.
 */
export function expectError(a: HttpAnswer, errcode: ErrorCode | readonly ErrorCode[], where: string): ErrorBody {
  const allowed = typeof errcode === "string" ? [errcode] : errcode;
  const want = allowed.map((c) => `${ERROR_STATUS[c]} ${c}`).join(" or ");
  if (a.status < 400) throw new CheckFailure(`${where}: request was accepted`, want, answerSummary(a));
  const body = expectErrorBody(a, where);
  const match = allowed.some((c) => ERROR_STATUS[c] === a.status && c === body.errcode);
  if (!match) throw new CheckFailure(`${where}: wrong error`, want, `${a.status} ${body.errcode}: ${body.error}`);
  return body;
}

export function isErrcode(value: unknown): value is ErrorCode {
  return isErrorCode(value);
}
