// Conformance harness, TLS runs (`--tls`, spec §6.3 DISC-13): the run's throw-away certificate authority and every
// certificate the run needs — one per started instance, the fake peers', and the deliberately bad ones of adv/tls.
// Keys come from node:crypto, certificates from node-forge (Node cannot issue X.509 certificates); no network, no openssl.
import { constants, generateKeyPair, privateEncrypt, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import forge from "node-forge";
import type { Role } from "./context.ts";

/** A certificate and its private key, PEM text (what an HTTPS server is started with). */
export interface ServingCert {
  cert: string;
  key: string;
}

/** Files handed to a started instance: `{ca}` `{cert}` `{key}` of its command line (the reference: --ca --tls-cert --tls-key). */
export interface InstanceTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Everything a TLS run uses. Every certificate is for the host connected to, 127.0.0.1, unless it is meant to be wrong. */
export interface RunTls {
  /** PEM of the run's CA: the only root the harness's clients and the started instances trust. */
  caPem: string;
  /** Per role, the files of a started instance (its own certificate from the run's CA). */
  instanceFiles: Record<Role, InstanceTlsFiles>;
  /** The fake peers' certificate, from the same CA. */
  fakePeer: ServingCert;
  /** Certificates a TLS peer must refuse (adv/tls): each is wrong in exactly one way. */
  bad: {
    /** From the run's CA, valid now, but for another name (no 127.0.0.1 in subjectAltName). */
    wrongName: ServingCert;
    /** For 127.0.0.1 and valid now, but from a CA nobody was given. */
    untrustedCa: ServingCert;
    /** From the run's CA and for 127.0.0.1, but expired yesterday. */
    expired: ServingCert;
  };
  /** The folder holding the files (deleted by `remove`). */
  dir: string;
  remove(): void;
}

const DAY = 24 * 3600 * 1000;
const generate = promisify(generateKeyPair);

interface KeyPair {
  pem: string;
  forgePublic: forge.pki.rsa.PublicKey;
}

/** RSA-2048: accepted by every TLS stack an implementation may use (rustls refuses shorter keys; forge signs only RSA). */
async function rsaKey(): Promise<KeyPair> {
  const { publicKey, privateKey } = await generate("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { pem: privateKey, forgePublic: forge.pki.publicKeyFromPem(publicKey) };
}

/** DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-256 (RFC 8017 §9.2), before the 32 digest bytes. */
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

/**
 * forge assembles the certificate and hashes its TBS part; the RSA signature itself is made by node:crypto
 * (sha256WithRSAEncryption = PKCS#1 v1.5 over the DigestInfo): milliseconds, where forge's JavaScript RSA took
 * ~100 ms a certificate on a loaded machine.
 */
function signWith(cert: forge.pki.Certificate, key: KeyPair): void {
  const signer = {
    sign: (md: forge.md.MessageDigest): string =>
      privateEncrypt({ key: key.pem, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, Buffer.from(md.digest().getBytes(), "binary")])).toString("binary"),
  };
  cert.sign(signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
}

interface Issuer {
  cert: forge.pki.Certificate;
  key: KeyPair;
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f; // a positive INTEGER (RFC 5280 §4.1.2.2)
  return bytes.toString("hex");
}

function newCert(subjectCn: string, key: KeyPair, validity: { from: number; to: number }): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.forgePublic;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(validity.from);
  cert.validity.notAfter = new Date(validity.to);
  cert.setSubject([{ name: "commonName", value: subjectCn }, { name: "organizationName", value: "smcp-conformance" }]);
  return cert;
}

/** A self-signed CA certificate (basicConstraints cA, keyCertSign), valid for two days around now. */
function makeCa(cn: string, key: KeyPair, now: number): Issuer {
  const cert = newCert(cn, key, { from: now - 3600_000, to: now + 2 * DAY });
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  signWith(cert, key);
  return { cert, key };
}

/** A server certificate from `issuer` for the given IP addresses and DNS names. */
function makeLeaf(issuer: Issuer, key: KeyPair, cn: string, names: { ips: string[]; dns: string[] }, validity: { from: number; to: number }): ServingCert {
  const cert = newCert(cn, key, validity);
  cert.setIssuer(issuer.cert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    { name: "subjectAltName", altNames: [...names.ips.map((ip) => ({ type: 7, ip })), ...names.dns.map((value) => ({ type: 2, value }))] },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: issuer.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  signWith(cert, issuer.key);
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

function writePrivate(file: string, text: string): string {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/**
 * Three RSA keys — the CA's, a second CA's that nobody trusts, one for every server certificate — made once per
 * process: RSA key generation is the slow part (seconds on a loaded machine), and a matrix makes a CA per pair.
 * Certificates that share a key still differ in everything a TLS client checks (issuer, names, validity).
 */
let keys: Promise<[KeyPair, KeyPair, KeyPair]> | undefined;

/** Generates the run's CA (a new one each run) and certificates into a fresh private folder. */
export async function makeRunTls(now = Date.now()): Promise<RunTls> {
  keys ??= Promise.all([rsaKey(), rsaKey(), rsaKey()]).catch((err: unknown) => {
    keys = undefined; // a failure is not remembered: the next run tries again
    throw err;
  });
  const [caKey, strangerKey, serverKey] = await keys;
  const ca = makeCa(`smcp-conformance run CA ${serial().slice(0, 8)}`, caKey, now);
  const stranger = makeCa("smcp-conformance untrusted CA", strangerKey, now);
  const valid = { from: now - 3600_000, to: now + 2 * DAY };
  const loopback = { ips: ["127.0.0.1"], dns: ["localhost"] };
  const instance = (role: Role): ServingCert => makeLeaf(ca, serverKey, `smcp-conformance ${role}`, loopback, valid);
  const dir = mkdtempSync(join(tmpdir(), "smcp-conformance-tls-"));
  // Also gone when the harness exits without reaching `remove` (Ctrl-C, SIGTERM: the CLI's handlers call process.exit).
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  process.once("exit", cleanup);
  const caPem = forge.pki.certificateToPem(ca.cert);
  const caFile = writePrivate(join(dir, "ca.pem"), caPem);
  const files = (role: Role): InstanceTlsFiles => {
    const c = instance(role);
    return { ca: caFile, cert: writePrivate(join(dir, `${role}.pem`), c.cert), key: writePrivate(join(dir, `${role}-key.pem`), c.key) };
  };
  return {
    caPem,
    instanceFiles: { alice: files("alice"), bob: files("bob") },
    fakePeer: makeLeaf(ca, serverKey, "smcp-conformance fake peer", loopback, valid),
    bad: {
      wrongName: makeLeaf(ca, serverKey, "someone-else.test", { ips: ["127.0.0.2"], dns: ["someone-else.test"] }, valid),
      untrustedCa: makeLeaf(stranger, serverKey, "smcp-conformance fake peer", loopback, valid),
      expired: makeLeaf(ca, serverKey, "smcp-conformance fake peer", loopback, { from: now - 3 * DAY, to: now - DAY }),
    },
    dir,
    remove: () => {
      process.off("exit", cleanup);
      cleanup();
    },
  };
}
