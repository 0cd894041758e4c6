// Benchmarks of @agentos/core: token counting (the issue's 1 MB figure),
// exact pricing and id generation. Run: pnpm --filter @agentos/core bench
import { Bench } from "@agentos/testkit"
import * as Effect from "effect/Effect"
import { countTokens as cl100kCount } from "gpt-tokenizer/encoding/cl100k_base"
import { countTokens as o200kCount } from "gpt-tokenizer/encoding/o200k_base"
import * as IdGenerator from "../src/IdGenerator.js"
import * as Pricing from "../src/Pricing.js"
import * as TokenCounter from "../src/TokenCounter.js"
import * as TokenUsage from "../src/TokenUsage.js"

const WORDS = (
  "the agent reads a task from the queue and asks the model for a plan then it calls a tool " +
  "checks the result writes a summary and stores the state so that another agent can continue " +
  "when a request fails the supervisor retries it with backoff and sends it to the dead letter queue " +
  "budget tokens cost latency context memory decay relevance workflow checkpoint resume router model"
).split(" ")

/** About `bytes` of English-like prose, from a seeded generator (same text every run). */
const prose = (bytes: number): string => {
  let seed = 42
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
  const parts: Array<string> = []
  let size = 0
  let sentence = 0
  while (size < bytes) {
    let word = WORDS[Math.floor(next() * WORDS.length)]!
    if (sentence === 0) word = word[0]!.toUpperCase() + word.slice(1)
    sentence++
    const end = sentence > 8 && next() < 0.15
    const piece = end ? `${word}. ` : next() < 0.05 ? `${word}, ` : `${word} `
    if (end) sentence = 0
    parts.push(piece)
    size += piece.length
  }
  return parts.join("").slice(0, bytes)
}

const main = async () => {
  const figures: Array<Bench.Figure> = []
  const text = prose(1_000_000)

  const o200k = await Effect.runPromise(TokenCounter.makeExact("o200k_base"))
  const cl100k = await Effect.runPromise(TokenCounter.makeExact("cl100k_base"))
  const special = { disallowedSpecial: new Set<string>() }

  for (
    const [counter, direct, name] of [[o200k, o200kCount, "o200k_base"], [cl100k, cl100kCount, "cl100k_base"]] as const
  ) {
    const comparison = await Bench.compare(
      {
        name: "TokenCounter",
        run: async (n) => {
          for (let i = 0; i < n; i++) counter.count(text)
        }
      },
      {
        name: "gpt-tokenizer",
        run: async (n) => {
          for (let i = 0; i < n; i++) direct(text, special)
        }
      },
      { ops: 1, rounds: 5, warmupOps: 1 }
    )
    figures.push(Bench.comparedFigure({
      name: `TokenCounter.count ${name}, 1 MB of English prose`,
      comparison,
      baselineName: "gpt-tokenizer countTokens called directly",
      config: { encoding: name, textBytes: text.length },
      unit: "ms",
      target: { source: "issue #2", description: "well under a second for 1 MB", max: 1000 }
    }))
  }

  const approxMs = (await Bench.measure(
    {
      name: "approximate",
      run: async (n) => {
        for (let i = 0; i < n; i++) TokenCounter.approximate.count(text)
      }
    },
    { ops: 5, rounds: 7 }
  )) / 1000
  const exact = o200k.count(text)
  const approx = TokenCounter.approximate.count(text)
  figures.push({
    name: "TokenCounter.approximate count, 1 MB of English prose",
    value: Bench.round(approxMs),
    unit: "ms",
    better: "lower",
    config: { encoding: "approximate", textBytes: text.length },
    note: `approximate ${approx} vs exact o200k ${exact} tokens: ${((approx / exact - 1) * 100).toFixed(1)}% over`
  })
  figures.push({
    name: "TokenCounter.approximate over-count against o200k on English prose",
    value: Bench.round((approx / exact - 1) * 100),
    unit: "%",
    better: "lower",
    config: { textBytes: text.length }
  })

  // Exact (BigInt, rounded up) cost against the float formula it replaces.
  const pricing = Pricing.make({ input: 2_500_000, cachedInput: 1_250_000, output: 10_000_000 })
  const usage = TokenUsage.make({ inputTokens: 1_234, cachedInputTokens: 200, outputTokens: 567 })
  let sink = 0
  const cost = await Bench.compare(
    {
      name: "Pricing.cost",
      run: async (n) => {
        for (let i = 0; i < n; i++) sink += Pricing.cost(pricing, usage)
      }
    },
    {
      name: "float",
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          sink += ((usage.inputTokens - 200) * 2.5 + 200 * 1.25 + usage.outputTokens * 10) / 1e6
        }
      }
    },
    { ops: 200_000, rounds: 7 }
  )
  figures.push(Bench.comparedFigure({
    name: "Pricing.cost per call (exact, BigInt, rounded up)",
    comparison: cost,
    baselineName: "float dollars formula (inexact)",
    config: {},
    note: "the price of exactness; both well under a microsecond"
  }))

  const ids = await Bench.measure(
    {
      name: "IdGenerator",
      run: (n) => Effect.runPromise(Effect.asVoid(Effect.repeatN(IdGenerator.makeUlid.next, n - 1)))
    },
    { ops: 100_000, rounds: 5 }
  )
  figures.push({
    name: "IdGenerator.layer next id (ULID-style)",
    value: Bench.round(1e6 / ids),
    unit: "ids/s",
    better: "higher",
    config: {}
  })

  if (sink === -1) console.log(sink)
  const file = Bench.writeResults("core", "pnpm --filter @agentos/core bench", figures)
  for (const figure of figures) {
    console.log(
      `${figure.name}: ${figure.value} ${figure.unit}${
        figure.ratio === undefined ? "" : ` (ratio ${figure.ratio} vs ${figure.baseline?.name})`
      }`
    )
  }
  console.log(`wrote ${file}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
