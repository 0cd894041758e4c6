// The published conformance suite, once per backend: memory, SQLite and
// Postgres; the shared-store cases on the SQL backends.
import { Conformance } from "@agentos/testkit"
import * as SpendLedger from "../src/SpendLedger.js"
import * as Testing from "../src/Testing.js"

Conformance.conformance("SpendLedger", {
  memory: Testing.harness(SpendLedger.layerMemory),
  sql: Testing.harness(SpendLedger.layerSql)
}, Testing.suite)

Conformance.conformance("SpendLedger (one store, two ledgers)", {
  sql: Testing.harness(SpendLedger.layerSql)
}, Testing.sharedSuite)
