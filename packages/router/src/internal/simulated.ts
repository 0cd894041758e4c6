/**
 * The simulated provider: an `@effect/ai` `LanguageModel` per catalog model,
 * built with `LanguageModel.make`, that answers from the prompt without a
 * network. Every draw comes from a generator seeded by the provider's seed,
 * the model, the prompt and how many times that model has seen that prompt,
 * so a run is reproducible whatever the interleaving of concurrent calls.
 * Time comes from `Clock` (`TestClock` moves it in tests).
 *
 * Each call's billed tokens (input, and the output delivered — also when the
 * call is interrupted midway) are appended to the billed log, one JSON line
 * per call, fsynced before the call returns.
 */
import * as TokenCounter from "@agentos/core/TokenCounter"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Arbitrary from "effect/Arbitrary"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InvalidOptions } from "../Errors.js"
import type * as Model from "../Model.js"
import * as ModelProvider from "../ModelProvider.js"
import type * as SimulatedProvider from "../SimulatedProvider.js"
import { promptText } from "./prompt.js"

interface Behaviour {
  readonly timeToFirstTokenMillis: number | undefined
  readonly outputTokensPerSecond: number | undefined
  readonly outputTokens: { readonly min: number; readonly max: number }
  readonly rateLimited: number
  readonly serverError: number
  readonly timeout: number
  readonly retryAfterSeconds: number
  readonly timeoutMillis: number
  readonly slowFactor: number
  readonly reportUsage: boolean
}

const behaviourOf = (
  options: SimulatedProvider.Behaviour | undefined,
  base: Behaviour
): Behaviour => ({
  timeToFirstTokenMillis: options?.timeToFirstTokenMillis ?? base.timeToFirstTokenMillis,
  outputTokensPerSecond: options?.outputTokensPerSecond ?? base.outputTokensPerSecond,
  outputTokens: options?.outputTokens ?? base.outputTokens,
  rateLimited: options?.failures?.rateLimited ?? base.rateLimited,
  serverError: options?.failures?.serverError ?? base.serverError,
  timeout: options?.failures?.timeout ?? base.timeout,
  retryAfterSeconds: options?.retryAfterSeconds ?? base.retryAfterSeconds,
  timeoutMillis: options?.timeoutMillis ?? base.timeoutMillis,
  slowFactor: options?.slowFactor ?? base.slowFactor,
  reportUsage: options?.reportUsage ?? base.reportUsage
})

const SEEN_LIMIT = 100_000

const DEFAULTS: Behaviour = {
  timeToFirstTokenMillis: undefined,
  outputTokensPerSecond: undefined,
  outputTokens: { min: 16, max: 256 },
  rateLimited: 0,
  serverError: 0,
  timeout: 0,
  retryAfterSeconds: 1,
  timeoutMillis: 30_000,
  slowFactor: 1,
  reportUsage: true
}

const check = (name: string, b: Behaviour): string | undefined => {
  const rate = (r: number) => Number.isFinite(r) && r >= 0 && r <= 1
  if (!rate(b.rateLimited) || !rate(b.serverError) || !rate(b.timeout)) {
    return `${name}: failure rates must be from 0 to 1`
  }
  if (b.rateLimited + b.serverError + b.timeout > 1) return `${name}: failure rates add up to more than 1`
  if (
    !Number.isSafeInteger(b.outputTokens.min) || !Number.isSafeInteger(b.outputTokens.max) ||
    b.outputTokens.min < 1 || b.outputTokens.max < b.outputTokens.min
  ) {
    return `${name}: outputTokens must be integers with 1 <= min <= max`
  }
  if (b.timeToFirstTokenMillis !== undefined && !(b.timeToFirstTokenMillis >= 0)) {
    return `${name}: timeToFirstTokenMillis must be 0 or more`
  }
  if (b.outputTokensPerSecond !== undefined && !(b.outputTokensPerSecond > 0)) {
    return `${name}: outputTokensPerSecond must be positive`
  }
  if (!(b.slowFactor >= 1) || !Number.isFinite(b.slowFactor)) return `${name}: slowFactor must be 1 or more`
  if (!(b.retryAfterSeconds >= 0) || !Number.isFinite(b.retryAfterSeconds)) {
    return `${name}: retryAfterSeconds must be 0 or more`
  }
  if (!(b.timeoutMillis >= 0) || !Number.isFinite(b.timeoutMillis)) return `${name}: timeoutMillis must be 0 or more`
  return undefined
}

/** FNV-1a over a string, mixed into a seed. */
const hash = (seed: number, text: string): number => {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** mulberry32: a small, fast, seeded generator of numbers in [0, 1). */
const generator = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const FILLER = (
  "the of and to a in is that for it as with on be this are by an from which can we will more first then " +
  "result answer approach data model step case point value time system example option cost risk plan next"
).split(" ")

/** `count` words of plausible text: the prompt's own words mixed with common ones, in sentences. */
const compose = (prompt: string, count: number, random: () => number): Array<string> => {
  // The first 40 distinct words of the prompt: read until they are found, not the whole prompt.
  const seen = new Set<string>()
  const pattern = /[a-z][a-z-]{3,}/g
  const lower = prompt.toLowerCase()
  for (let match = pattern.exec(lower); match !== null && seen.size < 40; match = pattern.exec(lower)) {
    seen.add(match[0])
  }
  const topical = [...seen]
  const words: Array<string> = []
  let sentence = 0
  for (let i = 0; i < count; i++) {
    const pool = topical.length > 0 && random() < 0.4 ? topical : FILLER
    let word = pool[Math.floor(random() * pool.length)]!
    if (sentence === 0) word = word[0]!.toUpperCase() + word.slice(1)
    sentence++
    if (i === count - 1 || (sentence >= 8 && random() < 0.2)) {
      word += "."
      sentence = 0
    }
    words.push(word)
  }
  return words
}

const usageOf = (inputTokens: number, outputTokens: number) => ({
  inputTokens,
  outputTokens,
  totalTokens: inputTokens + outputTokens,
  reasoningTokens: undefined,
  cachedInputTokens: undefined
})

const request = (model: string) => ({
  method: "POST" as const,
  url: `simulated://${model}/generate`,
  urlParams: [],
  hash: Option.none(),
  headers: {}
})

interface Plan {
  readonly call: string
  readonly model: Model.Model
  readonly inputTokens: number
  readonly words: Array<string>
  readonly json: string | undefined
  readonly outputTokens: number
  readonly finish: "stop" | "length"
  readonly failure: "rate-limited" | "server-error" | "timeout" | undefined
  readonly ttft: number
  readonly perTokenMillis: number
  readonly behaviour: Behaviour
}

export interface Simulated {
  readonly provider: ModelProvider.ModelProvider
  readonly languageModel: (model: Model.Model) => Effect.Effect<LanguageModel.Service>
}

export const make = (
  options: SimulatedProvider.Options
): Effect.Effect<Simulated, InvalidOptions, Scope.Scope> =>
  Effect.gen(function*() {
    const seed = options.seed ?? 0
    if (!Number.isSafeInteger(seed)) return yield* new InvalidOptions({ message: "seed must be an integer" })
    const base = behaviourOf(options.defaults, DEFAULTS)
    const baseProblem = check("defaults", base)
    if (baseProblem !== undefined) return yield* new InvalidOptions({ message: baseProblem })
    const behaviours = new Map<string, Behaviour>()
    for (const [name, b] of Object.entries(options.models ?? {})) {
      const behaviour = behaviourOf(b, base)
      const problem = check(name, behaviour)
      if (problem !== undefined) return yield* new InvalidOptions({ message: problem })
      behaviours.set(name, behaviour)
    }
    const timing = options.timing ?? "instant"
    const serves = options.serves
    const counter = Option.getOrElse(
      yield* Effect.serviceOption(TokenCounter.TokenCounter),
      () => TokenCounter.approximate
    )

    // The billed log: one file opened for appending. A writer fiber takes
    // every line waiting, writes them at once and fsyncs (a group commit);
    // each call returns once its line is on disk.
    let append: (line: string) => Effect.Effect<void, unknown> = () => Effect.void
    if (options.billedLog !== undefined) {
      const fs = yield* Effect.serviceOption(FileSystem.FileSystem)
      if (Option.isNone(fs)) {
        return yield* new InvalidOptions({ message: "billedLog needs a FileSystem (NodeFileSystem.layer)" })
      }
      const file = yield* fs.value.open(options.billedLog, { flag: "a" }).pipe(
        Effect.mapError((cause) =>
          new InvalidOptions({ message: `billedLog: cannot open ${options.billedLog}: ${cause.message}` })
        )
      )
      const encoder = new TextEncoder()
      const queue = yield* Queue.unbounded<readonly [string, Deferred.Deferred<void, PlatformError>]>()
      // A batch taken is written and answered whole; when the layer closes,
      // lines still waiting are answered with a defect rather than left hanging.
      yield* Effect.forkScoped(
        Effect.forever(Effect.flatMap(Queue.take(queue), (first) =>
          Effect.uninterruptible(Effect.gen(function*() {
            const batch = [first, ...(yield* Queue.takeAll(queue))]
            const written = yield* Effect.exit(Effect.zipRight(
              file.writeAll(encoder.encode(batch.map(([line]) => line + "\n").join(""))),
              file.sync
            ))
            for (const [, done] of batch) yield* Deferred.done(done, written)
          })))).pipe(
            Effect.onInterrupt(() =>
              Effect.flatMap(Queue.takeAll(queue), (left) =>
                Effect.forEach(
                  left,
                  ([, done]) => Deferred.die(done, new Error("the billed log was closed before this line was written")),
                  { discard: true }
                ))
            )
          )
      )
      append = (line) =>
        Effect.flatMap(
          Deferred.make<void, PlatformError>(),
          (done) => Effect.zipRight(Queue.offer(queue, [line, done]), Deferred.await(done))
        )
    }

    let calls = 0
    // How many times each model has seen each prompt (keyed by a hash), so a
    // repeated prompt draws anew. Bounded: past SEEN_LIMIT keys it starts
    // over, which only matters to a run of more distinct prompts than that.
    const seen = new Map<number, number>()

    /** The longest prefix of `text` (whole code points) that counts at most `limit` tokens. */
    const prefixWithin = (text: string, limit: number): string => {
      const points = Array.from(text)
      let low = 0
      let high = points.length
      while (low < high) {
        const mid = Math.ceil((low + high) / 2)
        if (counter.count(points.slice(0, mid).join("")) <= limit) low = mid
        else high = mid - 1
      }
      return points.slice(0, low).join("")
    }

    const plan = (model: Model.Model, options: LanguageModel.ProviderOptions, cap: number | undefined): Plan => {
      const behaviour = behaviours.get(model.name) ?? base
      const text = promptText(options.prompt)
      const key = hash(seed, `${model.name}\u0000${text}`)
      const occurrence = seen.get(key) ?? 0
      if (seen.size >= SEEN_LIMIT) seen.clear()
      seen.set(key, occurrence + 1)
      const random = generator(hash(key, String(occurrence)))
      const draw = random()
      const failure = draw < behaviour.rateLimited
        ? "rate-limited"
        : draw < behaviour.rateLimited + behaviour.serverError
        ? "server-error"
        : draw < behaviour.rateLimited + behaviour.serverError + behaviour.timeout
        ? "timeout"
        : undefined
      const { max, min } = behaviour.outputTokens
      const wanted = min + Math.floor(random() * (max - min + 1))
      const limit = cap ?? model.maxOutputTokens
      let json: string | undefined
      let truncated = false
      let words: Array<string> = []
      let outputTokens: number
      if (options.responseFormat.type === "json") {
        const schema = options.responseFormat.schema as Schema.Schema<unknown, unknown>
        const [value] = FastCheck.sample(Arbitrary.make(schema), { seed: Math.floor(random() * 2 ** 31), numRuns: 1 })
        json = JSON.stringify(Schema.encodeSync(schema)(value))
        outputTokens = counter.count(json)
        if (outputTokens > limit) {
          // Stopped at the cap, as a provider stops at max_tokens: the JSON is cut short.
          json = prefixWithin(json, limit)
          outputTokens = counter.count(json)
          truncated = true
        }
      } else {
        outputTokens = Math.min(wanted, limit)
        words = compose(text, outputTokens, random)
      }
      const ttft = behaviour.timeToFirstTokenMillis ?? (timing === "catalog" ? model.timeToFirstTokenMillis : 0)
      const speed = behaviour.outputTokensPerSecond ?? (timing === "catalog" ? model.outputTokensPerSecond : Infinity)
      return {
        call: `sim-${++calls}`,
        model,
        inputTokens: counter.count(text),
        words,
        json,
        outputTokens,
        finish: truncated || (json === undefined && wanted > limit) ? "length" : "stop",
        failure,
        ttft: ttft * behaviour.slowFactor,
        perTokenMillis: speed === Infinity ? 0 : (1000 * behaviour.slowFactor) / speed,
        behaviour
      }
    }

    const fail = (p: Plan): Effect.Effect<never, AiError.AiError> => {
      switch (p.failure) {
        case "rate-limited":
          return Effect.fail(
            new AiError.HttpResponseError({
              module: "SimulatedProvider",
              method: "generateText",
              request: request(p.model.name),
              response: {
                status: 429,
                headers: { "retry-after": String(p.behaviour.retryAfterSeconds) }
              },
              reason: "StatusCode",
              description: "rate limited (simulated)"
            })
          )
        case "server-error":
          return Effect.zipRight(
            Effect.sleep(p.ttft),
            Effect.fail(
              new AiError.HttpResponseError({
                module: "SimulatedProvider",
                method: "generateText",
                request: request(p.model.name),
                response: { status: 500, headers: {} },
                reason: "StatusCode",
                description: "internal server error (simulated)"
              })
            )
          )
        default:
          return Effect.zipRight(
            Effect.sleep(p.behaviour.timeoutMillis),
            Effect.fail(
              new AiError.HttpRequestError({
                module: "SimulatedProvider",
                method: "generateText",
                request: request(p.model.name),
                reason: "Transport",
                description: `timed out after ${p.behaviour.timeoutMillis} ms (simulated)`
              })
            )
          )
      }
    }

    /** Appends the call's billed tokens; a log that cannot be written fails the call. */
    const bill = (
      p: Plan,
      reservation: string | undefined,
      status: SimulatedProvider.BilledCall["status"],
      outputTokens: number
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => {
        const entry: SimulatedProvider.BilledCall = {
          call: p.call,
          ...(reservation === undefined ? {} : { reservation }),
          model: p.model.name,
          inputTokens: status === "failed" ? 0 : p.inputTokens,
          outputTokens,
          status,
          at
        }
        return append(JSON.stringify(entry))
      }).pipe(
        Effect.mapError((cause) =>
          new AiError.UnknownError({
            module: "SimulatedProvider",
            method: "bill",
            description: "the billed log could not be written",
            cause
          })
        )
      )

    const failed = (p: Plan, reservation: string | undefined) =>
      fail(p).pipe(
        Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Effect.ignore(bill(p, reservation, "failed", 0)))
      )

    const finishPart = (p: Plan): Response.FinishPartEncoded => ({
      type: "finish",
      reason: p.finish,
      usage: usageOf(p.inputTokens, p.outputTokens)
    })

    const metadata = (p: Plan): Response.ResponseMetadataPartEncoded => ({
      type: "response-metadata",
      id: p.call,
      modelId: p.model.name,
      timestamp: undefined
    })

    const generateText = (model: Model.Model, providerOptions: LanguageModel.ProviderOptions) =>
      Effect.flatMap(ModelProvider.currentCall, (call) => {
        const p = plan(model, providerOptions, Option.getOrUndefined(Option.map(call, (c) => c.maxOutputTokens)))
        const reservation = Option.getOrUndefined(Option.map(call, (c) => c.reservation))
        if (p.failure !== undefined) return failed(p, reservation)
        return Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const start = yield* Clock.currentTimeMillis
            const millis = p.ttft + p.perTokenMillis * p.outputTokens
            const exit = yield* Effect.exit(restore(millis > 0 ? Effect.sleep(millis) : Effect.void))
            if (Exit.isFailure(exit)) {
              // Interrupted midway: the input and the tokens written so far are billed.
              const elapsed = (yield* Clock.currentTimeMillis) - start - p.ttft
              const written = elapsed <= 0
                ? 0
                : p.perTokenMillis === 0
                ? p.outputTokens
                : Math.min(p.outputTokens, Math.floor(elapsed / p.perTokenMillis))
              yield* Effect.ignore(bill(p, reservation, "interrupted", written))
              return yield* Effect.failCause(exit.cause)
            }
            yield* bill(p, reservation, "completed", p.outputTokens)
            const parts: Array<Response.PartEncoded> = [
              metadata(p),
              { type: "text", text: p.json ?? p.words.join(" ") }
            ]
            if (p.behaviour.reportUsage) parts.push(finishPart(p))
            return parts
          })
        )
      })

    /** Deltas of up to eight words (JSON in one delta), each after the time its tokens take. */
    const streamText = (model: Model.Model, providerOptions: LanguageModel.ProviderOptions) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const call = yield* ModelProvider.currentCall
        const p = plan(model, providerOptions, Option.getOrUndefined(Option.map(call, (c) => c.maxOutputTokens)))
        const reservation = Option.getOrUndefined(Option.map(call, (c) => c.reservation))
        if (p.failure !== undefined) return Stream.fromEffect(failed(p, reservation))
        let delivered = 0
        let billed = false
        // However the stream ends before its last part (its consumer stopped
        // or failed, it was interrupted), the request was answered: its input
        // and the output delivered are billed. (The provider's own failures
        // happen before this point, and bill nothing.)
        yield* Effect.addFinalizer(() =>
          billed ? Effect.void : Effect.ignore(bill(p, reservation, "interrupted", delivered))
        )
        const chunks: Array<{ readonly text: string; readonly tokens: number }> = []
        if (p.json !== undefined) chunks.push({ text: p.json, tokens: p.outputTokens })
        else {
          for (let i = 0; i < p.words.length; i += 8) {
            const words = p.words.slice(i, i + 8)
            chunks.push({ text: (i === 0 ? "" : " ") + words.join(" "), tokens: words.length })
          }
        }
        const id = `${p.call}-text`
        const head: Array<Response.StreamPartEncoded> = [metadata(p), { type: "text-start", id }]
        return Stream.concat(
          Stream.fromIterable(head),
          Stream.concat(
            Stream.fromIterable(chunks.map((chunk, i) => ({ chunk, i }))).pipe(
              Stream.mapEffect(({ chunk, i }) => {
                const millis = (i === 0 ? p.ttft : 0) + p.perTokenMillis * chunk.tokens
                const part: Response.StreamPartEncoded = { type: "text-delta", id, delta: chunk.text }
                return Effect.as(
                  Effect.tap(millis > 0 ? Effect.sleep(millis) : Effect.void, () => {
                    delivered += chunk.tokens
                  }),
                  part
                )
              })
            ),
            // Marked billed and written in one uninterruptible step: an
            // interruption waits for the line to be on disk (and the
            // finalizer never skips a line that was not written).
            Stream.fromIterableEffect(Effect.uninterruptible(Effect.suspend(() => {
              billed = true
              return Effect.map(bill(p, reservation, "completed", p.outputTokens), () => {
                const tail: Array<Response.StreamPartEncoded> = [{ type: "text-end", id }]
                if (p.behaviour.reportUsage) tail.push(finishPart(p))
                return tail
              })
            })))
          )
        )
      }))

    const languageModel = (model: Model.Model) =>
      LanguageModel.make({
        generateText: (providerOptions) => generateText(model, providerOptions),
        streamText: (providerOptions) => streamText(model, providerOptions)
      })

    const provider: ModelProvider.ModelProvider = {
      name: options.name ?? "simulated",
      serves: (model) => serves === undefined || serves.includes(model.provider),
      languageModel
    }
    return { provider, languageModel }
  })
