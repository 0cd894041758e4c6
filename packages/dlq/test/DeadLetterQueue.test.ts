import { Conformance } from "@agentos/testkit"
import * as Harness from "./harness.js"
import { suite } from "./suite.js"

Conformance.conformance("DeadLetterQueue", {
  memory: Harness.memory,
  sql: Harness.sql,
  extra: { file: Harness.file }
}, suite)
