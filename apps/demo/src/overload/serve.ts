// The service as `pnpm demo` runs it (configured by the environment), and one
// line a second on stdout with its heap, for the overload script to read:
// `HEAP {"heapUsed":…,"rss":…}`.
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schedule } from "effect"
import { layer } from "../Server.js"

const heap = Layer.scopedDiscard(
  Effect.forkScoped(
    Effect.repeat(
      Effect.sync(() => {
        const { heapUsed, rss } = process.memoryUsage()
        process.stdout.write(`HEAP ${JSON.stringify({ heapUsed, rss })}\n`)
      }),
      Schedule.spaced("1 second")
    )
  )
)

Layer.launch(Layer.merge(layer, heap)).pipe(NodeRuntime.runMain)
