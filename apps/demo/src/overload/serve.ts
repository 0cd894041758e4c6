// The service as `pnpm demo` runs it (configured by the environment), and one
// line a second on stdout with its heap and its event loop's delay over that
// second (Node's `monitorEventLoopDelay`, milliseconds) and the CPU time it
// used in that second, for the overload script to read:
// `HEAP {"heapUsed":…,"rss":…,"loopP99":…,"loopMax":…,"cpuMillis":…}`.
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schedule } from "effect"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { layer } from "../Server.js"

const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
let lastCpu = process.cpuUsage()

const heap = Layer.scopedDiscard(
  Effect.forkScoped(
    Effect.repeat(
      Effect.sync(() => {
        const { heapUsed, rss } = process.memoryUsage()
        const loopP99 = loop.percentile(99) / 1e6
        const loopMax = loop.max / 1e6
        loop.reset()
        const cpu = process.cpuUsage(lastCpu)
        lastCpu = process.cpuUsage()
        const cpuMillis = (cpu.user + cpu.system) / 1000
        process.stdout.write(`HEAP ${JSON.stringify({ heapUsed, rss, loopP99, loopMax, cpuMillis })}\n`)
      }),
      Schedule.spaced("1 second")
    )
  )
)

Layer.launch(Layer.merge(layer, heap)).pipe(NodeRuntime.runMain)
