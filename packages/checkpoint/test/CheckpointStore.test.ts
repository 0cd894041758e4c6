// The published store suite (src/Testing.ts), once per backend.
import { Conformance } from "@agentos/testkit"
import * as Testing from "../src/Testing.js"
import { stores } from "./fixtures.js"

Conformance.conformance("CheckpointStore", stores, Testing.storeSuite)
