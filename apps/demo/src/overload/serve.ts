// The service as `pnpm demo` runs it (configured by the environment), and one
// line a second on stdout with its heap and its event loop's delay over that
// second (Node's `monitorEventLoopDelay`, milliseconds), the CPU time it used
// in that second, and — on Linux — how long its main thread waited for a CPU
// in that second (ready to run, not scheduled: `/proc/self/schedstat`), for
// the overload script to read:
// `HEAP {"heapUsed":…,"rss":…,"loopP99":…,"loopMax":…,"cpuMillis":…,"runQueueMillis":…}`.
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schedule } from "effect"
import * as Fs from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { layer } from "../Server.js"

const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
let lastCpu = process.cpuUsage()
// The main thread's time waiting on a run queue, in nanoseconds (the second field); undefined off Linux.
const runQueueNanos = () => {
  try {
    return Number(Fs.readFileSync("/proc/self/schedstat", "utf8").split(" ")[1])
  } catch {
    return undefined
  }
}
let lastRunQueue = runQueueNanos()

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
        const runQueue = runQueueNanos()
        const runQueueMillis = runQueue === undefined || lastRunQueue === undefined
          ? undefined
          : (runQueue - lastRunQueue) / 1e6
        lastRunQueue = runQueue
        process.stdout.write(`HEAP ${JSON.stringify({ heapUsed, rss, loopP99, loopMax, cpuMillis, runQueueMillis })}\n`)
      }),
      Schedule.spaced("1 second")
    )
  )
)

Layer.launch(Layer.merge(layer, heap)).pipe(NodeRuntime.runMain)
