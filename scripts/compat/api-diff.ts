// Spec tooling (spec §14 versioning): compares two OpenAPI 3.1 documents operation by operation and two JSON Schema
// sets model by model, naming every change a peer of the older release would notice.
import { SchemaDiff, type Change, type RefResolver, type Schema } from "./schema-diff.ts";

type Doc = Record<string, any>;
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"] as const;

/** Models live once, as JSON Schema files named after the model; OpenAPI refs point at the same names. */
export function modelResolver(oldModels: Record<string, Schema>, newModels: Record<string, Schema>): RefResolver {
  const name = (ref: string) => ref.replace(/^.*\//, "").replace(/\.json$/, "");
  return {
    name,
    resolve: (ref, side) => (side === "old" ? oldModels : newModels)[name(ref)],
  };
}

/** Every model of the release compared with the current one; a model that disappears is a removed type. */
export function diffModels(oldModels: Record<string, Schema>, newModels: Record<string, Schema>): Change[] {
  const diff = new SchemaDiff(modelResolver(oldModels, newModels));
  for (const [name, schema] of Object.entries(oldModels)) {
    if (!(name in newModels)) {
      diff.changes.push({ severity: "breaking", rule: "model-removed", where: name, message: `${name}: model removed` });
      continue;
    }
    diff.compare(stripLocalDefs(schema), stripLocalDefs(newModels[name]!), name);
  }
  for (const name of Object.keys(newModels).filter((n) => !(n in oldModels)))
    diff.changes.push({ severity: "additive", rule: "model-added", where: name, message: `${name}: new model` });
  return diff.changes;
}

/** `$defs` are compared where they are used, through their refs. */
function stripLocalDefs(s: Schema): Schema {
  const { $defs: _defs, $id: _id, $schema: _schema, description: _d, ...rest } = s;
  return rest;
}

function operations(doc: Doc): Map<string, Doc> {
  const ops = new Map<string, Doc>();
  for (const [path, item] of Object.entries<Doc>(doc.paths ?? {}))
    for (const m of METHODS) if (item[m]) ops.set(`${m.toUpperCase()} ${path}`, { ...item[m], parameters: [...(item.parameters ?? []), ...(item[m].parameters ?? [])] });
  return ops;
}

function params(doc: Doc, op: Doc): Map<string, Doc> {
  const out = new Map<string, Doc>();
  for (const p of op.parameters as Doc[]) {
    const param = typeof p.$ref === "string" ? doc.components?.parameters?.[p.$ref.replace(/^.*\//, "")] : p;
    if (param) out.set(`${param.in} parameter ${param.in === "header" ? String(param.name).toLowerCase() : param.name}`, param);
  }
  return out;
}

/** Operations of the release against the current ones: endpoints, methods, parameters, bodies, responses. */
export function diffOperations(oldDoc: Doc, newDoc: Doc, refs: RefResolver): Change[] {
  const diff = new SchemaDiff(refs);
  const out = diff.changes;
  const [oldOps, newOps] = [operations(oldDoc), operations(newDoc)];
  const newByOpId = new Map([...newOps].map(([k, op]) => [op.operationId, k]));
  for (const [key, oldOp] of oldOps) {
    const newOp = newOps.get(key);
    if (!newOp) {
      const renamed = newByOpId.get(oldOp.operationId);
      const [method, path] = key.split(" ");
      const samePath = [...newOps.keys()].some((k) => k.endsWith(` ${path}`));
      if (renamed && !oldOps.has(renamed)) out.push(change("breaking", "endpoint-renamed", key, `endpoint renamed to ${renamed} (operation ${oldOp.operationId})`));
      else if (samePath) out.push(change("breaking", "method-removed", key, `method ${method} removed from ${path}`));
      else out.push(change("breaking", "endpoint-removed", key, "endpoint removed"));
      continue;
    }
    diffSecurity(oldOp, newOp, key, diff);
    diffParameters(oldDoc, newDoc, oldOp, newOp, key, diff);
    diffRequestBody(oldOp, newOp, key, diff);
    diffResponses(oldOp, newOp, key, diff);
  }
  for (const key of [...newOps.keys()].filter((k) => !oldOps.has(k))) {
    const op = newOps.get(key)!;
    const renamedFrom = [...oldOps].find(([k, o]) => o.operationId === op.operationId && !newOps.has(k));
    if (!renamedFrom) out.push(change("additive", "endpoint-added", key, "new endpoint"));
  }
  return out;
}

/** A scheme a caller must now satisfy breaks every caller of the release; a dropped one is listed. */
function diffSecurity(oldOp: Doc, newOp: Doc, key: string, diff: SchemaDiff): void {
  const schemes = (op: Doc) => new Set<string>((op.security ?? []).flatMap((s: Doc) => Object.keys(s)));
  const [o, n] = [schemes(oldOp), schemes(newOp)];
  for (const s of n) if (!o.has(s)) diff.changes.push(change("breaking", "security-added", key, `now requires security scheme ${s}`));
  for (const s of o) if (!n.has(s)) diff.changes.push(change("additive", "security-removed", key, `no longer declares security scheme ${s}`));
}

function diffParameters(oldDoc: Doc, newDoc: Doc, oldOp: Doc, newOp: Doc, key: string, diff: SchemaDiff): void {
  const [op, np] = [params(oldDoc, oldOp), params(newDoc, newOp)];
  for (const [name, p] of op) {
    const q = np.get(name);
    const where = `${key} ${name}`;
    if (!q) diff.changes.push(change("breaking", "member-removed", where, `${name} removed`));
    else {
      if (!p.required && q.required) diff.changes.push(change("breaking", "member-required", where, `${name} became required`));
      if (p.required && !q.required) diff.changes.push(change("breaking", "member-optional", where, `${name} is no longer required`));
      diff.compare(p.schema ?? {}, q.schema ?? {}, where);
    }
  }
  for (const [name, q] of np) {
    if (op.has(name)) continue;
    if (q.required) diff.changes.push(change("breaking", "member-required", `${key} ${name}`, `new required ${name}`));
    else diff.changes.push(change("additive", "member-added", `${key} ${name}`, `new optional ${name}`));
  }
}

function diffRequestBody(oldOp: Doc, newOp: Doc, key: string, diff: SchemaDiff): void {
  const [ob, nb] = [oldOp.requestBody, newOp.requestBody];
  const where = `${key} request body`;
  if (!ob && !nb) return;
  if (ob && !nb) return void diff.changes.push(change("breaking", "member-removed", where, "request body removed"));
  if (!ob && nb) return void diff.changes.push(change(nb.required ? "breaking" : "additive", nb.required ? "member-required" : "member-added", where, "request body added"));
  if (!ob.required && nb.required) diff.changes.push(change("breaking", "member-required", where, "request body became required"));
  diffContent(ob.content, nb.content, where, diff);
}

function diffResponses(oldOp: Doc, newOp: Doc, key: string, diff: SchemaDiff): void {
  const [or, nr] = [oldOp.responses ?? {}, newOp.responses ?? {}];
  for (const [status, resp] of Object.entries<Doc>(or)) {
    const where = `${key} response ${status}`;
    // ERR-06 makes every client handle any status by its class, so an undeclared status breaks no peer: listed only.
    if (!nr[status]) diff.changes.push(change("additive", "response-removed", where, `response ${status} no longer declared`));
    else diffContent(resp.content, nr[status].content, where, diff);
  }
  for (const status of Object.keys(nr).filter((s) => !(s in or)))
    diff.changes.push(change("additive", "response-added", `${key} response ${status}`, `response ${status} now declared`));
}

function diffContent(oc: Doc | undefined, nc: Doc | undefined, where: string, diff: SchemaDiff): void {
  for (const [type, media] of Object.entries<Doc>(oc ?? {})) {
    const n = nc?.[type];
    if (!n) diff.changes.push(change("breaking", "member-removed", where, `media type ${type} removed`));
    else diff.compare(media.schema ?? {}, n.schema ?? {}, where);
  }
  for (const type of Object.keys(nc ?? {}).filter((t) => !(t in (oc ?? {}))))
    diff.changes.push(change("additive", "member-added", where, `media type ${type} added`));
}

function change(severity: Change["severity"], rule: string, where: string, message: string): Change {
  return { severity, rule, where, message: `${where}: ${message}` };
}
