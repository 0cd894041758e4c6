/**
 * The routing rule, written once: every model of the catalog is judged
 * against every constraint of the request, all reasons kept, then the
 * strategy picks among the models that qualify.
 */
import * as Complexity from "@agentos/core/Complexity"
import type * as Money from "@agentos/core/Money"
import * as Pricing from "@agentos/core/Pricing"
import type * as TokenUsage from "@agentos/core/TokenUsage"
import { NoEligibleModel, type ReasonKind, type Rejection } from "../Errors.js"
import type * as Model from "../Model.js"
import type * as Route from "../Route.js"

/** A request with its tokens and complexity known. */
export interface Resolved {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly maxOutputTokens: number
  readonly complexity: Complexity.Complexity
  readonly request: Route.RouteRequest
}

export interface Settings {
  readonly strategy: Route.Strategy
  /** The reference model's name; undefined: the most expensive model that can take the request. */
  readonly reference: string | undefined
  /** Extra input tokens reserved for tokenizer differences, in percent. */
  readonly marginPercent: number
}

const usage = (inputTokens: number, outputTokens: number): TokenUsage.TokenUsage => ({
  inputTokens,
  outputTokens,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  source: "estimated"
})

/**
 * The output cap a call enforces and reserves: the request's
 * `maxOutputTokens`, else its expected output but at least one token (a
 * provider refuses `max_tokens: 0`). One rule for `route` and `decide`.
 */
export const maxOutputTokensOf = (request: {
  readonly outputTokens: number
  readonly maxOutputTokens?: number | undefined
}): number => request.maxOutputTokens ?? Math.max(1, request.outputTokens)

/** The input tokens a reservation holds: the input plus the margin, rounded up. */
export const reservedInput = (inputTokens: number, marginPercent: number): number =>
  inputTokens + Math.ceil((inputTokens * marginPercent) / 100)

/** What a reservation for this call on this model holds. */
export const reserveCost = (model: Model.Model, resolved: Resolved, marginPercent: number): Money.Money =>
  Pricing.cost(
    model.pricing,
    usage(reservedInput(resolved.inputTokens, marginPercent), resolved.maxOutputTokens)
  )

/** Estimated latency: time to first token, then the output at output speed. */
const latencyOf = (timeToFirstTokenMillis: number, outputTokensPerSecond: number, outputTokens: number): number =>
  timeToFirstTokenMillis + (outputTokens * 1000) / outputTokensPerSecond

/** A model's estimated latency for `outputTokens` of output. */
export const latency = (model: Model.Model, outputTokens: number): number =>
  latencyOf(model.timeToFirstTokenMillis, model.outputTokensPerSecond, outputTokens)

const hasAll = (have: ReadonlyArray<string>, wanted: ReadonlyArray<string> | undefined): boolean => {
  if (wanted === undefined) return true
  for (let i = 0; i < wanted.length; i++) if (!have.includes(wanted[i]!)) return false
  return true
}

const CAPABILITY_BITS: Readonly<Record<Model.Capability, number>> = { tools: 1, vision: 2, json: 4, streaming: 8 }
const capabilityBits = (capabilities: ReadonlyArray<Model.Capability> | undefined): number => {
  let bits = 0
  if (capabilities !== undefined) {
    for (let i = 0; i < capabilities.length; i++) bits |= CAPABILITY_BITS[capabilities[i]!]
  }
  return bits
}

/**
 * What each decision reads of a catalog's models, laid out once per catalog
 * (its models array is the key) in flat arrays: complexity ranks by
 * `Complexity.rank`, capabilities as bits, limits, speeds, and prices as
 * objects of one shape. Decoded models and hand-made variants have many
 * shapes, and reading their fields in the loop cost more than judging them.
 * These are facts of the catalog, not decisions: every decision still
 * judges every model against its request.
 */
interface Layout {
  readonly names: ReadonlyArray<string>
  readonly providers: ReadonlyArray<string>
  readonly minRank: Int8Array
  readonly maxRank: Int8Array
  readonly capabilities: Int8Array
  readonly contextWindow: Float64Array
  readonly maxOutputTokens: Float64Array
  readonly timeToFirstTokenMillis: Float64Array
  readonly outputTokensPerSecond: Float64Array
  readonly pricing: ReadonlyArray<Pricing.ModelPricing>
}
const layouts = new WeakMap<ReadonlyArray<Model.Model>, Layout>()
const layoutOf = (models: ReadonlyArray<Model.Model>): Layout => {
  let layout = layouts.get(models)
  if (layout === undefined) {
    const n = models.length
    const l = {
      names: models.map((m) => m.name),
      providers: models.map((m) => m.provider),
      minRank: new Int8Array(n),
      maxRank: new Int8Array(n),
      capabilities: new Int8Array(n),
      contextWindow: new Float64Array(n),
      maxOutputTokens: new Float64Array(n),
      timeToFirstTokenMillis: new Float64Array(n),
      outputTokensPerSecond: new Float64Array(n),
      pricing: models.map((m): Pricing.ModelPricing => ({
        input: m.pricing.input,
        output: m.pricing.output,
        cachedInput: m.pricing.cachedInput,
        tiers: m.pricing.tiers
      }))
    }
    for (let i = 0; i < n; i++) {
      const m = models[i]!
      l.minRank[i] = Complexity.rank(m.complexity.min)
      l.maxRank[i] = Complexity.rank(m.complexity.max)
      l.capabilities[i] = capabilityBits(m.capabilities)
      l.contextWindow[i] = m.contextWindow
      l.maxOutputTokens[i] = m.maxOutputTokens
      l.timeToFirstTokenMillis[i] = m.timeToFirstTokenMillis
      l.outputTokensPerSecond[i] = m.outputTokensPerSecond
    }
    layout = l
    layouts.set(models, layout)
  }
  return layout
}

/** Reasons in the order they are judged; a model's reasons are a bit set over this list. */
const KINDS: ReadonlyArray<ReasonKind> = [
  "provider-excluded",
  "missing-tag",
  "complexity-out-of-range",
  "context-too-small",
  "missing-capability",
  "too-slow",
  "over-cost-ceiling",
  "over-budget",
  "not-preferred",
  "outranked",
  "cooling-down",
  "rate-limited",
  "failed-this-call",
  "no-provider"
]
const PROVIDER = 1
const TAG = 2
const COMPLEXITY = 4
const CONTEXT = 8
const CAPABILITY = 16
const SLOW = 32
const COST = 64
const BUDGET = 128
const NOT_PREFERRED = 256
const OUTRANKED = 512
/** The reasons a caller adds from outside the catalog (the routed model's health and limits). */
export const COOLING_DOWN = 1024
export const RATE_LIMITED = 2048
export const FAILED_THIS_CALL = 4096
export const NO_PROVIDER = 8192

/**
 * The reason list of each bit set, built once per set on first use and
 * shared (frozen): a table of the ten kinds' combinations, not a cache of
 * decisions — every decision still judges every model.
 */
const lists: Array<ReadonlyArray<ReasonKind> | undefined> = new Array(1 << KINDS.length)
const reasonList = (mask: number): ReadonlyArray<ReasonKind> => {
  let list = lists[mask]
  if (list === undefined) {
    const kinds: Array<ReasonKind> = []
    for (let bit = 0; bit < KINDS.length; bit++) if ((mask & (1 << bit)) !== 0) kinds.push(KINDS[bit]!)
    list = Object.freeze(kinds)
    lists[mask] = list
  }
  return list
}

const scratch = { masks: [] as Array<number>, costs: [] as Array<number>, latencies: [] as Array<number> }

export type Outcome =
  | { readonly _tag: "Chosen"; readonly decision: Route.RouteDecision }
  | { readonly _tag: "None"; readonly rejections: ReadonlyArray<Rejection> }

/**
 * Judges every model and chooses. `remaining` is what the tightest spend
 * scope has left (undefined: no scope given).
 */
export const decide = (
  models: ReadonlyArray<Model.Model>,
  resolved: Resolved,
  settings: Settings,
  remaining: number | undefined,
  exclude?: (model: Model.Model, tokens: number) => number
): Outcome => {
  const request = resolved.request
  const strategy = request.strategy ?? settings.strategy
  const layout = layoutOf(models)
  const rank = Complexity.rank(resolved.complexity)
  const requires = capabilityBits(request.requires)
  const allow = request.allowProviders
  const deny = request.denyProviders
  const tags = request.tags
  const needed = resolved.inputTokens + resolved.maxOutputTokens
  const expected = usage(resolved.inputTokens, resolved.outputTokens)
  const n = models.length
  // Scratch space reused by every decision (decide runs synchronously, start
  // to end, so no two decisions share it at once).
  const masks = scratch.masks
  const costs = scratch.costs
  const latencies = scratch.latencies
  let best = -1
  let preferenceIndex = Number.MAX_SAFE_INTEGER
  const preference = strategy._tag === "preference" ? strategy.models : undefined
  const maxLatency = request.maxLatencyMillis
  const maxCost = request.maxCost
  const outputTokens = resolved.outputTokens
  const maxOutputTokens = resolved.maxOutputTokens
  const reservedUsage = remaining === undefined
    ? undefined
    : usage(reservedInput(resolved.inputTokens, settings.marginPercent), maxOutputTokens)
  const names = layout.names
  for (let i = 0; i < n; i++) {
    let mask = 0
    if (allow !== undefined || deny !== undefined) {
      const provider = layout.providers[i]!
      if ((allow !== undefined && !allow.includes(provider)) || (deny !== undefined && deny.includes(provider))) {
        mask |= PROVIDER
      }
    }
    if (tags !== undefined && !hasAll(models[i]!.tags, tags)) mask |= TAG
    if (rank < layout.minRank[i]! || rank > layout.maxRank[i]!) mask |= COMPLEXITY
    if (needed > layout.contextWindow[i]! || maxOutputTokens > layout.maxOutputTokens[i]!) mask |= CONTEXT
    if ((layout.capabilities[i]! & requires) !== requires) mask |= CAPABILITY
    const millis = latencyOf(layout.timeToFirstTokenMillis[i]!, layout.outputTokensPerSecond[i]!, outputTokens)
    if (maxLatency !== undefined && millis > maxLatency) mask |= SLOW
    const pricing = layout.pricing[i]!
    const cost = Pricing.cost(pricing, expected)
    if (maxCost !== undefined && cost > maxCost) mask |= COST
    if (reservedUsage !== undefined && Pricing.cost(pricing, reservedUsage) > remaining!) mask |= BUDGET
    if (exclude !== undefined) mask |= exclude(models[i]!, needed)
    let index = -1
    if (preference !== undefined) {
      index = preference.indexOf(names[i]!)
      if (index < 0) mask |= NOT_PREFERRED
    }
    masks[i] = mask
    costs[i] = cost
    latencies[i] = millis
    if (mask === 0) {
      if (best < 0) {
        best = i
        preferenceIndex = index
      } else {
        const bCost = costs[best]!
        const bLatency = latencies[best]!
        let better: boolean
        switch (strategy._tag) {
          case "cheapest":
            better = cost < bCost ||
              (cost === bCost && (millis < bLatency || (millis === bLatency && names[i]! < names[best]!)))
            break
          case "fastest":
            better = millis < bLatency ||
              (millis === bLatency && (cost < bCost || (cost === bCost && names[i]! < names[best]!)))
            break
          case "preference":
            better = index < preferenceIndex
            break
        }
        if (better) {
          best = i
          preferenceIndex = index
        }
      }
    }
  }
  const rejected: Array<Rejection> = new Array(best < 0 ? n : n - 1)
  for (let i = 0, j = 0; i < n; i++) {
    if (i === best) continue
    rejected[j++] = {
      model: names[i]!,
      reasons: reasonList(masks[i] === 0 ? OUTRANKED : masks[i]!),
      estimatedCost: costs[i]!,
      estimatedLatencyMillis: latencies[i]!
    }
  }
  if (best < 0) return { _tag: "None", rejections: rejected }
  // The reference: the configured model, or the most expensive that can take
  // the request (its context fits and it has the capabilities).
  let reference = -1
  if (settings.reference !== undefined) {
    reference = models.findIndex((m) => m.name === settings.reference)
  } else {
    for (let i = 0; i < n; i++) {
      if ((masks[i]! & (CONTEXT | CAPABILITY)) === 0 && (reference < 0 || costs[i]! > costs[reference]!)) reference = i
    }
  }
  const chosen = models[best]!
  const chosenCost = costs[best]! as Money.Money
  return {
    _tag: "Chosen",
    decision: {
      model: chosen,
      estimatedCost: chosenCost,
      estimatedLatencyMillis: latencies[best]!,
      reserveCost: reserveCost(chosen, resolved, settings.marginPercent),
      inputTokens: resolved.inputTokens,
      outputTokens: resolved.outputTokens,
      maxOutputTokens: resolved.maxOutputTokens,
      complexity: resolved.complexity,
      reference: reference < 0
        ? undefined
        : { model: models[reference]!.name, estimatedCost: costs[reference]! as Money.Money },
      saving: (reference < 0 ? 0 : costs[reference]! - chosenCost) as Money.Money,
      rejected
    }
  }
}

/**
 * The error of a request no model can take. It is an answer, not a fault:
 * built without a stack trace (as Effect builds its own failures), which
 * cost more than the decision itself (measured: about a quarter of a
 * refused decision's time).
 */
export const noEligibleModel = (rejections: ReadonlyArray<Rejection>): NoEligibleModel => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new NoEligibleModel({ rejections }, true)
  } finally {
    Error.stackTraceLimit = limit
  }
}
