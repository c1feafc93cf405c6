// Protocol types (harness and tests): request and answer bodies looked up by path and method in the client generated from our OpenAPI.
import type { paths } from "./types.ts";

export type ApiPath = keyof paths;
export type ApiMethod = "get" | "post" | "put" | "delete";

type Operation<P extends ApiPath, M extends ApiMethod> = NonNullable<paths[P][M]>;
type JsonOf<T> = T extends { content: { "application/json": infer B } } ? B : undefined;

/** The JSON body an operation takes (undefined when it takes none). */
export type RequestBody<P extends ApiPath, M extends ApiMethod> = Operation<P, M> extends { requestBody: infer R } ? JsonOf<R> : undefined;

/** The JSON body of an operation's success answer (200, else 201; undefined for 204). */
export type SuccessBody<P extends ApiPath, M extends ApiMethod> = Operation<P, M> extends { responses: infer R }
  ? R extends { 200: infer OK }
    ? JsonOf<OK>
    : R extends { 201: infer Created }
      ? JsonOf<Created>
      : undefined
  : never;

/** Fills `{name}` segments of an OpenAPI path template, percent-encoding each value. */
export function fillPath<P extends ApiPath>(template: P, params: Record<string, string> = {}): string {
  return (template as string).replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`path parameter ${name} missing for ${template as string}`);
    return encodeURIComponent(value);
  });
}
