/**
 * @agentos/router — cost-aware model routing over a cited catalog, explained
 * decisions, and spend accounting that reserves before and settles after
 * every call.
 *
 * The real providers (`@agentos/router/OpenAiProvider`, `AnthropicProvider`,
 * `ChatCompletionsProvider`) are imported by path: their `@effect/ai-*`
 * packages are optional peer dependencies.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as DefaultCatalog from "./DefaultCatalog.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Model from "./Model.js"
/** @since 0.1.0 */
export * as ModelCatalog from "./ModelCatalog.js"
/** @since 0.1.0 */
export * as Route from "./Route.js"
/** @since 0.1.0 */
export * as Spend from "./Spend.js"
/** @since 0.1.0 */
export * as SpendLedger from "./SpendLedger.js"
/** @since 0.1.0 */
export * as ComplexityEstimator from "./ComplexityEstimator.js"
/** @since 0.1.0 */
export * as Router from "./Router.js"
/** @since 0.1.0 */
export * as SpendAdmission from "./SpendAdmission.js"
/** @since 0.2.0 */
export * as ModelProvider from "./ModelProvider.js"
/** @since 0.2.0 */
export * as RoutedLanguageModel from "./RoutedLanguageModel.js"
/** @since 0.2.0 */
export * as SimulatedProvider from "./SimulatedProvider.js"
/** @since 0.2.0 */
export * as DecisionLog from "./DecisionLog.js"
