// The `agentos` bin: the CLI in Node, its exit code the process's.
import { FetchHttpClient } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Exit, Layer } from "effect"
import { run } from "./Cli.js"
import { ExitCode } from "./Errors.js"

run(process.argv.slice(2)).pipe(
  Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : ExitCode.Internal)
  })
)
