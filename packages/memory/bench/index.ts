// Benchmarks of @agentos/memory, each side by side in this process with a
// direct port of the source article's AgentMemory (score everything, sort
// everything) or with MiniSearch called directly:
// - recall of the top 20 of 100,000 memories, without and with a query;
// - buildContext at 4,000 tokens;
// - loading 100,000 memories from SQLite (the layer's build).
// Between timed recalls the clock advances a minute and, every few recalls,
// a memory is added and one touched, on both sides, so no cached ranking can
// win. Run: pnpm --filter @agentos/memory bench
import * as Ids from "@agentos/core/Ids"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { Backends, Bench } from "@agentos/testkit"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import MiniSearch from "minisearch"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentMemory from "../src/AgentMemory.js"
import { makeSqlStore } from "../src/internal/sqlStore.js"
import { emptyBatch } from "../src/internal/store.js"
import type * as Memory from "../src/Memory.js"
import { manualClock } from "./clock.js"

const SOURCE = "issue #15"
const N = Number(process.env.MEMORY_BENCH_N ?? 100_000)

// A deterministic text generator: a vocabulary of 3,000 made-up words with
// a Zipf-like pick, 8–20 words per memory.
let seed = 42
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
  return seed / 2_147_483_648
}
const syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe", "gu", "hi", "jo"]
const vocabulary = Array.from({ length: 3000 }, (_, i) => {
  let w = ""
  let n = i + 1
  while (n > 0) {
    w += syllables[n % syllables.length]
    n = Math.floor(n / syllables.length)
  }
  return w
})
const pickWord = () => vocabulary[Math.floor(Math.pow(random(), 2) * vocabulary.length)]!
const text = (i: number) => `${i} ${Array.from({ length: 8 + Math.floor(random() * 13) }, pickWord).join(" ")}`
const TYPES = ["fact", "instruction", "result", "conversation", "decision"] as const

// A clock both sides read.
let now = 1_700_000_000_000
const clock = manualClock(() => now)

// A direct port of the article's AgentMemory (pattern 4), times in seconds.
interface ArticleEntry {
  content: string
  type: string
  createdAt: number
  lastAccessed: number
  accessCount: number
  importance: number
}
const RATES: Record<string, number> = {
  fact: 0.01,
  instruction: 0.005,
  result: 0.1,
  conversation: 0.05,
  decision: 0.02
}
const relevanceScore = (e: ArticleEntry, t: number) => {
  const ageHours = (t - e.createdAt) / 3600
  const recencyHours = (t - e.lastAccessed) / 3600
  const timeFactor = Math.exp(-(RATES[e.type] ?? 0.05) * ageHours)
  const recencyBoost = Math.exp(-0.1 * recencyHours)
  const frequencyBoost = Math.log(1 + e.accessCount) / 5
  const score = e.importance * 0.4 + timeFactor * 0.3 + recencyBoost * 0.2 + frequencyBoost * 0.1
  return Math.min(1, Math.max(0, score))
}
class ArticleMemory {
  entries: Array<ArticleEntry> = []
  add(content: string, type: string, importance: number) {
    const t = now / 1000
    this.entries.push({ content, type, createdAt: t, lastAccessed: t, accessCount: 0, importance })
  }
  recall(topK = 20) {
    const t = now / 1000
    const scored = this.entries.map((e) => [e, relevanceScore(e, t)] as const)
    scored.sort((a, b) => b[1] - a[1])
    const results: Array<ArticleEntry> = []
    for (const [entry] of scored.slice(0, topK)) {
      entry.lastAccessed = t
      entry.accessCount += 1
      results.push(entry)
    }
    return results
  }
  buildContext(maxTokens: number) {
    const memories = this.recall(50)
    const groups = new Map<string, Array<ArticleEntry>>()
    for (const e of memories) {
      if (!groups.has(e.type)) groups.set(e.type, [])
      groups.get(e.type)!.push(e)
    }
    const sections: Array<string> = []
    let totalChars = 0
    const charBudget = maxTokens * 4
    for (const type of ["instruction", "decision", "fact", "conversation", "result"]) {
      const entries = groups.get(type)
      if (entries === undefined) continue
      const lines = [`## ${type[0]!.toUpperCase()}${type.slice(1)}s`]
      for (const e of entries) {
        const line = `- ${e.content}`
        if (totalChars + line.length > charBudget) break
        lines.push(line)
        totalChars += line.length
      }
      if (lines.length > 1) sections.push(lines.join("\n"))
    }
    return sections.join("\n\n")
  }
}

const main = async () => {
  const figures: Array<Bench.Figure> = []
  const config = { memories: N, node: process.version }

  // Ours: the default memory layer as a user gets it (tracing on), exact o200k counts.
  const runtime = ManagedRuntime.make(
    AgentMemory.layerMemory({ maxEntries: 2 * N }).pipe(Layer.provideMerge(TokenCounter.layer))
  )
  const run = <A, E>(effect: Effect.Effect<A, E, AgentMemory.AgentMemory>) =>
    runtime.runPromise(Effect.withClock(effect, clock))
  const memory = await runtime.runPromise(AgentMemory.AgentMemory)
  const article = new ArticleMemory()
  const direct = new MiniSearch<{ id: number; text: string }>({ fields: ["text"], idField: "id" })

  const inputs = Array.from({ length: N }, (_, i) => ({
    text: text(i),
    type: TYPES[i % TYPES.length]!,
    importance: Math.round(random() * 100) / 100
  }))
  let started = performance.now()
  const ids: Array<string> = []
  await run(Effect.forEach(inputs, (input) =>
    Effect.map(memory.add(input), (added) => {
      ids.push(added.memory.id)
      now += 2_000 // 100,000 memories over about 55 hours
    }), { discard: true }))
  const oursAddMicros = ((performance.now() - started) * 1000) / N
  now -= 2_000 * N
  started = performance.now()
  for (const [i, input] of inputs.entries()) {
    article.add(input.text, input.type, input.importance)
    direct.add({ id: i, text: input.text })
    now += 2_000
  }
  console.log(
    `populated: ours ${oursAddMicros.toFixed(1)} µs/add; article + MiniSearch ${
      (((performance.now() - started) * 1000) / N).toFixed(1)
    } µs/add`
  )

  // Between recalls: a minute passes; every 5th recall one memory is added and one touched.
  let step = 0
  const churnOurs = () =>
    Effect.gen(function*() {
      now += 60_000
      if (++step % 5 === 0) {
        const added = yield* memory.add({ text: text(N + step), type: "result", importance: 0.5 })
        yield* memory.touch([ids[step % ids.length]!, added.memory.id])
      }
    })
  let articleStep = 0
  const churnArticle = () => {
    now += 60_000
    if (++articleStep % 5 === 0) {
      article.add(text(N + articleStep), "result", 0.5)
      const e = article.entries[articleStep % article.entries.length]!
      e.accessCount++
      e.lastAccessed = now / 1000
    }
  }
  let directStep = 0
  const churnDirect = () => {
    now += 60_000
    if (++directStep % 5 === 0) direct.add({ id: N + directStep, text: text(N + directStep) })
  }

  const times = (ops: number, f: () => Effect.Effect<unknown, unknown, AgentMemory.AgentMemory>) =>
    run(Effect.forEach(Array.from({ length: ops }), f, { discard: true }))
  const plain = async (ops: number, f: () => void) => {
    for (let i = 0; i < ops; i++) f()
  }

  const recall = await Bench.compare(
    { name: "recall", run: (ops) => times(ops, () => Effect.zipRight(churnOurs(), memory.recall({ topK: 20 }))) },
    {
      name: "article",
      run: (ops) =>
        plain(ops, () => {
          churnArticle()
          article.recall(20)
        })
    },
    { ops: 10, rounds: 7, warmupOps: 5 }
  )
  figures.push(Bench.comparedFigure({
    name: `AgentMemory.recall, top 20 of ${N.toLocaleString("en")}, no query (memory layer)`,
    comparison: recall,
    baselineName: "the article's recall ported directly (score all, sort all)",
    config,
    unit: "ms",
    target: { source: SOURCE, maxRatio: 0.1 },
    note: `median ${
      (recall.ours / 1000).toFixed(2)
    } ms against the issue's 5 ms; each op includes a minute of clock and, every 5th, one add and one touch on both sides`
  }))

  const queries = ["kalo mine", "ruka sato vize", "pomi", "dafe guhi jolo", "neka"]
  let q = 0
  const withQuery = await Bench.compare(
    {
      name: "recall with query",
      run: (ops) =>
        times(ops, () => Effect.zipRight(churnOurs(), memory.recall({ topK: 20, query: queries[q++ % 5]! })))
    },
    {
      name: "MiniSearch.search",
      run: (ops) =>
        plain(ops, () => {
          churnDirect()
          direct.search(queries[q++ % 5]!).slice(0, 20)
        })
    },
    { ops: 10, rounds: 7, warmupOps: 5 }
  )
  figures.push(Bench.comparedFigure({
    name: `AgentMemory.recall, top 20 of ${N.toLocaleString("en")}, with a query (memory layer)`,
    comparison: withQuery,
    baselineName: "MiniSearch.search on the same texts, first 20 hits",
    config,
    unit: "ms",
    note: "ours is the search plus scoring every memory on all five terms; the baseline ranks by BM25 alone"
  }))

  const context = await Bench.compare(
    {
      name: "buildContext",
      run: (ops) => times(ops, () => Effect.zipRight(churnOurs(), memory.buildContext({ maxTokens: 4000 })))
    },
    {
      name: "article build_context",
      run: (ops) =>
        plain(ops, () => {
          churnArticle()
          article.buildContext(4000)
        })
    },
    { ops: 10, rounds: 7, warmupOps: 5 }
  )
  figures.push(Bench.comparedFigure({
    name: `AgentMemory.buildContext, 4,000 tokens of ${N.toLocaleString("en")} (memory layer, exact o200k)`,
    comparison: context,
    baselineName: "the article's build_context ported directly (top 50, chars / 4)",
    config,
    unit: "ms",
    note: "ours counts tokens exactly (o200k) over up to 200 candidates; the article estimates chars / 4 over 50"
  }))
  await runtime.dispose()

  // Loading from SQLite: the rows written once through the SQL store, then
  // the layer built (migrations checked, every live row read and indexed).
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-memory-bench-"))
  const filename = Path.join(directory, "memory.db")
  const sqlite = SqliteClient.layer({ filename })
  await Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* makeSqlStore()
      const at = 1_700_000_000_000
      for (let i = 0; i < N; i += 10_000) {
        const batch: Array<Memory.Memory> = inputs.slice(i, i + 10_000).map((input, j) => ({
          id: Ids.MemoryId.make(`m-${String(i + j).padStart(7, "0")}`),
          team: "default",
          type: input.type,
          text: input.text,
          importance: input.importance,
          metadata: { source: "bench" },
          createdAt: at + (i + j) * 2_000,
          lastAccessedAt: at + (i + j) * 2_000,
          accessCount: 0
        }))
        yield* store.apply("default", { ...emptyBatch, insert: batch })
      }
    }).pipe(Effect.provide(sqlite))
  )
  const loads: Array<number> = []
  const firstQueries: Array<number> = []
  const plainRecalls: Array<number> = []
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now()
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const built = yield* Layer.build(
        AgentMemory.layerSql({ maxEntries: 2 * N }).pipe(
          Layer.provide(Layer.mergeAll(sqlite, TokenCounter.layerApproximate))
        )
      )
      loads.push(performance.now() - t0)
      const m = Context.get(built, AgentMemory.AgentMemory)
      const t1 = performance.now()
      yield* m.recall({ topK: 20 })
      plainRecalls.push(performance.now() - t1)
      const t2 = performance.now()
      yield* m.recall({ topK: 20, query: queries[round]! })
      firstQueries.push(performance.now() - t2)
    })))
  }
  Fs.rmSync(directory, { recursive: true, force: true })
  figures.push({
    name: `AgentMemory.recall on SQLite after the load, top 20 of ${N.toLocaleString("en")}, no query`,
    value: Bench.round(Bench.median(plainRecalls)),
    unit: "ms",
    better: "lower",
    config: { ...config, rounds: 3, backend: "sqlite (file, WAL)" },
    spread: { min: Bench.round(Math.min(...plainRecalls)), max: Bench.round(Math.max(...plainRecalls)) },
    note: "one version read on SQLite, then the in-process scan"
  })
  figures.push({
    name: `AgentMemory.recall on SQLite, the first query after the load, top 20 of ${N.toLocaleString("en")}`,
    value: Bench.round(Bench.median(firstQueries)),
    unit: "ms",
    better: "lower",
    config: { ...config, rounds: 3, backend: "sqlite (file, WAL)" },
    spread: { min: Bench.round(Math.min(...firstQueries)), max: Bench.round(Math.max(...firstQueries)) },
    note: "the first query builds the MiniSearch index of every loaded memory; later ones pay only for new memories"
  })
  figures.push({
    name: `AgentMemory.layerSql build: load ${N.toLocaleString("en")} memories from SQLite`,
    value: Bench.round(Bench.median(loads)),
    unit: "ms",
    better: "lower",
    config: { ...config, rounds: 3, backend: "sqlite (file, WAL)" },
    spread: { min: Bench.round(Math.min(...loads)), max: Bench.round(Math.max(...loads)) },
    note:
      "a new SQLite connection each round: the migrations check, one SELECT of the live rows, JSON parse, the scoring index (the text index waits for the first query)"
  })

  // The cost of staying in step with other processes: the same recall of the
  // top 20 of 1,000 memories on a SQL layer (one version read per call) and
  // on the memory layer.
  const SMALL = 1_000
  const sqlBackends = [
    { name: "sqlite", layer: Backends.sqlite() },
    ...(Backends.pgUrl() === undefined ? [] : [{ name: "postgres", layer: Backends.postgres() }])
  ]
  for (const backend of sqlBackends) {
    const sqlRuntime = ManagedRuntime.make(
      AgentMemory.layerSql({ team: "sync" }).pipe(
        Layer.provideMerge(Layer.mergeAll(backend.layer, TokenCounter.layerApproximate))
      )
    )
    const memRuntime = ManagedRuntime.make(
      AgentMemory.layerMemory({ team: "sync" }).pipe(
        Layer.provideMerge(TokenCounter.layerApproximate)
      )
    )
    const small = inputs.slice(0, SMALL)
    for (const rt of [sqlRuntime, memRuntime] as const) {
      await rt.runPromise(Effect.flatMap(
        AgentMemory.AgentMemory,
        (m) => Effect.forEach(small, (input) => m.add(input), { discard: true })
      ))
    }
    const recallOn = (rt: typeof memRuntime) => (ops: number) =>
      rt.runPromise(Effect.flatMap(
        AgentMemory.AgentMemory,
        (m) => Effect.forEach(Array.from({ length: ops }), () => m.recall({ topK: 20 }), { discard: true })
      ))
    const sync = await Bench.compare(
      { name: "sql", run: recallOn(sqlRuntime as unknown as typeof memRuntime) },
      { name: "memory", run: recallOn(memRuntime) },
      { ops: 200, rounds: 7, warmupOps: 200 }
    )
    figures.push(Bench.comparedFigure({
      name: `AgentMemory.recall, top 20 of 1,000, ${backend.name} layer (one version read per call)`,
      comparison: sync,
      baselineName: "the same recall on the memory layer",
      config: { memories: SMALL, backend: backend.name },
      note: "the difference is what staying in step with other processes costs a recall when nobody wrote"
    }))
    await sqlRuntime.dispose()
    await memRuntime.dispose()
  }

  for (const figure of figures) {
    console.log(
      `${figure.name}: ${figure.value} ${figure.unit}${
        figure.baseline === undefined
          ? ""
          : ` vs ${figure.baseline.value} (${figure.baseline.name}) ratio ${figure.ratio}`
      }${figure.target === undefined ? "" : ` target met: ${figure.target.met}`}`
    )
  }
  console.log(Bench.writeResults("memory", "pnpm --filter @agentos/memory bench", figures))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
