// The options of the memory layers: their defaults, and their validation
// (InvalidOptions when the layer is built, before anything is opened).
import * as Effect from "effect/Effect"
import type * as AgentMemory from "../AgentMemory.js"
import { InvalidOptions } from "../Errors.js"
import type { Memory, MemoryType, Weights } from "../Memory.js"
import {
  DEFAULT_FREQUENCY_SCALE,
  DEFAULT_HALF_LIFE,
  DEFAULT_HALF_LIVES,
  DEFAULT_ORDER,
  DEFAULT_RECENCY_HALF_LIFE,
  DEFAULT_RELEVANCE_HALF_SCORE,
  DEFAULT_WEIGHTS
} from "../Memory.js"

export const DEFAULT_TEAM = "default"
export const DEFAULT_MAX_ENTRIES = 10_000
export const DEFAULT_TOP_K = 20
export const DEFAULT_CANDIDATES = 200
export const DEFAULT_SYNC_RETENTION_HOURS = 24

export interface Resolved {
  readonly team: string
  readonly maxEntries: number
  readonly evictionBatch: number
  readonly halfLives: Readonly<Record<string, number>>
  readonly floors: Readonly<Record<string, number>>
  readonly weights: Weights
  readonly recencyHalfLife: number
  readonly frequencyScale: number
  readonly relevanceHalfScore: number
  readonly order: ReadonlyArray<MemoryType>
  readonly consolidationKey: (memory: Memory) => string | undefined
  /** In milliseconds. */
  readonly syncRetention: number
}

const positive = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n > 0
const unit = (n: unknown) => typeof n === "number" && n >= 0 && n <= 1

export const resolve = (options: AgentMemory.Options): Effect.Effect<Resolved, InvalidOptions> =>
  Effect.suspend(() => {
    const fail = (message: string) => Effect.fail(new InvalidOptions({ message }))
    const team = options.team ?? DEFAULT_TEAM
    if (typeof team !== "string" || team.length === 0 || team.length > 256) {
      return fail(`team must be a non-empty string of at most 256 characters, got ${String(team)}`)
    }
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    if (!(Number.isSafeInteger(maxEntries) && maxEntries > 0)) {
      return fail(`maxEntries must be a positive integer, got ${String(maxEntries)}`)
    }
    const evictionBatch = options.evictionBatch ?? Math.max(1, Math.ceil(maxEntries / 20))
    if (!(Number.isSafeInteger(evictionBatch) && evictionBatch > 0 && evictionBatch <= maxEntries)) {
      return fail(`evictionBatch must be a positive integer at most maxEntries, got ${String(evictionBatch)}`)
    }
    const halfLives = { ...DEFAULT_HALF_LIVES, ...options.halfLives }
    for (const [type, hours] of Object.entries(halfLives)) {
      if (!positive(hours)) return fail(`the half-life of "${type}" must be a positive number of hours, got ${hours}`)
    }
    const floors = { ...options.floors }
    for (const [type, floor] of Object.entries(floors)) {
      if (!unit(floor)) return fail(`the floor of "${type}" must be within 0–1, got ${floor}`)
    }
    const weights = { ...DEFAULT_WEIGHTS, ...options.weights }
    for (const [name, w] of Object.entries(weights)) {
      if (!(typeof w === "number" && Number.isFinite(w) && w >= 0)) {
        return fail(`the weight "${name}" must be a non-negative number, got ${String(w)}`)
      }
    }
    if (weights.importance + weights.decay + weights.recency + weights.frequency === 0) {
      return fail("the weights of importance, decay, recency and frequency cannot all be 0")
    }
    const recencyHalfLife = options.recencyHalfLifeHours ?? DEFAULT_RECENCY_HALF_LIFE
    if (!positive(recencyHalfLife)) {
      return fail(`recencyHalfLifeHours must be a positive number, got ${recencyHalfLife}`)
    }
    const frequencyScale = options.frequencyScale ?? DEFAULT_FREQUENCY_SCALE
    if (!positive(frequencyScale)) return fail(`frequencyScale must be a positive number, got ${frequencyScale}`)
    const relevanceHalfScore = options.relevanceHalfScore ?? DEFAULT_RELEVANCE_HALF_SCORE
    if (!positive(relevanceHalfScore)) {
      return fail(`relevanceHalfScore must be a positive number, got ${relevanceHalfScore}`)
    }
    const order = options.order ?? DEFAULT_ORDER
    if (!Array.isArray(order) || order.some((t) => typeof t !== "string" || t.length === 0)) {
      return fail("order must be an array of memory types")
    }
    const consolidationKey = options.consolidationKey ?? ((memory: Memory) => memory.text)
    if (typeof consolidationKey !== "function") return fail("consolidationKey must be a function")
    const syncRetentionHours = options.syncRetentionHours ?? DEFAULT_SYNC_RETENTION_HOURS
    if (!positive(syncRetentionHours)) {
      return fail(`syncRetentionHours must be a positive number, got ${String(syncRetentionHours)}`)
    }
    return Effect.succeed({
      syncRetention: syncRetentionHours * 3_600_000,
      team,
      maxEntries,
      evictionBatch,
      halfLives,
      floors,
      weights,
      recencyHalfLife,
      frequencyScale,
      relevanceHalfScore,
      order,
      consolidationKey
    })
  })

// A type is any string, also "constructor" or "__proto__": its half-life and
// floor are own properties or nothing, never inherited ones.
const own = (record: Readonly<Record<string, number>>, type: string): number | undefined =>
  Object.hasOwn(record, type) ? record[type] : undefined

export const halfLifeOf = (resolved: Resolved) => (type: string): number =>
  own(resolved.halfLives, type) ?? DEFAULT_HALF_LIFE

export const floorOf = (resolved: Resolved) => (type: string): number => own(resolved.floors, type) ?? 0
