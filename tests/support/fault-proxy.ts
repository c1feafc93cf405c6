// Test support (Naomi delivery under faults): a TCP proxy on loopback that can partition a link for real.
import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * `pass`: forward both ways. `partition`: refuse new connections and cut open ones (both directions lost).
 * `drop-responses`: requests reach the target, answers never come back (the sender must retry, the
 * receiver must not apply twice). `blackhole`: connections are accepted and requests swallowed, nothing is
 * answered (a hung peer: the sender only learns by its own timeout). `truncate-requests`: only the first half of
 * a request's first bytes reach the target, then both sides are cut (a receiver must never apply half a request).
 */
export type FaultMode = "pass" | "partition" | "drop-responses" | "blackhole" | "truncate-requests";

/** Matches an HTTP/1.1 request line inside the client's byte stream. */
const REQUEST_LINE = /(GET|PUT|POST|DELETE|HEAD|PATCH|OPTIONS) (\S+) HTTP\/1\.[01]\r\n/g;

export class FaultProxy {
  mode: FaultMode = "pass";
  /** Request lines (`METHOD target`) seen from clients, in order, whatever the mode did with them. */
  readonly requests: string[] = [];
  /** Responses (first byte of an answer) withheld from a client by `drop-responses`. */
  droppedResponses = 0;
  /** Connections refused or cut by `partition`. */
  refusedConnections = 0;
  /** Requests cut in the middle by `truncate-requests`. */
  truncatedRequests = 0;
  private readonly sockets = new Set<Socket>();
  private targetHost: string;
  private targetPort: number;
  private constructor(private readonly server: Server, readonly port: number, host: string, targetPort: number) {
    this.targetHost = host;
    this.targetPort = targetPort;
  }

  /** Starts the proxy; `targetPort` may be 0 and set later with retarget() (the target advertises the proxy). */
  static async start(targetHost: string, targetPort: number): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("proxy has no port");
    proxy = new FaultProxy(server, address.port, targetHost, targetPort);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Points the proxy at another target (e.g. the instance that was started to advertise this proxy's URL). */
  retarget(host: string, port: number): void {
    this.targetHost = host;
    this.targetPort = port;
  }

  /** Switches mode; any change cuts every open connection so keep-alive pools cannot bypass it. */
  set(mode: FaultMode): void {
    this.mode = mode;
    for (const s of this.sockets) s.destroy();
  }

  /** Request lines seen that match `pattern`. */
  seen(pattern: RegExp): string[] {
    return this.requests.filter((r) => pattern.test(r));
  }

  private accept(client: Socket): void {
    if (this.mode === "partition" || this.targetPort === 0) {
      this.refusedConnections++;
      client.destroy();
      return;
    }
    this.track(client);
    if (this.mode === "blackhole") {
      client.on("data", (chunk) => this.record(chunk));
      client.on("error", () => client.destroy());
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    this.track(upstream);
    client.on("data", (chunk) => {
      this.record(chunk);
      if (this.mode !== "truncate-requests") {
        upstream.write(chunk);
        return;
      }
      this.truncatedRequests++;
      upstream.end(chunk.subarray(0, Math.floor(chunk.length / 2)), () => upstream.destroy());
      client.destroy();
    });
    upstream.on("data", (chunk) => {
      if (this.mode === "pass") client.write(chunk);
      else if (this.mode === "drop-responses") {
        this.droppedResponses++;
        client.destroy();
      }
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", close).on("error", close);
    upstream.on("close", close).on("error", close);
  }

  private record(chunk: Buffer): void {
    for (const m of chunk.toString("latin1").matchAll(REQUEST_LINE)) this.requests.push(`${m[1]} ${m[2]}`);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
