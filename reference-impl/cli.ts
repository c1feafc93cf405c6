// Reference instance command line (all SMCP components): `smcp serve ...` starts one instance and prints one JSON line when ready.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isServerName } from "../protocol/identity.ts";
import type { InstanceConfig } from "./config.ts";
import { startInstance } from "./instance.ts";

const USAGE = `usage: smcp serve --name alice.example --listen 127.0.0.1:0 --data ./data/alice
       [--peer bob.example=http://127.0.0.1:4101]... [--control-token TOKEN]
       [--tls-cert FILE --tls-key FILE] [--ca FILE] [--config file.json]
       [--call-allow server]... [--invite-allow hub]... [--accept-all-invites] [--log-level info] [--log-file FILE]`;

const OPTIONS = {
  name: { type: "string" },
  listen: { type: "string" },
  data: { type: "string" },
  peer: { type: "string", multiple: true },
  "control-token": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  ca: { type: "string" },
  config: { type: "string" },
  "public-url": { type: "string" },
  "call-allow": { type: "string", multiple: true },
  "invite-allow": { type: "string", multiple: true },
  /** The conformance profile's invite policy (spec §16 CONF-10). */
  "accept-all-invites": { type: "boolean" },
  "log-level": { type: "string" },
  "log-file": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function fail(message: string): never {
  process.stderr.write(`smcp: ${message}\n${USAGE}\n`);
  process.exit(2);
}

/** Builds the configuration: the JSON file first, command-line flags over it. */
export function configFromArgs(argv: string[]): InstanceConfig {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
  }
  if (positionals[0] !== "serve" || positionals.length > 1) fail("the only command is `serve`");
  const file: Partial<InstanceConfig> = values.config ? (JSON.parse(readFileSync(values.config, "utf8")) as Partial<InstanceConfig>) : {};
  const config = { ...file } as InstanceConfig;
  if (values.name) config.serverName = values.name;
  if (values.data) config.dataDir = values.data;
  if (values.listen) Object.assign(config, parseListen(values.listen));
  if (values.peer) config.peers = { ...(file.peers ?? {}), ...Object.fromEntries(values.peer.map(parsePeer)) };
  if (values["control-token"]) config.controlToken = values["control-token"];
  if (values["tls-cert"]) config.tlsCertFile = values["tls-cert"];
  if (values["tls-key"]) config.tlsKeyFile = values["tls-key"];
  if (values.ca) config.caFile = values.ca;
  if (values["public-url"]) config.publicUrl = values["public-url"];
  if (values["call-allow"]) config.callAllowList = values["call-allow"];
  if (values["invite-allow"]) config.inviteAllowList = values["invite-allow"];
  if (values["accept-all-invites"]) config.acceptAllInvites = true;
  if (values["log-level"]) config.logLevel = values["log-level"];
  if (values["log-file"]) config.logDestination = values["log-file"];
  if (!config.serverName || !isServerName(config.serverName)) fail("--name must be a server name such as alice.example");
  if (!config.dataDir) fail("--data is required");
  if (Boolean(config.tlsCertFile) !== Boolean(config.tlsKeyFile)) fail("--tls-cert and --tls-key go together");
  return config;
}

function parseListen(text: string): { listenHost: string; listenPort: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) fail(`--listen must be host:port, got ${text}`);
  return { listenHost: m[1]!.replace(/^\[|\]$/g, ""), listenPort: Number(m[2]) };
}

function parsePeer(text: string): [string, string] {
  const eq = text.indexOf("=");
  const name = text.slice(0, eq);
  if (eq < 1 || !isServerName(name)) fail(`--peer must be name=url, got ${text}`);
  return [name, text.slice(eq + 1)];
}

async function main(): Promise<void> {
  const config = configFromArgs(process.argv.slice(2));
  const instance = await startInstance(config);
  process.stdout.write(
    JSON.stringify({ event: "listening", server_name: instance.serverName, url: instance.url, control_token_file: instance.controlTokenFile }) + "\n",
  );
  const stop = (signal: string) => {
    instance.logger.info({ signal }, "shutting down");
    instance.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err: unknown) => {
  process.stderr.write(`smcp: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
