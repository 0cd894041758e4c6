// The published conformance suite (src/Testing.ts), once per backend:
// memory, SQLite and Postgres.
import { Conformance } from "@agentos/testkit"
import * as SharedState from "../src/SharedState.js"
import * as Testing from "../src/Testing.js"

Conformance.conformance("SharedState", {
  memory: Testing.harness(SharedState.layerMemory),
  sql: Testing.harness(SharedState.layerSql)
}, Testing.suite)
