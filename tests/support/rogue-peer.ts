// Test support (security of the HTTP edge, Naomi and Roshumba): a peer under the test's full control. It serves a
// discovery document for any public key (even one the spec forbids), accepts invites and transactions, and sends
// requests with any signature, timestamp, nonce or header the test asks for.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { sha512 } from "@noble/hashes/sha2.js";
import { canonicalBytes } from "../../protocol/canonical-json.ts";
import { decodeBase64Url, encodeBase64Url } from "../../protocol/base64url.ts";
import { sendRaw, type HttpAnswer } from "../../protocol/http-client.ts";
import { formatPublicKey, generateSeed, keyIdFor, parsePublicKey, signingKeyFromSeed, type SigningKey } from "../../protocol/keys.ts";
import { formatAuthHeader, requestForm, signForm } from "../../protocol/signing.ts";
import type { Invite, ServerDiscovery, Transaction } from "../../protocol/types.ts";
import { dispatcher } from "../../reference-impl/testing.ts";

export interface Target {
  url: string;
  destination: string;
}

export interface RogueSendOptions {
  ts?: number;
  nonce?: string;
  origin?: string;
  destination?: string;
  /** Sign with this key (the header still names the rogue's advertised key_id). */
  signWith?: SigningKey;
  /** Replace the computed signature by this text, verbatim. */
  sig?: string;
  /** Derive the signature from the computed one (malleations of R and S). */
  mutateSig?: (sig: Buffer, ctx: { message: Buffer }) => Buffer;
  /** Send these bytes instead of the signed body (a body changed after signing). */
  sendBody?: Buffer;
  headers?: Record<string, string>;
  unsigned?: boolean;
}

export interface RoguePeer {
  name: string;
  url: string;
  key: SigningKey;
  /** Invites and transactions received (the rogue accepts them all). */
  invites: Invite[];
  txns: Transaction[];
  send(target: Target, method: string, path: string, body?: unknown, opts?: RogueSendOptions): Promise<HttpAnswer>;
  close(): Promise<void>;
}

/** Starts a rogue peer; `publicKey` (wire form) overrides the advertised key, `keyId` defaults to its derived ID. */
export async function startRogue(name: string, advertised: { publicKey?: string } = {}): Promise<RoguePeer> {
  const key = signingKeyFromSeed(generateSeed());
  const publicKey = advertised.publicKey ?? formatPublicKey(key.publicKey);
  const raw = parsePublicKey(publicKey);
  const keyId = raw ? keyIdFor(raw) : key.keyId;
  const invites: Invite[] = [];
  const txns: Transaction[] = [];
  let url = "";
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown) : undefined;
      if (req.url === "/.well-known/smcp/server") {
        const doc: ServerDiscovery = {
          server_name: name, endpoint: url, version: "1.0", versions: ["1.0"], components: [], key_id: keyId, public_key: publicKey,
          limits: { max_body_bytes: 1 << 20, max_txn_items: 100, max_event_data_bytes: 65536, rate_per_second: 200, rate_burst: 400, max_clock_skew_ms: 60000 },
        };
        return json(200, doc);
      }
      if (req.method === "POST" && req.url === "/federation/v1/invite") {
        const invite = body as Invite;
        invites.push(invite);
        return json(200, { channel: invite.channel, accepted: true, events_since: null });
      }
      if (req.method === "PUT" && req.url?.startsWith("/federation/v1/send/")) {
        const txn = body as Transaction;
        txns.push(txn);
        return json(200, { processed: (txn.events ?? []).map((e) => e.event_id), rejected: [], sequenced: [] });
      }
      json(404, { errcode: "SMCP_NOT_FOUND", error: "rogue peer" });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    name, url, key, invites, txns,
    send: (target, method, path, body, opts = {}) => {
      const bytes = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
      if (!opts.unsigned) headers["x-smcp-authorization"] = authHeader(key, keyId, method, path, bytes, name, target.destination, opts);
      const sent = opts.sendBody ?? bytes;
      return sendRaw(dispatcher, target.url + path, { method, headers: { ...headers, ...opts.headers }, body: sent.length > 0 || body !== undefined ? sent : undefined });
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function authHeader(key: SigningKey, keyId: string, method: string, uri: string, body: Buffer, name: string, destination: string, opts: RogueSendOptions): string {
  const fields = {
    origin: opts.origin ?? name, destination: opts.destination ?? destination, keyId, ts: opts.ts ?? Date.now(),
    nonce: opts.nonce ?? encodeBase64Url(createHash("sha256").update(`${Math.random()}${process.hrtime.bigint()}`).digest().subarray(0, 16)),
  };
  const form = requestForm(fields, { method, uri, body });
  let sig = opts.sig ?? signForm(opts.signWith ?? key, form);
  if (opts.mutateSig && opts.sig === undefined) sig = encodeBase64Url(opts.mutateSig(decodeBase64Url(sig, 64)!, { message: canonicalBytes(form) }));
  return formatAuthHeader({ ...fields, sig });
}

// ---------------------------------------------------------------- Ed25519 arithmetic for crafted signatures

export const ORDER_L = 2n ** 252n + 27742317777372353535851937790883648493n;

export function leToBig(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

export function bigToLe(n: bigint, length = 32): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

/** The secret scalar a of an RFC 8032 seed (clamped low half of SHA-512(seed)). */
export function secretScalar(seed: Uint8Array): bigint {
  const h = sha512(seed).slice(0, 32);
  h[0] = h[0]! & 248;
  h[31] = (h[31]! & 127) | 64;
  return leToBig(h);
}

/** k = SHA-512(R ‖ A ‖ M) mod L, for the exact bytes of R given (canonical or not). */
export function challenge(rBytes: Uint8Array, publicKey: Uint8Array, message: Uint8Array): bigint {
  return leToBig(sha512(Buffer.concat([rBytes, publicKey, message]))) % ORDER_L;
}
