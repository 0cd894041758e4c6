// Scale (issue 10): 10,000 tasks in flight at once whose handlers wait 1–5 s,
// as LLM calls do, with as many again queued behind them; report the heap per
// in-flight task and the delay from a slot freeing to the next task starting.
// Run: tsx --conditions=@agentos/source bench/scale.ts (SCALE_TASKS, default 10,000).
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"

const IN_FLIGHT = Number(process.env.SCALE_TASKS ?? 10_000)
const call = Task.taskType("call", { payload: Schema.Struct({ millis: Schema.Number }), result: Schema.Number })

const main = async () => {
  const starts: Array<number> = []
  const ends: Array<number> = []
  const runtime = ManagedRuntime.make(Supervisor.layerMemory({
    types: [call],
    maxQueued: IN_FLIGHT,
    workers: [Task.worker(call, {
      name: "llm",
      maxConcurrent: IN_FLIGHT,
      handler: ({ millis }) =>
        Effect.sync(() => starts.push(performance.now())).pipe(
          Effect.zipRight(Effect.sleep(`${millis} millis`)),
          Effect.zipRight(Effect.sync(() => ends.push(performance.now()))),
          Effect.as(millis)
        )
    })]
  }))
  const supervisor = await runtime.runPromise(Supervisor.Supervisor)
  global.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const handles = await runtime.runPromise(Effect.forEach(
    Array.from({ length: 2 * IN_FLIGHT }, (_, i) => 1_000 + ((i * 7919) % 4_000)),
    (millis) => supervisor.submit({ type: call, payload: { millis } })
  ))
  await new Promise((resolve) => setTimeout(resolve, 200))
  const inFlight = (await runtime.runPromise(supervisor.snapshot)).running
  global.gc?.()
  const heapInFlight = process.memoryUsage().heapUsed
  await runtime.runPromise(Effect.forEach(handles, (handle) => handle.await, { discard: true }))
  await runtime.dispose()
  // Each completion frees one slot, taken by the next queued task: the k-th
  // queued task's start pairs with the k-th completion.
  const delays = starts.slice(IN_FLIGHT).map((start, k) => start - ends[k]!).sort((a, b) => a - b)
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]!
  console.log(JSON.stringify({
    inFlight,
    queuedBehind: IN_FLIGHT,
    heapPerInFlightTaskKiB: Number(((heapInFlight - heapBefore) / inFlight / 1024).toFixed(2)),
    slotToStartMillis: {
      p50: Number(at(0.5).toFixed(2)),
      p99: Number(at(0.99).toFixed(2)),
      max: Number(delays.at(-1)!.toFixed(2))
    }
  }))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
