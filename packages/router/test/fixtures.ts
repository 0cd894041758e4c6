// Shared fixtures of the routed-model tests: a small catalog, the layers of
// a routed model over the simulated provider, and a temporary billed log.
import * as Pricing from "@agentos/core/Pricing"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ModelCatalog from "../src/ModelCatalog.js"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.js"
import * as Router from "../src/Router.js"
import * as SimulatedProvider from "../src/SimulatedProvider.js"
import * as SpendLedger from "../src/SpendLedger.js"

const source = [{ url: "https://example.com/prices", title: "test prices", asOf: "2026-12-06", covers: ["price"] }]
export const model = (
  name: string,
  provider: string,
  input: string,
  output: string,
  contextWindow: number,
  capabilities: ReadonlyArray<string>
) => ({
  name,
  provider,
  pricing: { input, output },
  contextWindow,
  maxOutputTokens: 4_000,
  outputTokensPerSecond: 100,
  timeToFirstTokenMillis: 200,
  complexity: { min: "trivial", max: "expert" },
  capabilities,
  sources: source,
  verified: true
})

/** Three models, cheapest first: small (no tools, 8k context), mid, big. */
export const catalog = Effect.runSync(ModelCatalog.fromData({
  asOf: "2026-12-06",
  models: [
    model("small", "alpha", "0.10", "0.40", 8_000, ["json", "streaming"]),
    model("mid", "beta", "1", "4", 128_000, ["tools", "json", "streaming"]),
    model("big", "gamma", "10", "40", 200_000, ["tools", "vision", "json", "streaming"])
  ]
}))

export const tempLog = (): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-router-"))
  return Path.join(dir, "billed.jsonl")
}

export const budgets: SpendLedger.Options["budgets"] = [
  { scope: "team", limit: 100_000_000, period: { unit: "month" } },
  { scope: "tight", limit: 2_000, period: { unit: "month" } },
  { scope: "medium", limit: 50_000, period: { unit: "month" } }
]

/** The routed model over the simulated provider and a memory ledger; the ledger and router stay visible. */
export const routed = (
  simulated: SimulatedProvider.Options,
  options: {
    readonly ledger?: Layer.Layer<SpendLedger.SpendLedger, unknown>
    readonly router?: Router.Options
    readonly routed?: Partial<RoutedLanguageModel.Options>
    /** The simulated provider's file system (default Node's). */
    readonly fileSystem?: Layer.Layer<FileSystem.FileSystem>
  } = {}
) => {
  const ledger = options.ledger ?? SpendLedger.layerMemory({ budgets, sweepInterval: 0 })
  const router = Router.layer({ catalog, ...options.router }).pipe(Layer.provideMerge(ledger))
  // (catalog: options.router.catalog overrides the fixtures' catalog)
  const providers = SimulatedProvider.layer(simulated).pipe(Layer.provide(options.fileSystem ?? NodeFileSystem.layer))
  return RoutedLanguageModel.layer({ scopes: ["team"], ...options.routed }).pipe(
    Layer.provideMerge(Layer.merge(router, providers)),
    Layer.provideMerge(NodeFileSystem.layer)
  )
}

/** What the provider billed for one call, priced from the catalog. */
export const costOf = (billed: SimulatedProvider.BilledCall) =>
  Pricing.cost(catalog.models.find((m) => m.name === billed.model)!.pricing, {
    inputTokens: billed.inputTokens,
    outputTokens: billed.outputTokens,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    source: "reported"
  })
