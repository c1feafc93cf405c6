// Reference instance command line (all SMCP components): `smcp serve ...` starts one instance and prints one JSON line when ready.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isServerName } from "../protocol/identity.ts";
import { SUPPORTED_VERSIONS } from "../protocol/versions.ts";
import type { InstanceConfig } from "./config.ts";
import { startInstance } from "./instance.ts";
import { validate } from "../protocol/schemas.ts";
import type { GailLevel } from "../protocol/types.ts";
import { LEVELS } from "./gail/levels.ts";

const LEVEL_NAMES = Object.keys(LEVELS);

const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

interface Flag {
  /** Placeholder for the value; absent for a boolean flag. */
  arg?: string;
  multiple?: boolean;
  help: string;
  /** Writes the value into the configuration (command-line flags go over the --config file). */
  /** `first` is true for the first of a repeated flag's values: a list given on the command line replaces the file's. */
  apply?: (config: InstanceConfig, value: string, first: boolean) => void;
}

/** Every flag of `smcp serve`, once: the parser, the help text and the configuration mapping come from this table. */
const FLAGS: Record<string, Flag> = {
  name: { arg: "NAME", help: "server name of this instance, e.g. alice.example (spec §2.1); required", apply: (c, v) => void (c.serverName = v) },
  listen: { arg: "HOST:PORT", help: "listen address (default 127.0.0.1:0, port 0 picks a free one)", apply: (c, v) => void Object.assign(c, parseListen(v)) },
  data: { arg: "DIR", help: "data directory (SQLite database, keys, control token); required", apply: (c, v) => void (c.dataDir = v) },
  peer: { arg: "NAME=URL", multiple: true, help: "map a server name to a base URL (test deployments, spec §6.4); repeatable", apply: (c, v) => void (c.peers = { ...c.peers, ...Object.fromEntries([parsePeer(v)]) }) },
  "control-token": { arg: "TOKEN", help: "Control API bearer token (default: generated, stored in DIR/control-token); visible in ps, prefer the next two", apply: (c, v) => void (c.controlToken = v) },
  "control-token-file": { arg: "FILE", help: "read the Control API token from FILE (or set SMCP_CONTROL_TOKEN)" },
  "public-url": { arg: "URL", help: "public base URL peers use (discovery endpoint; default: the listen address)", apply: (c, v) => void (c.publicUrl = v) },
  "tls-cert": { arg: "FILE", help: "PEM certificate: serve HTTPS (with --tls-key)", apply: (c, v) => void (c.tlsCertFile = v) },
  "tls-key": { arg: "FILE", help: "PEM private key for --tls-cert", apply: (c, v) => void (c.tlsKeyFile = v) },
  ca: { arg: "FILE", help: "PEM CA certificate trusted for peers", apply: (c, v) => void (c.caFile = v) },
  config: { arg: "FILE", help: "JSON configuration file (InstanceConfig); flags override it" },
  "call-allow": { arg: "SERVER", multiple: true, help: "server that may call tools here without sharing a channel (spec §10); repeatable", apply: (c, v, first) => void (c.callAllowList = [...(first ? [] : (c.callAllowList ?? [])), v]) },
  "forward-allow": { arg: "ORIGIN>DEST", multiple: true, help: "1.1: forward calls from ORIGIN to DEST through this instance (either may be *; default: none, spec §10.6 FWD-13); repeatable", apply: (c, v, first) => void (c.forwardAllow = [...(first ? [] : (c.forwardAllow ?? [])), v]) },
  "forward-route": { arg: "DEST=VIA", multiple: true, help: "1.1: send calls for DEST (or *) through VIA (spec §10.6 FWD-27); repeatable", apply: (c, v, first) => void (c.forwardRoutes = [...(first ? [] : (c.forwardRoutes ?? [])), v]) },
  "invite-allow": { arg: "SERVER", multiple: true, help: "accept invites from these hubs (default: none unless --accept-all-invites, spec §9.1 CHAN-26); repeatable", apply: (c, v, first) => void (c.inviteAllowList = [...(first ? [] : (c.inviteAllowList ?? [])), v]) },
  "accept-all-invites": { help: "accept every authenticated invite: the conformance profile (spec §16 CONF-10); off by default", apply: (c) => void (c.acceptAllInvites = true) },
  "protocol-versions": { arg: "LIST", help: "comma-separated protocol versions to speak (default 1.0,1.1; 1.0 plays a 1.0-only instance, spec §14)", apply: (c, v) => void (c.protocolVersions = parseVersions(v)) },
  "log-level": { arg: "LEVEL", help: "pino level: trace, debug, info (default), warn, error", apply: (c, v) => void (c.logLevel = v) },
  "log-file": { arg: "FILE", help: "write logs to FILE instead of stderr", apply: (c, v) => void (c.logDestination = v) },
  "no-gail": { help: "turn the Gail log-aggregation profile off (spec §18.2; on by default, inert until forwarding is set)", apply: (c) => void (c.gail = { ...c.gail, enabled: false }) },
  "gail-forward": { arg: "CHANNEL", help: "forward this instance's logs to an aggregator's joined log channel !gail:<aggregator> (spec §18.2)", apply: (c, v) => void (c.gail = { ...c.gail, forward: { ...c.gail?.forward, channel: v } }) },
  "gail-level": { arg: "LEVEL", help: "lowest level forwarded with --gail-forward (default info)", apply: (c, v) => void (c.gail = { ...c.gail, forward: { channel: "", ...c.gail?.forward, min_level: parseLevel(v) } }) },
  "gail-component": { arg: "NAME", multiple: true, help: "forward only this component's records (repeatable; default all)", apply: (c, v, first) => void (c.gail = { ...c.gail, forward: { channel: "", ...c.gail?.forward, components: [...(first ? [] : (c.gail?.forward?.components ?? [])), v] } }) },
  "no-kathy": { help: "turn the Kathy config-sharing profile off (spec §18.3; on by default)", apply: (c) => void (c.kathy = { ...c.kathy, enabled: false }) },
  "kathy-subscribe": { arg: "CHANNEL=PATTERN,...", multiple: true, help: "apply the configuration keys matching PATTERNs from CHANNEL (spec §18.3); repeatable", apply: (c, v) => void (c.kathy = { ...c.kathy, subscriptions: { ...c.kathy?.subscriptions, ...Object.fromEntries([parseSubscription(v)]) } }) },
  version: { help: "print the version and exit" },
  help: { help: "this text" },
};

const USAGE = [
  "usage: smcp serve --name alice.example --listen 127.0.0.1:0 --data ./data/alice [options]",
  "       smcp --version",
  "",
  "Starts one SMCP instance and prints one JSON line when ready:",
  '  {"event":"listening","server_name":...,"url":...,"control_token_file":...}; SIGINT/SIGTERM stop it cleanly.',
  "",
  "options:",
  ...Object.entries(FLAGS).map(([name, f]) => `  ${`--${name}${f.arg ? ` ${f.arg}` : ""}${name === "help" ? ", -h" : ""}`.padEnd(26)} ${f.help}`),
  "",
  "exit codes: 0 stopped cleanly, 1 failed at runtime, 2 usage error",
].join("\n");

const OPTIONS = Object.fromEntries(
  Object.entries(FLAGS).map(([name, f]) => [name, { type: f.arg ? "string" : "boolean", ...(f.multiple ? { multiple: true } : {}), ...(name === "help" ? { short: "h" } : {}) }]),
) as Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

class UsageError extends Error {}

function fail(message: string): never {
  throw new UsageError(message);
}

/** Builds the configuration: the JSON file first, command-line flags over it (in the table's order). */
export function configFromArgs(argv: string[]): InstanceConfig | "version" | "help" {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // Node's text goes on about positionals after '--', which is no help for a mistyped flag.
    fail((err as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
  const { values, positionals } = parsed;
  if (values.version) return "version";
  if (values.help) return "help";
  if (positionals[0] !== "serve" || positionals.length > 1) fail("the only command is `serve`");
  let file: Partial<InstanceConfig> = {};
  if (typeof values.config === "string") {
    try {
      file = JSON.parse(readFileSync(values.config, "utf8")) as Partial<InstanceConfig>;
    } catch (err) {
      fail(`cannot read --config ${values.config}: ${(err as Error).message}`);
    }
  }
  const config = { ...file } as InstanceConfig;
  for (const [name, flag] of Object.entries(FLAGS)) {
    const value = values[name];
    if (value === undefined || value === false || !flag.apply) continue;
    (Array.isArray(value) ? value : [value]).forEach((v, i) => flag.apply!(config, String(v), i === 0));
  }
  // Kept off the command line (visible to every local user in ps): a file, or SMCP_CONTROL_TOKEN.
  if (!config.controlToken && typeof values["control-token-file"] === "string") config.controlToken = readFileSync(values["control-token-file"], "utf8").trim();
  else if (!config.controlToken && process.env.SMCP_CONTROL_TOKEN) config.controlToken = process.env.SMCP_CONTROL_TOKEN;
  if (!config.serverName || !isServerName(config.serverName)) fail("--name must be a server name such as alice.example");
  if (!config.dataDir) fail("--data is required");
  if (Boolean(config.tlsCertFile) !== Boolean(config.tlsKeyFile)) fail("--tls-cert and --tls-key go together");
  if (config.gail?.forward && validate("ChannelId", config.gail.forward.channel).length > 0) fail("--gail-level and --gail-component need --gail-forward CHANNEL");
  return config;
}

function parseListen(text: string): { listenHost: string; listenPort: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) fail(`--listen must be host:port, got ${text}`);
  return { listenHost: m[1]!.replace(/^\[|\]$/g, ""), listenPort: Number(m[2]) };
}

function parseLevel(text: string): GailLevel {
  if (!(LEVEL_NAMES as readonly string[]).includes(text)) fail(`--gail-level must be one of ${LEVEL_NAMES.join(", ")}, got ${text}`);
  return text as GailLevel;
}

function parseSubscription(text: string): [string, string[]] {
  const eq = text.indexOf("=");
  const patterns = text.slice(eq + 1).split(",").filter(Boolean);
  if (eq < 1 || validate("ChannelId", text.slice(0, eq)).length > 0 || patterns.length === 0 || patterns.some((p) => validate("KathyPattern", p).length > 0)) {
    fail(`--kathy-subscribe must be CHANNEL=PATTERN[,PATTERN...], e.g. !kathy:alice.example=ui.*, got ${text}`);
  }
  return [text.slice(0, eq), patterns];
}

function parseVersions(text: string): string[] {
  const list = text.split(",").map((v) => v.trim());
  const known = new Set<string>(SUPPORTED_VERSIONS);
  if (!list.includes("1.0") || list.some((v) => !known.has(v))) fail(`--protocol-versions must list 1.0 and only ${[...known].join(", ")}, got ${text}`);
  return [...new Set(list)];
}

function parsePeer(text: string): [string, string] {
  const eq = text.indexOf("=");
  const name = text.slice(0, eq);
  if (eq < 1 || !isServerName(name)) fail(`--peer must be name=url, got ${text}`);
  return [name, text.slice(eq + 1)];
}

async function main(): Promise<void> {
  process.umask(0o077); // KEY-26: whatever this process or its components create is private by default
  let config: ReturnType<typeof configFromArgs>;
  try {
    config = configFromArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`smcp: ${err.message.replace(/\s*\n\s*/g, " ")} (see smcp serve --help)\n`);
    process.exit(2);
  }
  if (config === "version" || config === "help") {
    process.stdout.write(config === "version" ? `smcp ${VERSION}\n` : USAGE + "\n");
    process.exit(0);
  }
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
