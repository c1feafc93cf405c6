// Conformance harness, fake peer: who the fake server is — its server name, Ed25519 key and discovery document (spec §4.1, §4.2).
import { formatPublicKey, generateSeed, keyIdFor, parsePublicKey, signingKeyFromSeed, type SigningKey } from "../../protocol/keys.ts";
import { DEFAULT_LIMITS } from "../../protocol/limits.ts";
import type { ServerDiscovery } from "../../protocol/types.ts";

/** The limits the fake advertises: the spec's defaults, so that instances under test send it ordinary traffic. */
export const FAKE_LIMITS = DEFAULT_LIMITS;

/** One signing identity: a second fake server name is a second FakeIdentity (and server), never a flag. */
export class FakeIdentity {
  /** Where its federation API listens; set once the server is bound. */
  url = "";
  /** Components it claims (none as the harness's peer; `vikunja` when it plays an instance under test). */
  components: string[] = [];
  /** Lies in its own discovery document (a malicious peer: small-order key, wrong key ID, wrong server name). */
  discoveryOverride: Partial<ServerDiscovery> = {};
  /** The protocol versions it plays (spec §14): a 1.0-only peer by default, ["1.0", "1.1"] to play a 1.1 one. */
  versions: string[] = ["1.0"];

  constructor(
    readonly name: string,
    readonly key: SigningKey = signingKeyFromSeed(generateSeed()),
  ) {}

  /** The key ID the fake advertises, which its requests name unless told otherwise. */
  get keyId(): string {
    return this.discoveryOverride.key_id ?? this.key.keyId;
  }

  /** Advertises `publicKey` (wire form, even one the spec forbids) under the key ID derived from it, if any. */
  advertiseKey(publicKey: string): void {
    const raw = parsePublicKey(publicKey);
    this.discoveryOverride = { ...this.discoveryOverride, public_key: publicKey, key_id: raw ? keyIdFor(raw) : this.key.keyId };
  }

  discoveryDocument(): ServerDiscovery {
    return {
      server_name: this.name,
      endpoint: this.url,
      version: this.versions.at(-1)!,
      versions: [...this.versions],
      components: this.components,
      key_id: this.key.keyId,
      public_key: formatPublicKey(this.key.publicKey),
      limits: FAKE_LIMITS,
      ...this.discoveryOverride,
    };
  }
}
