/**
 * A replaceable estimator of a task's complexity, for callers that do not
 * know it. The default is a documented heuristic over the prompt: it starts
 * at `simple` and moves by the signs below, clamped to `trivial`…`expert`.
 *
 * - question type: classification, extraction, yes/no, labelling,
 *   translation, formatting: −1; analysis, debugging, refactoring,
 *   optimising, trade-offs, "why": +1; proofs, architecture or system
 *   design, novel research: +2 (the strongest sign counts once);
 * - code: a fenced block or code-like lines: +1;
 * - length: above 2,000 approximate tokens +1, above 8,000 +2;
 * - required tools: +1.
 *
 * It is cheap (one pass of regular expressions, no model call) and coarse;
 * provide your own layer (a classifier, a small model) to replace it.
 *
 * @since 0.1.0
 */
import type * as Complexity from "@agentos/core/Complexity"
import { levels } from "@agentos/core/Complexity"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/**
 * What the estimator looks at.
 *
 * @since 0.1.0
 * @category models
 */
export interface Task {
  readonly prompt: string
  readonly requiresTools?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ComplexityEstimatorService {
  readonly estimate: (task: Task) => Complexity.Complexity
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ComplexityEstimator extends Context.Tag("@agentos/router/ComplexityEstimator")<
  ComplexityEstimator,
  ComplexityEstimatorService
>() {}

const EASY =
  /\b(classify|classification|categori[sz]e|extract|label|tag this|yes or no|true or false|sentiment|translate|format|spell-?check|which category)\b/i
const HARDER =
  /\b(analy[sz]e|analysis|debug|refactor|optimi[sz]e|trade-?offs?|compare|explain why|why does|root cause)\b/i
const HARDEST =
  /\b(prove|proof|architecture|system design|design a (system|platform|protocol)|novel|research (plan|agenda)|formal(ly)? verif)/i
const CODE = /```|^\s*(def |class |function |import |const |let |public |#include)|=>|[;{}]\s*$/m

/**
 * The default heuristic (see the module's documentation).
 *
 * @since 0.1.0
 * @category estimators
 */
export const heuristic = (task: Task): Complexity.Complexity => {
  let score = 1
  if (HARDEST.test(task.prompt)) score += 2
  else if (HARDER.test(task.prompt)) score += 1
  else if (EASY.test(task.prompt)) score -= 1
  if (CODE.test(task.prompt)) score += 1
  const approxTokens = task.prompt.length / 4
  if (approxTokens > 8_000) score += 2
  else if (approxTokens > 2_000) score += 1
  if (task.requiresTools === true) score += 1
  return levels[Math.max(0, Math.min(levels.length - 1, score))]!
}

/**
 * The heuristic as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHeuristic: Layer.Layer<ComplexityEstimator> = Layer.succeed(ComplexityEstimator, {
  estimate: heuristic
})
