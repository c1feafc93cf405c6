// Conformance harness, fake peer: the instances under test it knows — their federation URL and key, with key rotation by re-discovery (spec §4.2).
import type { Dispatcher } from "undici";
import { sendRaw } from "../../protocol/http-client.ts";
import { parsePublicKey, verifyKeyFrom, type VerifyKey } from "../../protocol/keys.ts";
import { KEY_REFETCH_INTERVAL_MS } from "../../protocol/limits.ts";
import { validate } from "../../protocol/schemas.ts";
import type { ServerDiscovery } from "../../protocol/types.ts";

/** What the fake knows of an instance under test: where its federation API is and its key. */
export interface KnownInstance {
  baseUrl: string;
  key: VerifyKey;
}

/** Known instances; several fake identities may share one directory. */
export class InstanceDirectory {
  private readonly instances = new Map<string, KnownInstance>();
  private readonly lastRediscovery = new Map<string, number>();

  constructor(private readonly dispatcher: Dispatcher) {}

  add(name: string, baseUrl: string, key: VerifyKey): void {
    this.instances.set(name, { baseUrl, key });
  }

  has(name: string): boolean {
    return this.instances.has(name);
  }

  find(name: string): KnownInstance | undefined {
    return this.instances.get(name);
  }

  get(name: string): KnownInstance {
    const inst = this.instances.get(name);
    if (!inst) throw new Error(`the fake peer does not know instance ${name}`);
    return inst;
  }

  /** Learns an instance from its discovery document (for tests that do not hold its key). */
  async discover(name: string, baseUrl: string): Promise<void> {
    const key = await this.fetchKey(name, baseUrl);
    if (!key) throw new Error(`${baseUrl} serves no valid discovery document for ${name}`);
    this.add(name, baseUrl, key);
  }

  /**
   * The origin's key; an unknown key ID forces one re-fetch of the origin's discovery document, at most once per
   * interval per origin, so that the fake is also a correct receiver when it plays an instance under test.
   */
  async lookupKey(origin: string, keyId: string): Promise<VerifyKey | null> {
    const inst = this.instances.get(origin);
    if (!inst) return null;
    if (inst.key.keyId === keyId) return inst.key;
    if (Date.now() - (this.lastRediscovery.get(origin) ?? 0) < KEY_REFETCH_INTERVAL_MS) return null;
    this.lastRediscovery.set(origin, Date.now());
    const fresh = await this.fetchKey(origin, inst.baseUrl);
    if (!fresh) return null;
    inst.key = fresh;
    return fresh.keyId === keyId ? fresh : null;
  }

  /** The key a discovery document at `baseUrl` advertises for `name`; null for anything unusable. */
  private async fetchKey(name: string, baseUrl: string): Promise<VerifyKey | null> {
    try {
      const a = await sendRaw(this.dispatcher, `${baseUrl}/.well-known/smcp/server`, { method: "GET", headers: {}, timeoutMs: 5_000 });
      const doc = a.body as ServerDiscovery;
      if (a.status !== 200 || validate("ServerDiscovery", doc).length > 0 || doc.server_name !== name) return null;
      const raw = parsePublicKey(doc.public_key);
      return raw ? verifyKeyFrom(doc.key_id, raw) : null;
    } catch {
      return null;
    }
  }
}
