// A plain port of the source article's CostAwareRouter.route (pattern 3), over
// the same catalog as ours, for the routing table and the benchmark. It keeps
// the article's rules, defects included: latency counts input tokens at output
// speed, tools and vision are never checked, and when nothing qualifies it
// falls back to the model with the cheapest input price. It computes no
// reasons. Prices are the article's floats (dollars per 1k tokens).
import * as Complexity from "@agentos/core/Complexity"
import type * as Model from "../src/Model.js"

export interface ArticleModel {
  readonly name: string
  readonly costPer1kInput: number
  readonly costPer1kOutput: number
  readonly maxContext: number
  readonly speedTokensPerSec: number
  readonly minComplexity: number
  readonly maxComplexity: number
}

export interface ArticleTask {
  readonly estimatedInputTokens: number
  readonly estimatedOutputTokens: number
  readonly complexity: number
  readonly maxLatencyMs?: number
}

export const fromModel = (m: Model.Model): ArticleModel => ({
  name: m.name,
  costPer1kInput: m.pricing.input / 1e9,
  costPer1kOutput: m.pricing.output / 1e9,
  maxContext: m.contextWindow,
  speedTokensPerSec: m.outputTokensPerSecond,
  minComplexity: Complexity.rank(m.complexity.min) + 1,
  maxComplexity: Complexity.rank(m.complexity.max) + 1
})

export class ArticleRouter {
  monthSpend = 0
  constructor(readonly models: ReadonlyArray<ArticleModel>, readonly monthlyBudget = 100) {}

  estimateCost(model: ArticleModel, task: ArticleTask): number {
    const inputCost = (task.estimatedInputTokens / 1000) * model.costPer1kInput
    const outputCost = (task.estimatedOutputTokens / 1000) * model.costPer1kOutput
    return Math.round((inputCost + outputCost) * 1e6) / 1e6
  }

  estimateLatency(model: ArticleModel, task: ArticleTask): number {
    const totalTokens = task.estimatedInputTokens + task.estimatedOutputTokens
    return (totalTokens / model.speedTokensPerSec) * 1000
  }

  route(task: ArticleTask): { readonly model: ArticleModel; readonly fallback: boolean } {
    const candidates: Array<[ArticleModel, number]> = []
    for (const model of this.models) {
      if (task.complexity < model.minComplexity) continue
      if (task.complexity > model.maxComplexity) continue
      const totalTokens = task.estimatedInputTokens + task.estimatedOutputTokens
      if (totalTokens > model.maxContext) continue
      if (task.maxLatencyMs) {
        if (this.estimateLatency(model, task) > task.maxLatencyMs) continue
      }
      const cost = this.estimateCost(model, task)
      if (this.monthSpend + cost > this.monthlyBudget) continue
      candidates.push([model, cost])
    }
    if (candidates.length === 0) {
      let fallback = this.models[0]!
      for (const m of this.models) if (m.costPer1kInput < fallback.costPer1kInput) fallback = m
      return { model: fallback, fallback: true }
    }
    candidates.sort((a, b) => a[1] - b[1])
    const [chosen, cost] = candidates[0]!
    this.monthSpend += cost
    return { model: chosen, fallback: false }
  }
}
