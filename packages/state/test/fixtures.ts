import type { JsonObject } from "@agentos/core/Json"
import * as Schema from "effect/Schema"
import type * as SharedState from "../src/SharedState.js"

/** The store options every conformance case runs with. */
export const options: SharedState.SqlStoreOptions = {
  strategy: "reject",
  historyLimit: 5,
  pollInterval: "20 millis",
  prefixes: [
    { prefix: "merge/", strategy: "merge" },
    { prefix: "merge/incoming/", strategy: "merge", merge: { precedence: "incoming" } },
    { prefix: "merge/union/", strategy: "merge", merge: { arrays: "union" } },
    { prefix: "merge/concat/", strategy: "merge", merge: { arrays: "concat" } },
    {
      prefix: "merge/custom/",
      strategy: "merge",
      merge: (current: JsonObject, incoming: JsonObject, context) => ({
        total: (current.total as number) + (incoming.total as number),
        lastMergeBy: context.agent
      })
    },
    { prefix: "lww/", strategy: "last-write-wins" },
    { prefix: "fww/", strategy: "first-write-wins" },
    {
      prefix: "typed/",
      strategy: "merge",
      merge: { arrays: "concat" },
      schema: Schema.Struct({
        name: Schema.String,
        age: Schema.Int.pipe(Schema.between(0, 150)),
        tags: Schema.optional(Schema.Array(Schema.String).pipe(Schema.maxItems(2)))
      })
    }
  ]
}
