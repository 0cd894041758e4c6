// The published conformance suite, once per backend: memory, SQLite and
// Postgres.
import { Conformance } from "@agentos/testkit"
import * as SpendLedger from "../src/SpendLedger.js"
import * as Testing from "../src/Testing.js"

Conformance.conformance("SpendLedger", {
  memory: Testing.harness(SpendLedger.layerMemory),
  sql: Testing.harness(SpendLedger.layerSql)
}, Testing.suite)
