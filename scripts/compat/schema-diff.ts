// Spec tooling (spec §14 versioning): compares two JSON Schemas (2020-12) and names every change a peer would notice.
// A server-to-server protocol has no "request side" and "response side": every schema is something one peer sends
// and another validates. So narrowing breaks old senders and widening breaks old receivers; only the additions
// VER-03 allows (optional members, enum values such as error codes and event types) are additive.

export type Severity = "breaking" | "additive";
export interface Change {
  severity: Severity;
  rule: string;
  where: string;
  message: string;
}
export type Schema = Record<string, unknown>;

/** Resolves a `$ref` to a schema and a stable name (a named model is compared once, by name). */
export interface RefResolver {
  name(ref: string): string;
  resolve(ref: string, side: "old" | "new"): Schema | undefined;
}

const LOWER_BOUNDS = ["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"] as const;
const UPPER_BOUNDS = ["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"] as const;

export class SchemaDiff {
  readonly changes: Change[] = [];
  constructor(private readonly refs: RefResolver) {}

  private add(severity: Severity, rule: string, where: string, message: string): void {
    this.changes.push({ severity, rule, where, message: `${where}: ${message}` });
  }

  compare(oldS: unknown, newS: unknown, where: string): void {
    if (!isObj(oldS) || !isObj(newS)) {
      if (JSON.stringify(oldS) !== JSON.stringify(newS)) this.add("breaking", "type-narrowed", where, "schema replaced");
      return;
    }
    const oldRef = typeof oldS.$ref === "string" ? oldS.$ref : undefined;
    const newRef = typeof newS.$ref === "string" ? newS.$ref : undefined;
    if (oldRef && newRef) {
      const [a, b] = [this.refs.name(oldRef), this.refs.name(newRef)];
      // Same named model: compared once on its own (see compareModels); different ones: the type changed.
      if (a !== b) this.add("breaking", "type-narrowed", where, `type changed from ${a} to ${b}`);
      return;
    }
    if (oldRef || newRef) {
      const o = oldRef ? this.refs.resolve(oldRef, "old") : oldS;
      const n = newRef ? this.refs.resolve(newRef, "new") : newS;
      this.compare(o, n, where);
      return;
    }
    this.compareTypes(oldS, newS, where);
    this.compareValues(oldS, newS, where);
    this.compareString(oldS, newS, where);
    this.compareBounds(oldS, newS, where);
    this.compareObject(oldS, newS, where);
    if (oldS.items !== undefined || newS.items !== undefined) this.compare(oldS.items ?? {}, newS.items ?? {}, `${where}[]`);
    this.compareVariants(oldS, newS, where, "anyOf");
    this.compareVariants(oldS, newS, where, "oneOf");
    const [oa, na] = [arr(oldS.allOf), arr(newS.allOf)];
    for (let i = 0; i < Math.max(oa.length, na.length); i++) this.compare(oa[i] ?? {}, na[i] ?? {}, `${where}(allOf ${i})`);
  }

  private compareTypes(o: Schema, n: Schema, where: string): void {
    const [ot, nt] = [types(o), types(n)];
    if (!ot && !nt) return;
    const accepts = (set: Set<string> | undefined, t: string) => !set || set.has(t) || (t === "integer" && set.has("number"));
    const lost = [...(ot ?? ANY)].filter((t) => !accepts(nt, t));
    const gained = [...(nt ?? ANY)].filter((t) => !accepts(ot, t));
    if (lost.length) this.add("breaking", "type-narrowed", where, `type narrowed: no longer accepts ${lost.join(", ")}`);
    if (gained.length) this.add("breaking", "type-widened", where, `type widened to ${gained.join(", ")}: a peer of the release refuses it`);
  }

  private compareValues(o: Schema, n: Schema, where: string): void {
    if ("const" in o || "const" in n) {
      if (JSON.stringify(o.const) !== JSON.stringify(n.const))
        this.add("breaking", "enum-narrowed", where, `const changed from ${JSON.stringify(o.const)} to ${JSON.stringify(n.const)}`);
    }
    const [oe, ne] = [o.enum, n.enum];
    if (!Array.isArray(oe) && !Array.isArray(ne)) return;
    if (!Array.isArray(ne)) return this.add("breaking", "type-widened", where, "enum removed: any value now allowed");
    if (!Array.isArray(oe)) return this.add("breaking", "enum-narrowed", where, `enum added: only ${ne.map(j).join(", ")} allowed`);
    const errorCodes = where.startsWith("ErrorCode");
    for (const v of oe.filter((v) => !ne.some((w) => j(w) === j(v)))) {
      if (errorCodes) this.add("breaking", "error-code-removed", where, `removed error code ${String(v)}`);
      else this.add("breaking", "enum-narrowed", where, `enum value ${j(v)} removed`);
    }
    for (const v of ne.filter((v) => !oe.some((w) => j(w) === j(v))))
      this.add("additive", errorCodes ? "error-code-added" : "enum-value-added", where, errorCodes ? `new error code ${String(v)}` : `new enum value ${j(v)}`);
  }

  private compareString(o: Schema, n: Schema, where: string): void {
    for (const key of ["pattern", "format", "contentEncoding"] as const) {
      if (o[key] === n[key]) continue;
      if (n[key] === undefined) this.add("breaking", `${key}-widened`, where, `${key} ${j(o[key])} removed: a peer of the release refuses what it no longer excludes`);
      else if (o[key] === undefined) this.add("breaking", `${key}-narrowed`, where, `${key} ${j(n[key])} added`);
      // Regular-language inclusion is not decided here: any changed pattern is breaking unless recorded as accepted.
      else this.add("breaking", `${key}-changed`, where, `${key} changed from ${j(o[key])} to ${j(n[key])}`);
    }
  }

  private compareBounds(o: Schema, n: Schema, where: string): void {
    for (const key of LOWER_BOUNDS) this.bound(o, n, where, key, (a, b) => b > a);
    for (const key of UPPER_BOUNDS) this.bound(o, n, where, key, (a, b) => b < a);
  }

  private bound(o: Schema, n: Schema, where: string, key: string, narrower: (a: number, b: number) => boolean): void {
    const [a, b] = [o[key], n[key]];
    if (a === b) return;
    if (typeof b === "number" && (typeof a !== "number" || narrower(a, b)))
      this.add("breaking", "bound-narrowed", where, `${key} narrowed from ${a ?? "none"} to ${b}`);
    else this.add("breaking", "bound-widened", where, `${key} widened from ${a} to ${b ?? "none"}: a peer of the release refuses it`);
  }

  private compareObject(o: Schema, n: Schema, where: string): void {
    const [op, np] = [props(o), props(n)];
    const [or, nr] = [new Set(arr(o.required).map(String)), new Set(arr(n.required).map(String))];
    for (const [name, schema] of Object.entries(op)) {
      const at = `${where}.${name}`;
      if (!(name in np)) {
        this.add("breaking", "member-removed", at, `removed member ${name}${or.has(name) ? " (required)" : ""}`);
        continue;
      }
      if (!or.has(name) && nr.has(name)) this.add("breaking", "member-required", at, `member ${name} became required`);
      if (or.has(name) && !nr.has(name)) this.add("breaking", "member-optional", at, `member ${name} is no longer required: a peer of the release needs it`);
      this.compare(schema, np[name], at);
    }
    for (const name of Object.keys(np).filter((k) => !(k in op))) {
      if (nr.has(name)) this.add("breaking", "member-required", `${where}.${name}`, `new required member ${name}`);
      else this.add("additive", "member-added", `${where}.${name}`, `new optional member ${name}`);
    }
    for (const key of ["additionalProperties", "unevaluatedProperties"] as const) {
      const [a, b] = [o[key], n[key]];
      if (j(a) === j(b)) continue;
      if (b === false) this.add("breaking", "member-removed", where, `${key} now false: members a peer of the release may send are refused`);
      else if (isObj(a) && isObj(b)) this.compare(a, b, `${where}{*}`);
    }
  }

  private compareVariants(o: Schema, n: Schema, where: string, key: "anyOf" | "oneOf"): void {
    const [ov, nv] = [arr(o[key]), arr(n[key])];
    if (!ov.length && !nv.length) return;
    const keyOf = (s: unknown) => (isObj(s) && typeof s.$ref === "string" ? this.refs.name(s.$ref) : j(s));
    const newByKey = new Map(nv.map((s) => [keyOf(s), s]));
    ov.forEach((s, i) => {
      const k = keyOf(s);
      if (newByKey.has(k)) return;
      const sameIndex = nv[i];
      if (sameIndex !== undefined && !ov.some((x) => keyOf(x) === keyOf(sameIndex))) this.compare(s, sameIndex, `${where}(${key} ${i})`);
      else this.add("breaking", "type-narrowed", where, `${key} alternative ${k} removed`);
    });
    const oldKeys = new Set(ov.map(keyOf));
    nv.forEach((s, i) => {
      if (oldKeys.has(keyOf(s))) return;
      const sameIndex = ov[i];
      if (sameIndex === undefined || newByKey.has(keyOf(sameIndex)))
        this.add("breaking", "type-widened", where, `${key} alternative ${keyOf(s)} added: a peer of the release refuses it`);
    });
  }
}

const ANY = new Set(["null", "boolean", "object", "array", "number", "string"]);
const isObj = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const j = (v: unknown) => JSON.stringify(v);
const props = (s: Schema): Record<string, unknown> => (isObj(s.properties) ? s.properties : {});
function types(s: Schema): Set<string> | undefined {
  if (typeof s.type === "string") return new Set([s.type]);
  if (Array.isArray(s.type)) return new Set(s.type.map(String));
  return undefined;
}
