// Conformance harness, fake peer: the route table its server dispatches on, keyed by the OpenAPI path templates (spec §2.3, §5.6 check 1).
import type { IncomingMessage } from "node:http";
import type { ApiPath } from "../../protocol/typed-api.ts";
import type { FakeIdentity } from "./identity.ts";
import type { InboundRecord, RouteName } from "./observation.ts";

/** What a route answers; headers only for the well-known redirects. */
export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** One inbound request as a route handler sees it. */
export interface RouteRequest {
  req: IncomingMessage;
  url: URL;
  /** The path template's `{name}` segments, percent-decoded. */
  params: Record<string, string>;
  bytes: Buffer;
  rec: InboundRecord;
  /** The authenticated origin (empty for public routes). */
  origin: string;
  /** The fake identity this server answers as. */
  self: FakeIdentity;
  /** The body parsed strictly, validated against `schema`, and its origin matched to the signer. */
  parse<T>(schema: string): T;
  /** Work to run once the answer is sent (a hub's fan-out must follow the sender's acknowledgement). */
  afterAnswer(fn: () => Promise<void>): void;
}

export interface Route {
  name: Exclude<RouteName, "unexpected">;
  /** `*` answers every method (a route whose every use is unexpected). */
  method: "GET" | "POST" | "PUT" | "DELETE" | "*";
  /** The OpenAPI path template, so that a route renamed in the spec breaks the fake's type check. */
  path: ApiPath;
  /** Signed routes authenticate the request before the handler runs (spec §5.6). */
  signed: boolean;
  handle(r: RouteRequest): Answer | Promise<Answer>;
}

/** What a path and method resolve to: a route, a known path with the wrong method, or nothing. */
export type Match =
  | { kind: "route"; route: Route; params: Record<string, string> }
  | { kind: "wrong-method"; signed: boolean }
  | { kind: "none" };

interface Compiled {
  route: Route;
  pattern: RegExp;
  names: string[];
}

/** Routes matched by method and path template; built once per server. */
export class RouteTable {
  private readonly compiled: Compiled[];

  constructor(routes: Route[]) {
    this.compiled = routes.map((route) => compile(route));
  }

  match(method: string, pathname: string): Match {
    let pathKnown: Compiled | undefined;
    for (const c of this.compiled) {
      const m = c.pattern.exec(pathname);
      if (!m) continue;
      if (c.route.method === "*" || c.route.method === method) {
        const params = Object.fromEntries(c.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
        return { kind: "route", route: c.route, params };
      }
      pathKnown ??= c;
    }
    return pathKnown ? { kind: "wrong-method", signed: pathKnown.route.signed } : { kind: "none" };
  }
}

function compile(route: Route): Compiled {
  const names: string[] = [];
  // Escape regex metacharacters (braces excluded: they mark the template's parameters), then open the parameters.
  const source = (route.path as string).replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}
