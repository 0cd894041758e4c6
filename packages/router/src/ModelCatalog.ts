/**
 * The model catalog: Schema-validated models, loaded from data, JSON or YAML,
 * with a plausibility check of every price at load. A bad catalog is an
 * `InvalidCatalog` naming the model and the field; so is an implausible
 * price (zero, an output price below a thousandth of the input price, or a
 * price a thousand times off the catalog's median), unless the caller asks
 * for the warnings instead.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Yaml from "yaml"
import { InvalidCatalog } from "./Errors.js"
import * as Model from "./Model.js"

/**
 * A catalog as written in a file: the date its figures were read, and its
 * models.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CatalogFile = Schema.Struct({
  asOf: Schema.String.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "a date as YYYY-MM-DD" })),
  models: Schema.Array(Schema.Unknown)
})

/**
 * A loaded catalog: models in the order given, names unique.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelCatalog {
  readonly asOf: string
  readonly models: ReadonlyArray<Model.Model>
  /** Implausible prices accepted with `allowImplausible` (empty otherwise). */
  readonly warnings: ReadonlyArray<InvalidCatalog>
}

/**
 * Options of loading a catalog.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadOptions {
  /** Keep implausible prices as `warnings` instead of failing (default false). */
  readonly allowImplausible?: boolean
}

const fieldOf = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

const firstIssue = (error: ParseResult.ParseError): { field: string; problem: string } => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const issue = issues[0]
  return issue === undefined
    ? { field: "", problem: error.message }
    : { field: fieldOf(issue.path), problem: issue.message }
}

const decodeModel = Schema.decodeUnknownEither(Model.Model)
const decodeFile = Schema.decodeUnknownEither(CatalogFile)

const MAX_FACTOR = 1_000

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The implausible prices of a list of models: a zero price, an output price
 * below a thousandth of the input price, and (with at least three models) an
 * input or output price more than a thousand times above or below the
 * catalog's median for that price.
 *
 * @since 0.1.0
 * @category validation
 */
export const implausible = (models: ReadonlyArray<Model.Model>): ReadonlyArray<InvalidCatalog> => {
  const issues: Array<InvalidCatalog> = []
  const medians = models.length >= 3
    ? {
      input: median(models.map((m) => m.pricing.input)),
      output: median(models.map((m) => m.pricing.output))
    }
    : undefined
  for (const model of models) {
    const { input, output } = model.pricing
    const issue = (field: string, problem: string) =>
      issues.push(new InvalidCatalog({ model: model.name, field, problem }))
    if (input === 0) issue("pricing.input", "a price of zero is implausible for a paid API")
    if (output === 0) issue("pricing.output", "a price of zero is implausible for a paid API")
    if (output * MAX_FACTOR < input) {
      issue(
        "pricing.output",
        `the output price (${output} µ$/M) is below a thousandth of the input price (${input} µ$/M)`
      )
    }
    if (medians !== undefined) {
      for (const field of ["input", "output"] as const) {
        const price = model.pricing[field]
        const mid = medians[field]
        if (price > 0 && mid > 0 && (price > mid * MAX_FACTOR || price * MAX_FACTOR < mid)) {
          issue(
            `pricing.${field}`,
            `${price} µ$/M is more than ${MAX_FACTOR}× off the catalog's median ${field} price (${mid} µ$/M)`
          )
        }
      }
    }
  }
  return issues
}

/**
 * A model with every field present in one order (absent options as
 * `undefined`), so that every model of a catalog has the same shape and the
 * router's loop over them stays monomorphic (measured: about 2× faster per
 * decision on a catalog of mixed rows).
 */
const normalize = (m: Model.Model): Model.Model =>
  ({
    name: m.name,
    provider: m.provider,
    pricing: {
      input: m.pricing.input,
      output: m.pricing.output,
      cachedInput: m.pricing.cachedInput,
      tiers: m.pricing.tiers
    },
    contextWindow: m.contextWindow,
    maxOutputTokens: m.maxOutputTokens,
    outputTokensPerSecond: m.outputTokensPerSecond,
    timeToFirstTokenMillis: m.timeToFirstTokenMillis,
    complexity: { min: m.complexity.min, max: m.complexity.max },
    capabilities: m.capabilities,
    tags: m.tags,
    sources: m.sources,
    verified: m.verified,
    note: m.note
  }) as Model.Model

/**
 * Makes a catalog from models already decoded (for example variants of the
 * default catalog's rows), with the same checks as loading: names unique,
 * prices plausible.
 *
 * @since 0.1.0
 * @category loading
 */
export const make = (
  asOf: string,
  models: ReadonlyArray<Model.Model>,
  options: LoadOptions = {}
): Effect.Effect<ModelCatalog, InvalidCatalog> =>
  Effect.suspend(() => {
    const names = new Set<string>()
    for (const m of models) {
      if (names.has(m.name)) {
        return Effect.fail(new InvalidCatalog({ model: m.name, field: "name", problem: "the name appears twice" }))
      }
      names.add(m.name)
    }
    if (models.length === 0) {
      return Effect.fail(new InvalidCatalog({ model: "", field: "models", problem: "a catalog needs a model" }))
    }
    const warnings = implausible(models)
    if (warnings.length > 0 && options.allowImplausible !== true) return Effect.fail(warnings[0]!)
    return Effect.succeed({ asOf, models: models.map(normalize), warnings })
  })

/**
 * Loads a catalog from decoded data (`{ asOf, models: [...] }`).
 *
 * @since 0.1.0
 * @category loading
 */
export const fromData = (data: unknown, options: LoadOptions = {}): Effect.Effect<ModelCatalog, InvalidCatalog> =>
  Effect.suspend(() => {
    const file = decodeFile(data)
    if (Either.isLeft(file)) return Effect.fail(new InvalidCatalog({ model: "", ...firstIssue(file.left) }))
    const models: Array<Model.Model> = []
    const names = new Set<string>()
    for (let i = 0; i < file.right.models.length; i++) {
      const raw = file.right.models[i]
      const decoded = decodeModel(raw)
      const name = typeof raw === "object" && raw !== null && typeof (raw as { name?: unknown }).name === "string"
        ? (raw as { name: string }).name
        : `#${i}`
      if (Either.isLeft(decoded)) return Effect.fail(new InvalidCatalog({ model: name, ...firstIssue(decoded.left) }))
      if (names.has(decoded.right.name)) {
        return Effect.fail(new InvalidCatalog({ model: name, field: "name", problem: "the name appears twice" }))
      }
      names.add(decoded.right.name)
      models.push(decoded.right)
    }
    return make(file.right.asOf, models, options)
  })

/**
 * Loads a catalog from JSON text.
 *
 * @since 0.1.0
 * @category loading
 */
export const fromJson = (text: string, options?: LoadOptions): Effect.Effect<ModelCatalog, InvalidCatalog> =>
  Effect.suspend(() => {
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (error) {
      return Effect.fail(new InvalidCatalog({ model: "", field: "", problem: `not JSON: ${String(error)}` }))
    }
    return fromData(data, options)
  })

/**
 * Loads a catalog from YAML text.
 *
 * @since 0.1.0
 * @category loading
 */
export const fromYaml = (text: string, options?: LoadOptions): Effect.Effect<ModelCatalog, InvalidCatalog> =>
  Effect.suspend(() => {
    let data: unknown
    try {
      data = Yaml.parse(text)
    } catch (error) {
      return Effect.fail(new InvalidCatalog({ model: "", field: "", problem: `not YAML: ${String(error)}` }))
    }
    return fromData(data, options)
  })

/**
 * The model with this name, if the catalog has it.
 *
 * @since 0.1.0
 * @category getters
 */
export const find = (catalog: ModelCatalog, name: string): Model.Model | undefined =>
  catalog.models.find((m) => m.name === name)
