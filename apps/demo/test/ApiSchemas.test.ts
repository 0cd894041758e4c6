// The contract's success schemas that mirror a package's interface (the
// package exports no schema for it): each is the same type as its interface,
// both ways, so that a field added to or removed from a package fails the
// build here instead of vanishing from (or breaking) the service's answers.
// And the OpenAPI document, built from them, names every one.
import type { Letter, Page, Summary } from "@agentos/dlq/Letter"
import type { Recall, Stats } from "@agentos/memory/Memory"
import type { Entry } from "@agentos/router/DecisionLog"
import type { RouteDecision } from "@agentos/router/Route"
import type { BudgetReport } from "@agentos/router/Spend"
import type { Snapshot } from "@agentos/supervisor/Task"
import { OpenApi } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import type { Schema } from "effect"
import * as Api from "../src/Api.js"

/** `true` only when `A` and `B` are assignable to each other. */
type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false
const same = <A, B>(_: Same<A, B>) => _

describe("the contract's success schemas", () => {
  it("are the packages' own types, both ways", () => {
    const checks: ReadonlyArray<true> = [
      same<Schema.Schema.Type<typeof Api.RouterReport>, BudgetReport>(true),
      same<Schema.Schema.Type<typeof Api.Decision>, Entry>(true),
      same<Schema.Schema.Type<typeof Api.RouteDecision>, RouteDecision>(true),
      same<Schema.Schema.Type<typeof Api.Recall>, Recall>(true),
      same<Schema.Schema.Type<typeof Api.MemoryStats>, Stats>(true),
      same<Schema.Schema.Type<typeof Api.LetterPage>, Page>(true),
      same<Schema.Schema.Type<typeof Api.LetterSummary>, Summary>(true),
      same<Schema.Schema.Type<typeof Api.DeadLetter>, Letter>(true),
      same<Schema.Schema.Type<typeof Api.SupervisorSnapshot>, Snapshot>(true)
    ]
    assert.strictEqual(checks.length, 9)
  })

  // (The union answers, a routing explanation and a replay's result, are inlined by HttpApi.)
  it("build the OpenAPI document, with a named schema for each answer", () => {
    const spec = OpenApi.fromApi(Api.Api)
    const names = Object.keys(spec.components.schemas)
    assert.includeMembers(names, [
      "BudgetDashboard",
      "RouterReport",
      "Decision",
      "Recall",
      "MemoryStats",
      "LetterPage",
      "LetterSummary",
      "Letter",
      "SupervisorSnapshot",
      "BudgetHistory"
    ])
    // No success answer is left as free JSON ({} in JSON Schema).
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(item as Record<string, any>)) {
        const ok = operation?.responses?.["200"] ?? operation?.responses?.["202"]
        const schema = ok?.content?.["application/json"]?.schema
        if (schema !== undefined) assert.notDeepEqual(schema, {}, `${method.toUpperCase()} ${path}`)
      }
    }
  })
})
