// Throughput of @agentos/supervisor: no-op tasks at total concurrency 16
// with three priority levels, side by side in this process with p-queue 9
// (with priorities, and FIFO; each given its `timeout` option) and fastq,
// every side decoding the same payload with the same schema. Ours runs the
// full default path: validation, payload decode, ids, timeouts, result
// encode, metrics and a span per task. Run: pnpm --filter @agentos/supervisor bench
// (BENCH_OPS, BENCH_ROUNDS and BENCH_ONLY shorten a run while developing).
import { Bench } from "@agentos/testkit"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import fastq from "fastq"
import PQueue from "p-queue"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"

const SOURCE = "issue #10"
const OPS = Number(process.env.BENCH_OPS ?? 200_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const CONCURRENCY = 16
const TIMEOUT_MILLIS = 60_000

const Payload = Schema.Struct({ id: Schema.Number, query: Schema.String, tags: Schema.Array(Schema.String) })
const decode = Schema.decodeUnknownEither(Payload)
const payload = (i: number) => ({ id: i, query: "effect supervisor benchmarks", tags: ["a", "b"] })
const noop = (input: unknown) => {
  const decoded = decode(input)
  if (Either.isLeft(decoded)) throw decoded.left
  return decoded.right.id
}

const noopType = Task.taskType("noop", { payload: Payload, result: Schema.Number, timeout: TIMEOUT_MILLIS })

const ours = (
  name: string,
  options: { readonly maxQueued?: number; readonly wait: boolean; readonly tracing?: boolean }
) => {
  const runtime = ManagedRuntime.make(Supervisor.layerMemory({
    types: [noopType],
    ...(options.maxQueued === undefined ? {} : { maxQueued: options.maxQueued }),
    ...(options.tracing === undefined ? {} : { tracing: options.tracing }),
    workers: [Task.worker(noopType, { name: "w", maxConcurrent: CONCURRENCY, handler: (p) => Effect.succeed(p.id) })]
  }))
  const contender: Bench.Contender = {
    name,
    run: (ops) =>
      runtime.runPromise(Effect.gen(function*() {
        const supervisor = yield* Supervisor.Supervisor
        const handles: Array<Task.TaskHandle<number>> = new Array(ops)
        for (let i = 0; i < ops; i++) {
          const request = { type: noopType, payload: payload(i), priority: i % 3 }
          handles[i] = options.wait ? yield* supervisor.submitWait(request) : yield* supervisor.submit(request)
        }
        for (let i = 0; i < ops; i++) yield* handles[i]!.await
      }))
  }
  return { contender, dispose: () => runtime.dispose() }
}

const pQueue = (priorities: boolean): Bench.Contender => ({
  name: priorities ? "p-queue 9, priorities" : "p-queue 9, FIFO",
  run: async (ops) => {
    const queue = new PQueue({ concurrency: CONCURRENCY, timeout: TIMEOUT_MILLIS })
    for (let i = 0; i < ops; i++) {
      const input = payload(i)
      void (priorities
        ? queue.add(async () => noop(input), { priority: 2 - (i % 3) })
        : queue.add(async () => noop(input)))
    }
    await queue.onIdle()
  }
})

const fastQueue: Bench.Contender = {
  name: "fastq",
  run: async (ops) => {
    const queue = fastq.promise(async (input: unknown) => noop(input), CONCURRENCY)
    for (let i = 0; i < ops; i++) void queue.push(payload(i))
    await queue.drained()
  }
}

const perSecond = (micros: number) => Math.round(1_000_000 / micros)

const main = async () => {
  const figures: Array<Bench.Figure> = []
  const config = { tasks: OPS, concurrency: CONCURRENCY, priorities: 3, decode: "Schema.decodeUnknownEither" }
  const batch = ours("supervisor, whole batch queued (maxQueued 250,000)", { maxQueued: 250_000, wait: false })
  const paced = ours("supervisor, default bound (1,000), submitWait", { wait: true })
  const untraced = ours("supervisor, whole batch queued, tracing off", {
    maxQueued: 250_000,
    wait: false,
    tracing: false
  })
  const runs: Array<readonly [Bench.Contender, Bench.Contender, string, number | undefined]> = [
    [batch.contender, pQueue(true), `${OPS / 1000}k no-op tasks vs p-queue with priorities`, 1 / 3],
    [batch.contender, pQueue(false), `${OPS / 1000}k no-op tasks vs p-queue FIFO`, undefined],
    [batch.contender, fastQueue, `${OPS / 1000}k no-op tasks vs fastq`, undefined],
    [
      paced.contender,
      pQueue(true),
      `${OPS / 1000}k no-op tasks, default queue bound with submitWait, vs p-queue with priorities`,
      1 / 3
    ],
    [
      untraced.contender,
      pQueue(true),
      `${OPS / 1000}k no-op tasks, tracing off (tuned), vs p-queue with priorities`,
      undefined
    ]
  ]
  // BENCH_ONLY=<n> runs only the n-th comparison (0: vs p-queue with priorities).
  const only = process.env.BENCH_ONLY === undefined ? undefined : Number(process.env.BENCH_ONLY)
  for (const [mine, peer, name, maxRatio] of only === undefined ? runs : [runs[only]!]) {
    const comparison = await Bench.compare(mine, peer, { ops: OPS, rounds: ROUNDS, warmupOps: Math.min(OPS, 20_000) })
    const figure = Bench.comparedFigure({
      name,
      comparison,
      baselineName: peer.name,
      config: { ...config, ours: mine.name },
      ...(maxRatio === undefined ? {} : { target: { source: SOURCE, maxRatio: Number(maxRatio.toFixed(4)) } }),
      note: `ours ${perSecond(comparison.ours)} tasks/s, ${peer.name} ${perSecond(comparison.baseline)} tasks/s`
    })
    figures.push(figure)
    console.log(
      `${name}: ours ${perSecond(comparison.ours)}/s, ${peer.name} ${
        perSecond(comparison.baseline)
      }/s, time ratio ${figure.ratio}`
    )
  }
  await batch.dispose()
  await paced.dispose()
  await untraced.dispose()
  const file = Bench.writeResults("supervisor", "pnpm --filter @agentos/supervisor bench", figures)
  console.log(`wrote ${file}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
