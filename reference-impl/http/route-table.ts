// HTTP edge of the reference instance (all SMCP endpoints): the route table — which route a method and path select,
// or which methods the path allows (check 1 of spec §13's order: 404, then 405 with Allow).
import { SmcpError } from "../../protocol/errors.ts";

/** What the table needs of a route: its method and its path template (`{name}` parameters are single segments). */
export interface RouteShape {
  method: string;
  path: string;
}

interface Compiled<R> {
  route: R;
  regex: RegExp;
  names: string[];
}

export interface RouteMatch<R> {
  route: R;
  /** Raw (still percent-encoded) parameter segments by name. */
  params: Record<string, string>;
}

/**
 * Routes are tried in declaration order. A template without parameters is also indexed by its exact path, built once:
 * a request for such a path that no parameter template matches (true of every static path today, checked when the
 * table is built) finds its routes with one lookup instead of trying every template's regex.
 */
export class RouteTable<R extends RouteShape> {
  private readonly all: Compiled<R>[];
  /** Exact path → its routes, for static paths that no parameter template also matches. */
  private readonly exact = new Map<string, Compiled<R>[]>();

  constructor(routes: readonly R[]) {
    this.all = routes.map(compile);
    const templated = this.all.filter((c) => c.names.length > 0);
    for (const c of this.all) {
      if (c.names.length > 0 || templated.some((t) => t.regex.test(c.route.path))) continue;
      const list = this.exact.get(c.route.path) ?? [];
      list.push(c);
      this.exact.set(c.route.path, list);
    }
  }

  /** The route for `method` on `path`; throws 405 (with `allow`) when only other methods are routed there, else 404. */
  match(method: string, path: string): RouteMatch<R> {
    const candidates = this.exact.get(path) ?? this.all;
    let pathMatched = false;
    for (const c of candidates) {
      const m = c.regex.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (c.route.method !== method) continue;
      const params: Record<string, string> = {};
      // Decoded (NAME-13) but not yet checked: a bad encoding is a path-parameter error of check 12, not of check 1.
      c.names.forEach((name, i) => (params[name] = m[i + 1]!));
      return { route: c.route, params };
    }
    if (pathMatched) {
      const allow = candidates.filter((c) => c.regex.test(path)).map((c) => c.route.method);
      throw Object.assign(new SmcpError("SMCP_METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`), { allow });
    }
    throw new SmcpError("SMCP_NOT_FOUND", `no endpoint at ${path}`);
  }
}

function compile<R extends RouteShape>(route: R): Compiled<R> {
  const names: string[] = [];
  const source = route.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { route, regex: new RegExp(`^${source}$`), names };
}
