import { Conformance } from "@agentos/testkit"
import * as TaskQueue from "../src/TaskQueue.js"
import { suite } from "../src/Testing.js"

Conformance.conformance("TaskQueue", { memory: TaskQueue.layerMemory(), sql: TaskQueue.layerSql() }, suite)
