/**
 * The routing rule, written once: every model of the catalog is judged
 * against every constraint of the request, all reasons kept, then the
 * strategy picks among the models that qualify.
 */
import * as Complexity from "@agentos/core/Complexity"
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

interface Judged {
  readonly model: Model.Model
  readonly cost: Money.Money
  readonly latency: number
  readonly reasons: Array<ReasonKind>
  readonly canTake: boolean
}

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
  const rank = Complexity.rank(resolved.complexity)
  const requires = request.requires
  const allow = request.allowProviders
  const deny = request.denyProviders
  const tags = request.tags
  const needed = resolved.inputTokens + resolved.maxOutputTokens
  const expected = usage(resolved.inputTokens, resolved.outputTokens)
  const judged: Array<Judged> = new Array(models.length)
  let best = -1
  let preferenceIndex = Number.MAX_SAFE_INTEGER
  for (let i = 0; i < models.length; i++) {
    const model = models[i]!
    const reasons: Array<ReasonKind> = []
    if (
      (allow !== undefined && !allow.includes(model.provider)) || (deny !== undefined && deny.includes(model.provider))
    ) {
      reasons.push("provider-excluded")
    }
    if (tags !== undefined && !tags.every((tag) => model.tags.includes(tag))) reasons.push("missing-tag")
    if (rank < Complexity.rank(model.complexity.min) || rank > Complexity.rank(model.complexity.max)) {
      reasons.push("complexity-out-of-range")
    }
    const fits = needed <= model.contextWindow && resolved.maxOutputTokens <= model.maxOutputTokens
    if (!fits) reasons.push("context-too-small")
    const capable = requires === undefined || requires.every((c) => model.capabilities.includes(c))
    if (!capable) reasons.push("missing-capability")
    const millis = latency(model, resolved.outputTokens)
    if (request.maxLatencyMillis !== undefined && millis > request.maxLatencyMillis) reasons.push("too-slow")
    const cost = Pricing.cost(model.pricing, expected)
    if (request.maxCost !== undefined && cost > request.maxCost) reasons.push("over-cost-ceiling")
    if (remaining !== undefined && reserveCost(model, resolved, settings.marginPercent) > remaining) {
      reasons.push("over-budget")
    }
    let index = -1
    if (strategy._tag === "preference") {
      index = strategy.models.indexOf(model.name)
      if (index < 0) reasons.push("not-preferred")
    }
    const entry: Judged = { model, cost, latency: millis, reasons, canTake: fits && capable }
    judged[i] = entry
    if (reasons.length === 0) {
      if (best < 0) {
        best = i
        preferenceIndex = index
      } else {
        const b = judged[best]!
        let better: boolean
        switch (strategy._tag) {
          case "cheapest":
            better = cost < b.cost ||
              (cost === b.cost && (millis < b.latency || (millis === b.latency && model.name < b.model.name)))
            break
          case "fastest":
            better = millis < b.latency ||
              (millis === b.latency && (cost < b.cost || (cost === b.cost && model.name < b.model.name)))
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
  const rejected: Array<Rejection> = []
  for (let i = 0; i < judged.length; i++) {
    if (i === best) continue
    const j = judged[i]!
    if (j.reasons.length === 0) j.reasons.push("outranked")
    rejected.push({
      model: j.model.name,
      reasons: j.reasons,
      estimatedCost: j.cost,
      estimatedLatencyMillis: j.latency
    })
  }
  if (best < 0) return { _tag: "None", rejections: rejected }
  const chosen = judged[best]!
  let reference: Judged | undefined
  if (settings.reference !== undefined) {
    reference = judged.find((j) => j.model.name === settings.reference)
  } else {
    for (const j of judged) {
      if (j.canTake && (reference === undefined || j.cost > reference.cost)) reference = j
    }
  }
  return {
    _tag: "Chosen",
    decision: {
      model: chosen.model,
      estimatedCost: chosen.cost,
      estimatedLatencyMillis: chosen.latency,
      reserveCost: reserveCost(chosen.model, resolved, settings.marginPercent),
      inputTokens: resolved.inputTokens,
      outputTokens: resolved.outputTokens,
      maxOutputTokens: resolved.maxOutputTokens,
      complexity: resolved.complexity,
      reference: reference === undefined ? undefined : { model: reference.model.name, estimatedCost: reference.cost },
      saving: (reference === undefined ? 0 : reference.cost - chosen.cost) as Money.Money,
      rejected
    }
  }
}
