/**
 * The routed model's view of each model's health, judged by `Clock` time
 * passed in: cooldowns after repeated retryable failures or a `Retry-After`,
 * and requests- and tokens-per-minute limits per model and per provider
 * over a sliding minute. Every method runs synchronously, so a check and
 * its record are one step.
 */
import type * as Model from "../Model.js"
import type * as Router from "../Router.js"

export interface Limit {
  readonly requestsPerMinute?: number | undefined
  readonly tokensPerMinute?: number | undefined
}

export interface Settings {
  readonly failuresBeforeCooldown: number
  readonly cooldownMillis: number
  readonly models: ReadonlyMap<string, Limit>
  readonly providers: ReadonlyMap<string, Limit>
}

const MINUTE = 60_000
const NONE: ReadonlyArray<Router.Exclusion> = []
const COOLING: ReadonlyArray<Router.Exclusion> = ["cooling-down"]
const LIMITED: ReadonlyArray<Router.Exclusion> = ["rate-limited"]
const BOTH: ReadonlyArray<Router.Exclusion> = ["cooling-down", "rate-limited"]

interface Window {
  readonly at: Array<number>
  readonly tokens: Array<number>
  head: number
  total: number
}

export interface Health {
  /** Why the model cannot take a call of `tokens` now, if it cannot. */
  readonly reasons: (model: Model.Model, tokens: number, now: number) => ReadonlyArray<Router.Exclusion>
  /** Records a call about to be sent, if it fits the limits; whether it did. */
  readonly admit: (model: Model.Model, tokens: number, now: number) => boolean
  readonly succeeded: (model: string) => void
  /** A retryable failure; with `retryAfterMillis`, the model cools down at least that long. */
  readonly failed: (model: string, now: number, retryAfterMillis: number | undefined) => void
  readonly coolingUntil: (model: string) => number
}

export const make = (settings: Settings): Health => {
  const failures = new Map<string, number>()
  const cooling = new Map<string, number>()
  const windows = new Map<string, Window>()

  const windowOf = (key: string): Window => {
    let w = windows.get(key)
    if (w === undefined) {
      w = { at: [], tokens: [], head: 0, total: 0 }
      windows.set(key, w)
    }
    return w
  }
  const prune = (w: Window, now: number) => {
    while (w.head < w.at.length && w.at[w.head]! <= now - MINUTE) {
      w.total -= w.tokens[w.head]!
      w.head++
    }
    if (w.head > 1024 && w.head * 2 > w.at.length) {
      w.at.splice(0, w.head)
      w.tokens.splice(0, w.head)
      w.head = 0
    }
  }
  const fits = (key: string, limit: Limit | undefined, tokens: number, now: number): boolean => {
    if (limit === undefined) return true
    const w = windowOf(key)
    prune(w, now)
    const requests = w.at.length - w.head
    if (limit.requestsPerMinute !== undefined && requests + 1 > limit.requestsPerMinute) return false
    if (limit.tokensPerMinute !== undefined && w.total + tokens > limit.tokensPerMinute) return false
    return true
  }
  const record = (key: string, limit: Limit | undefined, tokens: number, now: number) => {
    if (limit === undefined) return
    const w = windowOf(key)
    w.at.push(now)
    w.tokens.push(tokens)
    w.total += tokens
  }
  const limited = (model: Model.Model, tokens: number, now: number) =>
    !fits(`m\u0000${model.name}`, settings.models.get(model.name), tokens, now) ||
    !fits(`p\u0000${model.provider}`, settings.providers.get(model.provider), tokens, now)

  return {
    reasons: (model, tokens, now) => {
      const cool = (cooling.get(model.name) ?? 0) > now
      const rate = limited(model, tokens, now)
      return cool ? (rate ? BOTH : COOLING) : rate ? LIMITED : NONE
    },
    admit: (model, tokens, now) => {
      if ((cooling.get(model.name) ?? 0) > now || limited(model, tokens, now)) return false
      record(`m\u0000${model.name}`, settings.models.get(model.name), tokens, now)
      record(`p\u0000${model.provider}`, settings.providers.get(model.provider), tokens, now)
      return true
    },
    succeeded: (model) => {
      failures.delete(model)
    },
    failed: (model, now, retryAfterMillis) => {
      const count = (failures.get(model) ?? 0) + 1
      failures.set(model, count)
      let until = cooling.get(model) ?? 0
      if (count >= settings.failuresBeforeCooldown) {
        until = Math.max(until, now + settings.cooldownMillis)
        failures.delete(model)
      }
      if (retryAfterMillis !== undefined) until = Math.max(until, now + retryAfterMillis)
      if (until > now) cooling.set(model, until)
    },
    coolingUntil: (model) => cooling.get(model) ?? 0
  }
}
