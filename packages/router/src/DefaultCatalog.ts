/**
 * The default catalog, dated: the article's four models and mainstream
 * OpenAI, Anthropic, Google and open-weight (DeepSeek, Llama) models. Every
 * row cites where its prices and limits come from and when; a row with a
 * figure that could not be checked against its sources is `verified: false`
 * and its `note` says which.
 *
 * How to read the rows:
 *
 * - Prices and limits come from the cited sources. Where a source gives no
 *   cached-input price, none is set: cached input is then charged at the
 *   input price (an over-estimate, the safe side for a budget).
 * - Output speed comes from a cited measurement where one was found
 *   (`covers` includes `"speed"`). Time to first token is not published by
 *   any provider: the rows use an assumption (1 s; 10 s for reasoning
 *   models; a cited figure where one was found) that the note states.
 *   Override both with your own measurements.
 * - Complexity ranges are this catalog's judgement (the article's for its
 *   four models), not a provider's figure.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Model from "./Model.js"
import * as ModelCatalog from "./ModelCatalog.js"

/**
 * The date the catalog's figures were read.
 *
 * @since 0.1.0
 * @category constants
 */
export const asOf = "2026-12-06"

const ANTHROPIC = {
  url: "https://docs.anthropic.com/en/docs/about-claude/pricing",
  title: "Anthropic, Pricing (Claude API documentation): base input, cache hits, output, long context",
  asOf,
  covers: ["price"]
} as const
const DEPLOYBASE_CLAUDE = {
  url: "https://deploybase.ai/articles/claude-api-pricing",
  title: "Deploybase, Claude API Pricing 2026 (context, max output, throughput; prices as of March 21, 2026)",
  asOf: "2026-03-21",
  covers: ["price", "limits", "speed"]
} as const
const DEPLOYBASE_OPENAI = {
  url: "https://deploybase.ai/articles/openai-pricing",
  title:
    "Deploybase, OpenAI Pricing (data from OpenAI's pricing page, March 2026: prices, context, max output, throughput)",
  asOf: "2026-03",
  covers: ["price", "limits", "speed"]
} as const
const TYPINGMIND_NANO = {
  url: "https://custom.typingmind.com/tools/estimate-llm-usage-costs/openai/gpt-4.1-nano",
  title: "TypingMind, GPT-4.1 nano specifications (context 1,047,576 tokens, max output 32,768)",
  asOf,
  covers: ["price", "limits"]
} as const
const DEPLOYBASE_GEMINI = {
  url: "https://deploybase.ai/articles/gemini-api-pricing-2026",
  title: "Deploybase, Gemini API Pricing 2026 (2.5 Pro up to and above 200k tokens, 2.5 Flash; as of March 2026)",
  asOf: "2026-03",
  covers: ["price", "limits"]
} as const
const MORPH_GEMINI = {
  url: "https://www.morphllm.com/gemini-api-pricing",
  title: "Morph, Gemini API pricing (rates from ai.google.dev/gemini-api/docs/pricing)",
  asOf,
  covers: ["price"]
} as const
const AA_FLASH_LITE = {
  url: "https://shadabchow.com/blogs/ai-models/gemini-2-5-flash-lite-reasoning",
  title: "Gemini 2.5 Flash-Lite (Reasoning): median output speed 321 tokens/s, time to first token 17.72 s",
  asOf,
  covers: ["speed"]
} as const
const AA_FLASH = {
  url: "https://shadabchow.com/blogs/ai-models/gemini-2-5-flash-sep-reasoning",
  title:
    "Gemini 2.5 Flash (Sep '25 preview, reasoning): median output speed about 275 tokens/s, time to first token over 11 s",
  asOf,
  covers: ["speed"]
} as const
const DEEPSEEK = {
  url: "https://api-docs.deepseek.com/quick_start/pricing",
  title:
    "DeepSeek API Docs, Models & Pricing (price list in effect from 2025-09-05 16:00 UTC; context, max output, features)",
  asOf: "2025-09-05",
  covers: ["price", "limits"]
} as const
const TOGETHER_8B = {
  url: "https://theneuralbase.com/together-ai/learn/beginner/llama-3-1-8b-pricing/",
  title: "The Neural Base, Llama 3.1 8B pricing on Together AI ($0.20 input, $0.60 output per 1M tokens)",
  asOf,
  covers: ["price"]
} as const

const TTFT_NOTE = "time to first token: an assumption (1 s), not a measured figure"
const TTFT_REASONING_NOTE = "time to first token: an assumption (10 s, a reasoning model), not a measured figure"

const openai = (
  name: string,
  prices: Model.ModelEncoded["pricing"],
  limits: { contextWindow: number; maxOutputTokens: number; outputTokensPerSecond: number },
  complexity: Model.ModelEncoded["complexity"],
  options: { reasoning?: boolean; vision?: boolean; sources?: ReadonlyArray<Model.Source>; note?: string } = {}
): Model.ModelEncoded => ({
  name,
  provider: "openai",
  pricing: prices,
  ...limits,
  timeToFirstTokenMillis: options.reasoning === true ? 10_000 : 1_000,
  complexity,
  capabilities: ["tools", "json", "streaming", ...(options.vision === false ? [] : ["vision" as const])],
  tags: options.reasoning === true ? ["reasoning"] : [],
  sources: [DEPLOYBASE_OPENAI, ...(options.sources ?? [])],
  verified: true,
  note: [
    options.reasoning === true ? TTFT_REASONING_NOTE : TTFT_NOTE,
    "the source gives no cached-input price: cached input is charged at the input price",
    ...(options.note === undefined ? [] : [options.note])
  ].join("; ")
})

const rows: ReadonlyArray<Model.ModelEncoded> = [
  // The article's four models.
  openai(
    "gpt-4.1-nano",
    { input: "0.10", output: "0.40" },
    {
      contextWindow: 1_047_576,
      maxOutputTokens: 32_768,
      outputTokensPerSecond: 82
    },
    { min: "trivial", max: "simple" },
    { sources: [TYPINGMIND_NANO] }
  ),
  openai("gpt-4.1-mini", { input: "0.40", output: "1.60" }, {
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    outputTokensPerSecond: 75
  }, { min: "trivial", max: "moderate" }),
  {
    name: "claude-sonnet-4",
    provider: "anthropic",
    pricing: {
      input: "3",
      output: "15",
      cachedInput: "0.30",
      tiers: [{ aboveInputTokens: 200_000, input: "6", output: "22.50" }]
    },
    contextWindow: 1_000_000,
    maxOutputTokens: 64_000,
    outputTokensPerSecond: 42,
    timeToFirstTokenMillis: 1_000,
    complexity: { min: "moderate", max: "expert" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: [],
    sources: [ANTHROPIC, DEPLOYBASE_CLAUDE],
    verified: true,
    note: `${TTFT_NOTE}; the 1M context needs Anthropic's long-context option, and inputs above 200k tokens are ` +
      "billed at the long-context prices (their cached-input price is not in the source: charged at the tier's input price)"
  },
  {
    name: "claude-opus-4",
    provider: "anthropic",
    pricing: { input: "15", output: "75", cachedInput: "1.50" },
    contextWindow: 200_000,
    maxOutputTokens: 32_000,
    outputTokensPerSecond: 29,
    timeToFirstTokenMillis: 1_000,
    complexity: { min: "complex", max: "expert" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: [],
    sources: [ANTHROPIC, DEPLOYBASE_CLAUDE],
    verified: true,
    note: TTFT_NOTE
  },
  // OpenAI
  openai("gpt-4.1", { input: "2", output: "8" }, {
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    outputTokensPerSecond: 55
  }, { min: "simple", max: "complex" }),
  openai(
    "gpt-4o",
    { input: "2.50", output: "10" },
    {
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      outputTokensPerSecond: 52
    },
    { min: "simple", max: "complex" },
    { note: "the source gives context and max output as 128K and 16K" }
  ),
  openai(
    "gpt-4o-mini",
    { input: "0.15", output: "0.60" },
    {
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      outputTokensPerSecond: 75
    },
    { min: "trivial", max: "moderate" },
    { note: "the source gives context and max output as 128K and 16K" }
  ),
  openai(
    "o3",
    { input: "2", output: "8" },
    {
      contextWindow: 200_000,
      maxOutputTokens: 100_000,
      outputTokensPerSecond: 17
    },
    { min: "moderate", max: "expert" },
    { reasoning: true }
  ),
  openai(
    "o4-mini",
    { input: "1.10", output: "4.40" },
    {
      contextWindow: 200_000,
      maxOutputTokens: 100_000,
      outputTokensPerSecond: 62
    },
    { min: "moderate", max: "expert" },
    { reasoning: true }
  ),
  openai(
    "gpt-5",
    { input: "1.25", output: "10" },
    {
      contextWindow: 272_000,
      maxOutputTokens: 128_000,
      outputTokensPerSecond: 41
    },
    { min: "moderate", max: "expert" },
    { reasoning: true }
  ),
  openai(
    "gpt-5-mini",
    { input: "0.25", output: "2" },
    {
      contextWindow: 272_000,
      maxOutputTokens: 128_000,
      outputTokensPerSecond: 68
    },
    { min: "simple", max: "complex" },
    { reasoning: true }
  ),
  openai(
    "gpt-5-nano",
    { input: "0.05", output: "0.40" },
    {
      contextWindow: 272_000,
      maxOutputTokens: 32_000,
      outputTokensPerSecond: 95
    },
    { min: "trivial", max: "simple" },
    { reasoning: true }
  ),
  // Anthropic
  {
    name: "claude-opus-4-1",
    provider: "anthropic",
    pricing: { input: "15", output: "75", cachedInput: "1.50" },
    contextWindow: 200_000,
    maxOutputTokens: 32_000,
    outputTokensPerSecond: 21,
    timeToFirstTokenMillis: 1_000,
    complexity: { min: "complex", max: "expert" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: [],
    sources: [ANTHROPIC, DEPLOYBASE_CLAUDE],
    verified: true,
    note: TTFT_NOTE
  },
  {
    name: "claude-3-5-haiku",
    provider: "anthropic",
    pricing: { input: "0.80", output: "4", cachedInput: "0.08" },
    contextWindow: 200_000,
    maxOutputTokens: 8_192,
    outputTokensPerSecond: 40,
    timeToFirstTokenMillis: 1_000,
    complexity: { min: "trivial", max: "moderate" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: [],
    sources: [ANTHROPIC],
    verified: false,
    note: `${TTFT_NOTE}; prices checked; the context window, the max output (8,192) and the output speed ` +
      "(taken as Claude 3 Haiku's) are not in the cited sources"
  },
  {
    name: "claude-3-haiku",
    provider: "anthropic",
    pricing: { input: "0.25", output: "1.25", cachedInput: "0.03" },
    contextWindow: 200_000,
    maxOutputTokens: 4_096,
    outputTokensPerSecond: 40,
    timeToFirstTokenMillis: 1_000,
    complexity: { min: "trivial", max: "simple" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: [],
    sources: [ANTHROPIC, DEPLOYBASE_CLAUDE],
    verified: true,
    note: `${TTFT_NOTE}; the source gives the max output as 4K`
  },
  // Google
  {
    name: "gemini-2.5-pro",
    provider: "google",
    pricing: {
      input: "1.25",
      output: "10",
      tiers: [{ aboveInputTokens: 200_000, input: "2.50", output: "15" }]
    },
    contextWindow: 1_000_000,
    maxOutputTokens: 65_536,
    outputTokensPerSecond: 50,
    timeToFirstTokenMillis: 10_000,
    complexity: { min: "moderate", max: "expert" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: ["reasoning"],
    sources: [DEPLOYBASE_GEMINI, MORPH_GEMINI],
    verified: false,
    note: `${TTFT_REASONING_NOTE}; prices and the 1M context checked; the max output (65,536) and the output ` +
      "speed (50 tokens/s) are assumptions not in the cited sources; no cached-input price is set"
  },
  {
    name: "gemini-2.5-flash",
    provider: "google",
    pricing: { input: "0.30", output: "2.50" },
    contextWindow: 1_000_000,
    maxOutputTokens: 65_536,
    outputTokensPerSecond: 275,
    timeToFirstTokenMillis: 11_000,
    complexity: { min: "trivial", max: "complex" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: ["reasoning"],
    sources: [DEPLOYBASE_GEMINI, MORPH_GEMINI, AA_FLASH],
    verified: false,
    note: "prices and the 1M context checked; the max output (65,536) is not in the cited sources; " +
      "speed and time to first token measured with reasoning on; no cached-input price is set"
  },
  {
    name: "gemini-2.5-flash-lite",
    provider: "google",
    pricing: { input: "0.10", output: "0.40" },
    contextWindow: 1_000_000,
    maxOutputTokens: 65_536,
    outputTokensPerSecond: 321,
    timeToFirstTokenMillis: 17_720,
    complexity: { min: "trivial", max: "simple" },
    capabilities: ["tools", "vision", "json", "streaming"],
    tags: [],
    sources: [MORPH_GEMINI, AA_FLASH_LITE],
    verified: false,
    note: "prices checked; the max output (65,536) is not in the cited sources; speed and time to first token " +
      "measured with reasoning on (without it the first token comes far sooner); no cached-input price is set"
  },
  // Open-weight models
  {
    name: "deepseek-chat",
    provider: "deepseek",
    pricing: { input: "0.56", output: "1.68", cachedInput: "0.07" },
    contextWindow: 128_000,
    maxOutputTokens: 8_000,
    outputTokensPerSecond: 30,
    timeToFirstTokenMillis: 1_000,
    complexity: { min: "trivial", max: "complex" },
    capabilities: ["tools", "json", "streaming"],
    tags: ["open-weight"],
    sources: [DEEPSEEK],
    verified: true,
    note: `DeepSeek-V3.1 (non-thinking), open weights; ${TTFT_NOTE}; output speed (30 tokens/s) an assumption ` +
      "not in the cited source; the source gives context and max output as 128K and 8K"
  },
  {
    name: "deepseek-reasoner",
    provider: "deepseek",
    pricing: { input: "0.56", output: "1.68", cachedInput: "0.07" },
    contextWindow: 128_000,
    maxOutputTokens: 64_000,
    outputTokensPerSecond: 30,
    timeToFirstTokenMillis: 10_000,
    complexity: { min: "moderate", max: "expert" },
    capabilities: ["json", "streaming"],
    tags: ["open-weight", "reasoning"],
    sources: [DEEPSEEK],
    verified: true,
    note: `DeepSeek-V3.1 (thinking), open weights; ${TTFT_REASONING_NOTE}; output speed (30 tokens/s) an ` +
      "assumption not in the cited source; no function calling (the source sends tool requests to deepseek-chat)"
  },
  {
    name: "llama-3.1-8b-instruct",
    provider: "together",
    pricing: { input: "0.20", output: "0.60" },
    contextWindow: 128_000,
    maxOutputTokens: 4_096,
    outputTokensPerSecond: 100,
    timeToFirstTokenMillis: 1_000,
    complexity: { min: "trivial", max: "simple" },
    capabilities: ["json", "streaming"],
    tags: ["open-weight"],
    sources: [TOGETHER_8B],
    verified: false,
    note: "open weights (Meta Llama 3.1 8B) served by Together AI; the price is from a third-party tutorial, " +
      "not Together's own pricing page; context, max output and speed are assumptions"
  }
]

/**
 * The default catalog.
 *
 * @since 0.1.0
 * @category catalogs
 */
export const catalog: ModelCatalog.ModelCatalog = Effect.runSync(ModelCatalog.fromData({ asOf, models: rows }))

/**
 * The article's four models (gpt-4.1-nano, gpt-4.1-mini, claude-sonnet-4,
 * claude-opus-4) exactly as the article configures them: its prices, its
 * speeds, its complexity ranges, no time to first token (the article has
 * none) and no capabilities declared. For comparisons with the article.
 *
 * @since 0.1.0
 * @category catalogs
 */
export const article: ModelCatalog.ModelCatalog = Effect.runSync(ModelCatalog.fromData({
  asOf,
  models: [
    ["gpt-4.1-nano", "openai", "0.10", "0.40", 1_048_576, 300, "trivial", "simple"],
    ["gpt-4.1-mini", "openai", "0.40", "1.60", 1_048_576, 200, "trivial", "moderate"],
    ["claude-sonnet-4", "anthropic", "3", "15", 200_000, 150, "moderate", "expert"],
    ["claude-opus-4", "anthropic", "15", "75", 200_000, 80, "complex", "expert"]
  ].map(([name, provider, input, output, context, speed, min, max]) => ({
    name,
    provider,
    pricing: { input, output },
    contextWindow: context,
    maxOutputTokens: context,
    outputTokensPerSecond: speed,
    timeToFirstTokenMillis: 0,
    complexity: { min, max },
    capabilities: [],
    sources: [{
      url: "reference/000_db916c916ac141a6.txt (the source article of DESIGN.md)",
      title: "The source article, pattern 3 (Cost-Aware Task Routing): its ModelConfig rows",
      asOf,
      covers: ["price", "limits", "speed"]
    }],
    verified: false,
    note: "the article's own figures, for comparison; not a price list"
  }))
}))
