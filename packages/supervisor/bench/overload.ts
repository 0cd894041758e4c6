// Overload (issue 10): offer 10,000 tasks a second to workers that complete
// 1,000 a second, with the default queue bound; report the rejections and
// the heap's growth. Run: tsx --conditions=@agentos/source bench/overload.ts
// (OVERLOAD_SECONDS, default 100, shortens it; node --expose-gc --import tsx
// also reports the heap still held after a collection).
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"

const SECONDS = Number(process.env.OVERLOAD_SECONDS ?? 100)
const OFFERED_PER_SECOND = 10_000
const TICK_MILLIS = 10
const work = Task.taskType("work", { payload: Schema.Struct({ n: Schema.Number }), result: Schema.Number })

const main = async () => {
  // 10 slots of 10 ms each: 1,000 tasks a second.
  const runtime = ManagedRuntime.make(Supervisor.layerMemory({
    types: [work],
    workers: [Task.worker(work, {
      name: "w",
      maxConcurrent: 10,
      handler: ({ n }) => Effect.as(Effect.sleep("10 millis"), n)
    })]
  }))
  const supervisor = await runtime.runPromise(Supervisor.Supervisor)
  global.gc?.()
  const heapAtStart = process.memoryUsage().heapUsed
  let peakHeap = heapAtStart
  let peakRetained = heapAtStart
  let ticks = 0
  let offered = 0
  let accepted = 0
  let rejected = 0
  let other = 0
  const started = performance.now()
  const perTick = (OFFERED_PER_SECOND * TICK_MILLIS) / 1000
  while (performance.now() - started < SECONDS * 1000) {
    const tick = performance.now()
    // Offer what the schedule owes by now, so a late tick (a busy machine, a
    // collection) catches up instead of lowering the offered rate; at most
    // ten ticks' worth at once.
    const owed = Math.min(
      Math.floor(((tick - started) / 1000) * OFFERED_PER_SECOND) + perTick - offered,
      10 * perTick
    )
    await runtime.runPromise(
      Effect.forEach(
        Array.from({ length: Math.max(0, owed) }),
        () =>
          Effect.match(supervisor.submit({ type: work, payload: { n: offered++ } }), {
            onFailure: (error) => error._tag === "Backpressure" ? rejected++ : other++,
            onSuccess: () => accepted++
          }),
        { discard: true }
      )
    )
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
    if (global.gc !== undefined && ++ticks % 100 === 0) {
      // Once a second with --expose-gc: what is still held after a collection.
      global.gc()
      peakRetained = Math.max(peakRetained, process.memoryUsage().heapUsed)
    }
    const wait = TICK_MILLIS - (performance.now() - tick)
    // Always yield to the timers, even when behind: the workers' sleeps are
    // timers, and a loop that never yields would starve them.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)))
  }
  const elapsed = (performance.now() - started) / 1000
  const snapshot = await runtime.runPromise(supervisor.snapshot)
  await runtime.dispose()
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)
  console.log(JSON.stringify({
    seconds: Number(elapsed.toFixed(1)),
    offered,
    offeredPerSecond: Math.round(offered / elapsed),
    accepted,
    rejectedBackpressure: rejected,
    otherErrors: other,
    completed: snapshot.workers[0]?.completed,
    heapAtStartMiB: mib(heapAtStart),
    peakHeapMiB: mib(peakHeap),
    heapGrowthMiB: mib(peakHeap - heapAtStart),
    // Only with --expose-gc: the peak of the heap after a collection.
    retainedGrowthMiB: global.gc === undefined ? undefined : mib(peakRetained - heapAtStart)
  }))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
