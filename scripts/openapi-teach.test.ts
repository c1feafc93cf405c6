// Spec tooling tests (spec §5.2, §12.1, §13): the committed OpenAPI teaches — every body has examples that validate,
// every error response names its errcodes, 405 everywhere, no 413/415 without a body, and the signing header is a
// per-request header parameter, never a security scheme that would carry the control token to a peer.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_STATUS, type ErrorCode } from "../protocol/errors.ts";
import { validate } from "../protocol/schemas.ts";

const root = new URL("..", import.meta.url).pathname;
const doc = JSON.parse(readFileSync(`${root}schemas/openapi/openapi.json`, "utf8"));
type Op = Record<string, any>;
const ops: Array<[string, Op]> = Object.entries<Record<string, Op>>(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([m, op]) => [`${m.toUpperCase()} ${path}`, op] as [string, Op]),
);
const ref = (schema: any) => String(schema.$ref).replace(/^.*\//, "");

describe("OpenAPI that teaches", () => {
  it("every request body and success body has examples from the fixtures, valid against its schema", () => {
    let count = 0;
    for (const [key, op] of ops) {
      const bodies = [op.requestBody?.content?.["application/json"], ...Object.entries<any>(op.responses).filter(([s]) => Number(s) < 300).map(([, r]) => r.content?.["application/json"])].filter(Boolean);
      for (const media of bodies) {
        const examples = Object.entries<any>(media.examples ?? {});
        expect(examples.length, `${key} ${ref(media.schema)}`).toBeGreaterThan(0);
        for (const [name, ex] of examples) expect(validate(ref(media.schema), ex.value), `${key} example ${name}`).toEqual([]);
        count += examples.length;
      }
    }
    expect(count).toBeGreaterThan(30);
  });

  it("the publish example shows the chat:message form", () => {
    const media = doc.paths["/control/v1/channels/{channel}/events"].post.requestBody.content["application/json"];
    expect(media.examples["chat-message"].value.type).toBe("chat:message");
  });

  it("every error response names its errcodes, each of that status, with a valid example per errcode", () => {
    for (const [key, op] of ops) {
      for (const [status, resp] of Object.entries<any>(op.responses)) {
        if (Number(status) < 400) continue;
        const codes: ErrorCode[] = resp["x-smcp-errcodes"];
        expect(codes?.length, `${key} ${status}`).toBeGreaterThan(0);
        expect(resp.description, `${key} ${status}`).not.toMatch(/^(Client|Server) error$/);
        for (const code of codes) {
          expect(ERROR_STATUS[code], `${key} ${status} ${code}`).toBe(Number(status));
          expect(resp.description).toContain(code);
          const value = resp.content["application/json"].examples[code].value;
          expect(validate("Error", value), `${key} ${status} ${code}`).toEqual([]);
          expect(value.errcode).toBe(code);
        }
      }
    }
  });

  it("the signed operations list the §5.6 codes; the call and backfill list their own", () => {
    const codes = (path: string, m: string, s: number) => doc.paths[path][m].responses[String(s)]["x-smcp-errcodes"];
    expect(codes("/federation/v1/send/{txn_id}", "put", 401)).toEqual(["SMCP_UNAUTHORIZED", "SMCP_WRONG_DESTINATION", "SMCP_BAD_TIMESTAMP", "SMCP_UNKNOWN_KEY", "SMCP_BAD_SIGNATURE", "SMCP_REPLAY"]);
    expect(codes("/federation/v1/send/{txn_id}", "put", 409)).toEqual(["SMCP_CONFLICT"]);
    expect(codes("/federation/v1/call", "post", 404)).toEqual(expect.arrayContaining(["SMCP_UNKNOWN_TARGET", "SMCP_UNKNOWN_TOOL"]));
    expect(codes("/federation/v1/channels/{channel}/events", "get", 403)).toEqual(expect.arrayContaining(["SMCP_NOT_MEMBER", "SMCP_NOT_HUB"]));
    expect(codes("/control/v1/channels/{channel}/events", "post", 403)).not.toContain("SMCP_ORIGIN_MISMATCH");
  });

  it("405 is declared on every operation; 413 and 415 only on operations that take a body", () => {
    for (const [key, op] of ops) {
      expect(op.responses["405"], key).toBeDefined();
      const hasBody = op.requestBody !== undefined;
      expect(op.responses["413"] !== undefined, `${key} 413`).toBe(hasBody);
      expect(op.responses["415"] !== undefined, `${key} 415`).toBe(hasBody);
    }
  });

  it("X-SMCP-Authorization is declared once, as a required per-request header; federation operations carry no security scheme", () => {
    expect(Object.values<any>(doc.components.securitySchemes ?? {}).filter((s) => s.name?.toLowerCase() === "x-smcp-authorization")).toEqual([]);
    expect(Object.keys(doc.components.securitySchemes)).toEqual(["BearerAuth"]);
    for (const [key, op] of ops) {
      const schemes = (op.security ?? []).flatMap((s: object) => Object.keys(s));
      const params = (op.parameters ?? []).map((p: any) => (p.$ref ? doc.components.parameters[p.$ref.replace(/^.*\//, "")] : p));
      const signing = params.filter((p: any) => p.in === "header" && p.name.toLowerCase() === "x-smcp-authorization");
      if (key.includes(" /control/")) {
        expect(schemes, key).toEqual(["BearerAuth"]);
        expect(signing, key).toEqual([]);
      } else {
        // A generated client attaches no credential to these: the control token can never reach a peer.
        expect(schemes, key).toEqual([]);
        const unsigned = key === "GET /.well-known/smcp/server" || key === "GET /federation/v1/keys";
        expect(signing.length, key).toBe(unsigned ? 0 : 1);
        if (!unsigned) expect(signing[0].required, key).toBe(true);
      }
    }
  });
});
