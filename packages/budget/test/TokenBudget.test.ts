// The published conformance suite, once per backend: memory, SQLite and
// Postgres; the shared-store cases on the SQL backends.
import { Conformance } from "@agentos/testkit"
import * as Testing from "../src/Testing.js"
import * as TokenBudget from "../src/TokenBudget.js"

Conformance.conformance("TokenBudget", {
  memory: Testing.harness(TokenBudget.layerMemory),
  sql: Testing.harness(TokenBudget.layerSql)
}, Testing.suite)

Conformance.conformance("TokenBudget (one store, two budgets)", {
  sql: Testing.harness(TokenBudget.layerSql)
}, Testing.sharedSuite)
