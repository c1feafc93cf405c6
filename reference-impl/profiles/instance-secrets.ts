// Optional profiles (spec §18.2 GAIL-07, §18.3 KATHY-10): the secrets of this instance that must never leave it —
// its control token and signing-key seed in every encoding it is stored or shown in — and where they occur in a value.

/** Field names whose values are secrets wherever they occur (compared lowercase, without `-` and `_`). */
export const SECRET_FIELD_NAMES = [
  "authorization", "xsmcpauthorization", "proxyauthorization", "cookie", "setcookie", "controltoken", "token", "accesstoken",
  "refreshtoken", "password", "passwd", "secret", "clientsecret", "privatekey", "seed", "apikey",
];

export const normalizeFieldName = (name: string): string => name.toLowerCase().replace(/[-_]/g, "");

export class InstanceSecrets {
  private readonly values: string[];

  /** `controlToken` and the 32-byte key `seed`; values shorter than 8 characters are ignored (they would match everywhere). */
  constructor(controlToken: string, seed: Uint8Array) {
    const s = Buffer.from(seed);
    this.values = [controlToken, s.toString("base64url"), s.toString("base64"), s.toString("hex"), s.toString("hex").toUpperCase()]
      .filter((v) => v.length >= 8);
  }

  /** Every secret string, longest first (so a replacement never leaves part of a longer one). */
  all(): readonly string[] {
    return [...this.values].sort((a, b) => b.length - a.length);
  }

  /** Whether `text` contains one of the secrets. */
  occursIn(text: string): boolean {
    return this.values.some((v) => text.includes(v));
  }
}
