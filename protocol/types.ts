// Protocol types (all components): the wire types, taken from the client generated from our OpenAPI (schemas/client).
export type * from "../schemas/client/smcp-api.d.ts";
export type { paths, components, operations } from "../schemas/client/smcp-api.d.ts";
