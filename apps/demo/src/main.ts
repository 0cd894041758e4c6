// pnpm demo: the reference service, configured by the environment (see README.md).
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { layer } from "./Server.js"

Layer.launch(layer).pipe(NodeRuntime.runMain)
