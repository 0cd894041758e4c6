/**
 * How hard a task is, from `trivial` to `expert`; the router maps it to the
 * cheapest model able to do the job.
 *
 * @since 0.1.0
 */
import * as Order_ from "effect/Order"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category schemas
 */
export const Complexity = Schema.Literal("trivial", "simple", "moderate", "complex", "expert")
  .annotations({ identifier: "Complexity" })

/**
 * @since 0.1.0
 * @category models
 */
export type Complexity = typeof Complexity.Type

/**
 * All levels, easiest first.
 *
 * @since 0.1.0
 * @category constants
 */
export const levels: ReadonlyArray<Complexity> = Complexity.literals

/**
 * The level's rank: `trivial` is 0, `expert` is 4.
 *
 * @since 0.1.0
 * @category getters
 */
export const rank = (level: Complexity): number => levels.indexOf(level)

/**
 * Orders levels from easiest to hardest.
 *
 * @since 0.1.0
 * @category instances
 */
export const Order: Order_.Order<Complexity> = Order_.mapInput(Order_.number, rank)

/**
 * Whether a model rated `capability` can handle a task of `required` level.
 *
 * @since 0.1.0
 * @category predicates
 */
export const canHandle = (capability: Complexity, required: Complexity): boolean => rank(capability) >= rank(required)
