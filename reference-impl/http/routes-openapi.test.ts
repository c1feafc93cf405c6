// Tests that the reference router's table is the OpenAPI document's (all components; spec §5, §12, schemas/openapi/openapi.json):
// every operation is routed, every route is an operation, with the same authentication, body, parameter and answer schemas.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildRoutes, type RouteServices } from "./routes.ts";
import type { Route } from "./server.ts";

interface Schema { $ref?: string; minimum?: number; maximum?: number; type?: string }
interface Parameter { $ref?: string; in: string; name: string; required?: boolean; schema: Schema }
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
  security?: Array<Record<string, string[]>>;
}
interface OpenApi { paths: Record<string, Record<string, Operation>>; components: { parameters?: Record<string, Parameter> } }

const openapi = JSON.parse(readFileSync(new URL("../../schemas/openapi/openapi.json", import.meta.url), "utf8")) as OpenApi;

/** What a route promises about its wire shape, the same from either side; handlers are not part of it. */
interface Shape {
  kind: Route["kind"];
  body?: string;
  params: Record<string, string>;
  query: Record<string, { min: number; max: number; required: boolean }>;
  response?: string;
}

const refName = (s: Schema | undefined, where: string): string => {
  const name = s?.$ref?.replace("#/components/schemas/", "");
  if (!name || name === s?.$ref) throw new Error(`${where}: expected a $ref to a named schema, got ${JSON.stringify(s)}`);
  return name;
};

/**
 * Authentication as the OpenAPI states it: the required `X-SMCP-Authorization` header (federation, spec §5; declared as a
 * header, never as a security scheme, so that a generated client cannot send the control token to a peer), the bearer
 * token (control), or nothing (public).
 */
function kindOf(op: Operation, params: Parameter[], where: string): Route["kind"] {
  const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
  const signed = params.some((p) => p.in === "header" && p.name.toLowerCase() === "x-smcp-authorization" && p.required === true);
  if (signed && schemes.length === 0) return "federation";
  if (schemes.length === 0) return "public";
  if (schemes.length === 1 && schemes[0] === "BearerAuth" && !signed) return "control";
  throw new Error(`${where}: unexpected security ${JSON.stringify(op.security)} (signature header: ${signed})`);
}

function openapiShape(op: Operation, where: string): Shape {
  const params = (op.parameters ?? []).map((p) => (p.$ref ? openapi.components.parameters![p.$ref.split("/").at(-1)!]! : p));
  const body = op.requestBody?.content["application/json"];
  const ok = Object.entries(op.responses).filter(([code]) => code.startsWith("2"));
  if (ok.length !== 1) throw new Error(`${where}: expected one 2xx answer, got ${ok.map(([c]) => c).join(", ")}`);
  const answer = ok[0]![1].content?.["application/json"];
  return {
    kind: kindOf(op, params, where),
    ...(body ? { body: refName(body.schema, `${where} body`) } : {}),
    params: Object.fromEntries(params.filter((p) => p.in === "path").map((p) => [p.name, refName(p.schema, `${where} {${p.name}}`)])),
    query: Object.fromEntries(params.filter((p) => p.in === "query").map((p) => [p.name, {
      min: p.schema.minimum ?? Number.MIN_SAFE_INTEGER,
      // An unbounded integer is bounded by I-JSON (spec §3.1 JCS-03).
      max: p.schema.maximum ?? Number.MAX_SAFE_INTEGER,
      required: p.required === true,
    }])),
    ...(answer ? { response: refName(answer.schema, `${where} answer`) } : {}),
  };
}

function routeShape(r: Route): Shape {
  return {
    kind: r.kind,
    ...(r.body !== undefined ? { body: r.body } : {}),
    params: { ...r.params },
    query: Object.fromEntries(Object.entries(r.query ?? {}).map(([name, q]) => [name, { min: q.min, max: q.max, required: q.required === true }])),
    ...(r.response !== undefined ? { response: r.response } : {}),
  };
}

const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);
const operations = new Map<string, Shape>();
for (const [path, item] of Object.entries(openapi.paths)) {
  for (const [method, op] of Object.entries(item)) if (METHODS.has(method)) operations.set(`${method.toUpperCase()} ${path}`, openapiShape(op, `${method} ${path}`));
}
// The table is built without services: building it must not touch them (handlers run only per request).
const routes = new Map(buildRoutes({} as RouteServices).map((r) => [`${r.method} ${r.path}`, routeShape(r)]));

describe("the reference router is the OpenAPI document", () => {
  it("every OpenAPI operation has a route (spec §5, §12)", () => {
    expect(operations.size).toBeGreaterThan(10); // the document was read, not an empty table compared with nothing
    expect([...operations.keys()].filter((k) => !routes.has(k))).toEqual([]);
  });

  it("every route is an OpenAPI operation, and no route is listed twice (spec §5, §12)", () => {
    expect(buildRoutes({} as RouteServices).length).toBe(routes.size);
    expect([...routes.keys()].filter((k) => !operations.has(k))).toEqual([]);
  });

  it("each route authenticates, validates its body, path and query parameters and its answer with the OpenAPI's schemas (spec §5.6, §12, §13)", () => {
    for (const [key, shape] of routes) if (operations.has(key)) expect(shape, key).toEqual(operations.get(key));
  });
});
