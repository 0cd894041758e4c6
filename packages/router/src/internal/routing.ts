/**
 * The routing rule, written once: every model of the catalog is judged
 * against every constraint of the request, all reasons kept, then the
 * strategy picks among the models that qualify.
 */
import type * as Complexity from "@agentos/core/Complexity"
import type * as Money from "@agentos/core/Money"
import * as Pricing from "@agentos/core/Pricing"
import type * as TokenUsage from "@agentos/core/TokenUsage"
import type { ReasonKind, Rejection } from "../Errors.js"
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
export const latency = (model: Model.Model, outputTokens: number): number =>
  model.timeToFirstTokenMillis + (outputTokens * 1000) / model.outputTokensPerSecond

/** A level's rank from its first letter (t, s, m, c, e are distinct): no keyed lookup in the loop. */
const rankOf = (level: Complexity.Complexity): number => {
  switch (level.charCodeAt(0)) {
    case 116: // trivial
      return 0
    case 115: // simple
      return 1
    case 109: // moderate
      return 2
    case 99: // complex
      return 3
    default: // expert
      return 4
  }
}

const hasAll = (have: ReadonlyArray<string>, wanted: ReadonlyArray<string> | undefined): boolean => {
  if (wanted === undefined) return true
  for (let i = 0; i < wanted.length; i++) if (!have.includes(wanted[i]!)) return false
  return true
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
  "outranked"
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
  remaining: number | undefined
): Outcome => {
  const request = resolved.request
  const strategy = request.strategy ?? settings.strategy
  const rank = rankOf(resolved.complexity)
  const requires = request.requires
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
  for (let i = 0; i < n; i++) {
    const model = models[i]!
    let mask = 0
    if (
      (allow !== undefined && !allow.includes(model.provider)) || (deny !== undefined && deny.includes(model.provider))
    ) {
      mask |= PROVIDER
    }
    if (!hasAll(model.tags, tags)) mask |= TAG
    const range = model.complexity
    if (rank < rankOf(range.min) || rank > rankOf(range.max)) mask |= COMPLEXITY
    if (needed > model.contextWindow || resolved.maxOutputTokens > model.maxOutputTokens) mask |= CONTEXT
    if (!hasAll(model.capabilities, requires)) mask |= CAPABILITY
    const millis = latency(model, resolved.outputTokens)
    if (maxLatency !== undefined && millis > maxLatency) mask |= SLOW
    const cost = Pricing.cost(model.pricing, expected)
    if (maxCost !== undefined && cost > maxCost) mask |= COST
    if (remaining !== undefined && reserveCost(model, resolved, settings.marginPercent) > remaining) mask |= BUDGET
    let index = -1
    if (preference !== undefined) {
      index = preference.indexOf(model.name)
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
              (cost === bCost && (millis < bLatency || (millis === bLatency && model.name < models[best]!.name)))
            break
          case "fastest":
            better = millis < bLatency ||
              (millis === bLatency && (cost < bCost || (cost === bCost && model.name < models[best]!.name)))
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
      model: models[i]!.name,
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
