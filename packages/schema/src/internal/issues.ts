import type * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type * as EventError from "../EventError.ts"

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Flattens a schema failure into one `{ path, message }` per offending field. */
export const fromSchemaError = (error: Schema.SchemaError): Array<EventError.Issue> =>
  formatter(error.issue).issues.map((issue) => ({
    path: formatPath(issue.path ?? []),
    message: issue.message
  }))

type Segment = PropertyKey | { readonly key: PropertyKey }

// Renders `["items", 2, "id"]` as `items[2].id`, the way the field would be written in code.
const formatPath = (path: ReadonlyArray<Segment>): string => {
  let out = ""
  for (const segment of path) {
    const key = typeof segment === "object" ? segment.key : segment
    if (typeof key === "number") out += `[${key}]`
    else if (typeof key === "symbol") out += `[${String(key)}]`
    else out += out === "" ? key : `.${key}`
  }
  return out
}
