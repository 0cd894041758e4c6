// The published conformance suite, once per backend: memory, SQLite and
// Postgres.
import { Conformance } from "@agentos/testkit"
import * as AgentMemory from "../src/AgentMemory.js"
import * as Testing from "../src/Testing.js"

Conformance.conformance("AgentMemory", {
  memory: Testing.harness(AgentMemory.layerMemory),
  sql: Testing.harness(AgentMemory.layerSql)
}, Testing.suite)
