// Tests of the reference instance's route table (all endpoints): the exact-path index selects what trying every
// template in declaration order selects — route, raw parameters, 405 with its Allow methods, 404 (spec §13 check 1).
import { describe, expect, it } from "vitest";
import { SmcpError } from "../../protocol/errors.ts";
import { RouteTable, type RouteShape } from "./route-table.ts";
import { buildRoutes, type RouteServices } from "./routes.ts";

/** The reference behaviour: every template tried in order. */
function linear(routes: readonly RouteShape[], method: string, path: string): unknown {
  const compiled = routes.map((r) => {
    const names: string[] = [];
    const source = r.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_m, n: string) => (names.push(n), "([^/]+)"));
    return { r, names, regex: new RegExp(`^${source}$`) };
  });
  const hits = compiled.filter((c) => c.regex.test(path));
  const hit = hits.find((c) => c.r.method === method);
  if (hit) {
    const m = hit.regex.exec(path)!;
    return { route: hit.r, params: Object.fromEntries(hit.names.map((n, i) => [n, m[i + 1]])) };
  }
  return hits.length > 0 ? { status: 405, allow: hits.map((c) => c.r.method) } : { status: 404 };
}

function outcome(table: RouteTable<RouteShape>, method: string, path: string): unknown {
  try {
    return table.match(method, path);
  } catch (err) {
    const e = err as SmcpError & { allow?: string[] };
    return e.allow ? { status: e.status, allow: e.allow } : { status: e.status };
  }
}

describe("RouteTable", () => {
  const routes = buildRoutes({} as RouteServices);
  const table = new RouteTable(routes);
  const paths = [
    ...new Set(routes.map((r) => r.path)),
    ...routes.map((r) => r.path.replace(/\{(\w+)\}/g, "x%21y")),
    "/", "/federation/v1", "/federation/v1/call/", "/federation/v1/callx", "/control/v1/calls/extra", "/control/v1/channels/a/b/c",
    "/control/v1/channels/%ZZ", "/.well-known/smcp/server", "/control/v1/judith/runs/r1/cancel",
  ];

  it("selects the same route, parameters, 405 Allow list or 404 as trying every template in order, for every method", () => {
    for (const path of paths) {
      for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "get"]) {
        expect(outcome(table, method, path), `${method} ${path}`).toEqual(linear(routes, method, path));
      }
    }
  });

  it("a static path that a parameter template also matches keeps declaration order (the earlier template wins)", () => {
    const shadowing = [
      { method: "GET", path: "/a/{x}", id: 1 },
      { method: "GET", path: "/a/b", id: 2 },
      { method: "POST", path: "/a/b", id: 3 },
      { method: "PUT", path: "/c", id: 4 },
    ];
    const t = new RouteTable(shadowing);
    for (const [method, path] of [["GET", "/a/b"], ["POST", "/a/b"], ["DELETE", "/a/b"], ["GET", "/c"], ["PUT", "/c"], ["GET", "/a/z"]] as const) {
      expect(outcome(t, method, path), `${method} ${path}`).toEqual(linear(shadowing, method, path));
    }
    expect(t.match("GET", "/a/b").route.id).toBe(1);
  });
});
