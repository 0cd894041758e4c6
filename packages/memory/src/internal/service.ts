// The rules of agent memory, written once over the store contract:
// validation, scoring, superseding, consolidation, capacity, the context
// builder, and the in-process index kept in step with the store (every call
// first reads the team's version; when another process wrote since, it
// applies what changed).
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as Ids from "@agentos/core/Ids"
import * as Json from "@agentos/core/Json"
import * as TokenCounter from "@agentos/core/TokenCounter"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as AgentMemory from "../AgentMemory.js"
import * as Embedder from "../Embedder.js"
import { type EmbeddingFailed, InvalidInput, MemoryNotFound, type StoreError } from "../Errors.js"
import type {
  Added,
  AddInput,
  BelowCut,
  Context,
  ContextInput,
  Explanation,
  Memory,
  Recall,
  Recalled,
  RecallInput,
  Stats
} from "../Memory.js"
import { header, line, saturate } from "../Memory.js"
import { MemoryIndex, type ScanInput } from "./memoryIndex.js"
import { mergeMemory } from "./merge.js"
import * as Metrics from "./metrics.js"
import * as options from "./options.js"
import { type Batch, emptyBatch, type Store } from "./store.js"

const HOUR = 3_600_000
const EMBED_BATCH = 256

type AddError = EmbeddingFailed | StoreError

const invalid = (message: string) => Effect.fail(new InvalidInput({ message }))

const isUnit = (n: unknown): n is number => typeof n === "number" && n >= 0 && n <= 1
const nameProblem = (what: string, value: unknown): string | undefined => {
  if (value === undefined) return undefined
  if (typeof value !== "string" || value.trim().length === 0 || value.length > 256) {
    return `${what} must be a non-empty string of at most 256 characters, got ${JSON.stringify(value)}`
  }
  const issue = Json.textIssue(value)
  return issue === undefined ? undefined : `${what} cannot hold ${issue}`
}

const addProblem = (input: AddInput): string | undefined => {
  if (typeof input !== "object" || input === null) return "the input must be an object"
  if (typeof input.text !== "string" || input.text.trim().length === 0) return "text must be a non-empty string"
  const textIssue = Json.textIssue(input.text)
  if (textIssue !== undefined) return `text cannot hold ${textIssue}`
  return nameProblem("type", input.type) ?? (input.type === undefined ? "type is required" : undefined) ??
    // a type names a section of the context: a line break would open another
    (/[\r\n]/.test(input.type) ? "type cannot hold a line break" : undefined) ??
    (input.importance === undefined || isUnit(input.importance)
      ? undefined
      : `importance must be within 0–1, got ${String(input.importance)}`) ??
    nameProblem("agent", input.agent) ?? nameProblem("key", input.key) ?? nameProblem("group", input.group) ??
    (input.floor === undefined || isUnit(input.floor)
      ? undefined
      : `floor must be within 0–1, got ${String(input.floor)}`) ??
    (input.metadata === undefined
      ? undefined
      : typeof input.metadata !== "object" || input.metadata === null || Array.isArray(input.metadata)
      ? "metadata must be a JSON object"
      : Json.findInvalid(input.metadata, "metadata")) ??
    (input.expiresAt === undefined || (typeof input.expiresAt === "number" && Number.isFinite(input.expiresAt))
      ? undefined
      : `expiresAt must be epoch milliseconds, got ${String(input.expiresAt)}`)
}

const scopeProblem = (input: { readonly agent?: string; readonly types?: ReadonlyArray<string> }) =>
  nameProblem("agent", input.agent) ??
    (input.types === undefined || (Array.isArray(input.types) && input.types.every((t) => typeof t === "string"))
      ? undefined
      : "types must be an array of memory types")

const positiveInt = (what: string, value: unknown, max: number): string | undefined =>
  value === undefined || (typeof value === "number" && Number.isSafeInteger(value) && value > 0 && value <= max)
    ? undefined
    : `${what} must be a positive integer of at most ${max}, got ${String(value)}`

export const make = (
  store: Store,
  resolved: options.Resolved
) =>
  Effect.gen(function*() {
    const ids = Option.getOrElse(yield* Effect.serviceOption(IdGenerator.IdGenerator), () => IdGenerator.makeUlid)
    const embedder = yield* Effect.serviceOption(Embedder.Embedder)
    const givenCounter = yield* Effect.serviceOption(TokenCounter.TokenCounter)
    // Loaded once, on first use, in a fiber of its own that callers join: a
    // load run by its first caller and memoized would hand that caller's
    // interruption (its task cancelled, its lease lost) to every later one.
    const loading = Option.isSome(givenCounter)
      ? undefined
      : yield* Effect.cached(Effect.forkDaemon(TokenCounter.makeExact("o200k_base")))
    const counter = loading === undefined
      ? Effect.succeed(Option.getOrThrow(givenCounter))
      : Effect.flatMap(Effect.uninterruptible(loading), Fiber.join)
    const team = resolved.team
    const halfLife = options.halfLifeOf(resolved)
    const recencyRate = Math.LN2 / (resolved.recencyHalfLife * HOUR)
    const index = new MemoryIndex({
      recencyRate,
      halfLife,
      typeFloor: options.floorOf(resolved),
      frequencyScale: resolved.frequencyScale
    }, resolved.consolidationKey)
    const lock = yield* Effect.makeSemaphore(1)

    const embed = (
      texts: ReadonlyArray<string>
    ): Effect.Effect<ReadonlyArray<ReadonlyArray<number>> | undefined, EmbeddingFailed> =>
      Option.isNone(embedder) || texts.length === 0
        ? Effect.succeed(undefined)
        : embedder.value.embed(texts)

    const putAll = (memories: ReadonlyArray<Memory>) =>
      Effect.gen(function*() {
        for (let i = 0; i < memories.length; i += EMBED_BATCH) {
          const chunk = memories.slice(i, i + EMBED_BATCH)
          const vectors = yield* embed(chunk.filter((m) => !index.slotOf.has(m.id)).map((m) => m.text)).pipe(
            // Another process's memories are recalled by BM25 alone when the
            // embedder fails on them; the call that synced does not fail.
            Effect.catchTag(
              "EmbeddingFailed",
              (error) =>
                Effect.as(Effect.logWarning("AgentMemory: embedding failed; indexed without vectors", error), undefined)
            )
          )
          let v = 0
          for (const memory of chunk) {
            if (index.slotOf.has(memory.id)) index.update(memory)
            else index.put(memory, vectors?.[v++])
          }
        }
      })

    const entriesGauge = Metric.tagged(Metrics.entries, "team", team)
    const loaded = yield* store.load(team)
    let version = loaded.version
    yield* putAll(loaded.live)
    yield* Metric.set(entriesGauge, index.size)

    // Brings the index up to the store's version (another process's writes).
    const sync = Effect.gen(function*() {
      const changes = yield* store.changes(team, version)
      if (changes === undefined) return
      if (changes.reset === true) {
        // the log of removed ids was trimmed past our version: what is not live is gone
        const live = new Set<string>(changes.live.map((m) => m.id))
        for (const id of [...index.slotOf.keys()]) if (!live.has(id)) index.remove(id)
      }
      // gone ids last: an id ended after its row was read is never kept
      yield* putAll(changes.live)
      for (const id of changes.gone) index.remove(id)
      version = Math.max(version, changes.version)
      yield* Metric.increment(Metrics.syncs)
      yield* Metric.set(entriesGauge, index.size)
    })

    const write = (batch: Batch) =>
      Effect.map(Effect.flatMap(Clock.currentTimeMillis, (at) => store.apply(team, { ...batch, at })), (applied) => {
        // When another process wrote in between, the next sync fetches both.
        if (applied.version === version + 1) version = applied.version
        return applied
      })

    // The weights divided by their sum, with and without a query (fixed per layer).
    const normalised = (relevance: number) => {
      const w = resolved.weights
      const sum = w.importance + w.decay + w.recency + w.frequency + relevance
      return {
        importance: w.importance / sum,
        decay: w.decay / sum,
        recency: w.recency / sum,
        frequency: w.frequency / sum,
        relevance: relevance / sum
      }
    }
    const weightsWithQuery = normalised(resolved.weights.relevance)
    const weightsWithoutQuery = normalised(0)

    const typeMask = (types: ReadonlyArray<string> | undefined) => {
      if (types === undefined) return undefined
      const mask = new Uint8Array(index.typeNames.length + 1)
      for (const t of types) {
        const code = index.typeCodes.get(t)
        if (code !== undefined) mask[code] = 1
      }
      return mask
    }

    const scanScope = (
      scope: { readonly agent?: string | undefined; readonly includeTeam?: boolean | undefined }
    ) => ({
      agent: scope.agent === undefined ? -2 : index.agentCodes.get(scope.agent) ?? -3,
      includeTeam: scope.agent === undefined || scope.includeTeam !== false
    })

    const scanInput = (
      now: number,
      scope: { readonly agent?: string | undefined; readonly includeTeam?: boolean | undefined },
      types: ReadonlyArray<string> | undefined,
      relevanceOf: Float64Array | undefined,
      minScore: number
    ): ScanInput => ({
      now,
      ...(relevanceOf === undefined ? weightsWithoutQuery : weightsWithQuery),
      ...scanScope(scope),
      types: typeMask(types),
      relevanceOf,
      minScore
    })

    // The relevance of each slot to the last query: one buffer, reused (every
    // use is under the lock, and the slots a query set are zeroed by the next).
    let relBuffer = new Float64Array(0)
    let relSet: Array<number> = []
    const relevanceBuffer = () => {
      if (relBuffer.length < index.capacity) {
        relBuffer = new Float64Array(index.capacity)
        relSet = []
      } else {
        for (const slot of relSet) relBuffer[slot] = 0
        relSet = []
      }
      return relBuffer
    }

    // Only the memories a scan of this scope looks at are scored.
    const relevance = (
      query: string | undefined,
      scope: { readonly agent?: string | undefined; readonly includeTeam?: boolean | undefined }
    ) =>
      Effect.gen(function*() {
        if (query === undefined || query.trim().length === 0) return undefined
        const vectors = yield* embed([query])
        const rel = relevanceBuffer()
        const scoped = scanScope(scope)
        for (const hit of index.search(query, scoped)) {
          rel[hit.id] = saturate(hit.score, resolved.relevanceHalfScore)
          relSet.push(hit.id)
        }
        const q = vectors?.[0]
        if (q !== undefined) {
          for (const [slot, v] of index.vectors) {
            const c = Embedder.cosine(q, v)
            if (c > rel[slot]!) {
              rel[slot] = c
              relSet.push(slot)
            }
          }
        }
        return rel
      })

    const explain = (slot: number, input: ScanInput): Explanation => {
      const age = input.now - index.created[slot]!
      const since = input.now - index.accessed[slot]!
      const term = (value: number, weight: number) => ({ value, weight, contribution: value * weight })
      const importance = term(index.importance[slot]!, input.importance)
      const decay = term(input.undecayed === true || age <= 0 ? 1 : Math.exp(-index.rate[slot]! * age), input.decay)
      const recency = term(since <= 0 ? 1 : Math.exp(-recencyRate * since), input.recency)
      const frequency = term(index.freq[slot]!, input.frequency)
      const rel = input.relevanceOf === undefined ? undefined : term(input.relevanceOf[slot]!, input.relevance)
      const sum = importance.contribution + decay.contribution + recency.contribution + frequency.contribution +
        (rel?.contribution ?? 0)
      const weighted = Math.min(1, Math.max(0, sum))
      const floor = index.floor[slot]!
      return { importance, decay, recency, frequency, relevance: rel, weighted, floor, floored: floor > weighted }
    }

    const sourceOf = (memory: Memory) => memory.agent === undefined ? "team" as const : "agent" as const

    const recallLocked = (input: RecallInput, now: number) =>
      Effect.gen(function*() {
        const topK = input.topK ?? options.DEFAULT_TOP_K
        const rel = yield* relevance(input.query, input)
        const scan = scanInput(now, input, input.types, rel, input.minScore ?? 0)
        const ranked = index.scan(scan, topK)
        const memories: Array<Recalled> = ranked.slots.map((slot, i) => {
          const memory = index.memories[slot]!
          return input.explain === true
            ? { memory, score: ranked.scores[i]!, source: sourceOf(memory), explanation: explain(slot, scan) }
            : { memory, score: ranked.scores[i]!, source: sourceOf(memory) }
        })
        if (input.explain !== true) return { memories } satisfies Recall
        const kept = new Set(ranked.slots)
        const full = ranked.slots.length === topK
        const cut = full ? ranked.scores[ranked.scores.length - 1]! : scan.minScore
        const undecayed = index.scan({ ...scan, undecayed: true }, topK)
        const belowCut: Array<BelowCut> = []
        undecayed.slots.forEach((slot, i) => {
          const u = undecayed.scores[i]!
          if (kept.has(slot) || (full ? u <= cut : u < cut)) return
          const memory = index.memories[slot]!
          belowCut.push({
            memory,
            score: index.scoreOf(slot, scan),
            undecayedScore: u,
            source: sourceOf(memory),
            explanation: explain(slot, scan)
          })
        })
        return { memories, belowCut } satisfies Recall
      })

    const validateRecall = (input: RecallInput) =>
      typeof input !== "object" || input === null
        ? "the input must be an object"
        : scopeProblem(input) ?? positiveInt("topK", input.topK, 100_000) ??
          (input.minScore === undefined || isUnit(input.minScore)
            ? undefined
            : `minScore must be within 0–1, got ${String(input.minScore)}`) ??
          (input.query === undefined || typeof input.query === "string" ? undefined : "query must be a string")

    const evictLocked = (now: number) =>
      Effect.gen(function*() {
        if (index.size <= resolved.maxEntries) return []
        const count = index.size - resolved.maxEntries + resolved.evictionBatch - 1
        const slots = index.worst(scanInput(now, {}, undefined, undefined, 0), count)
        const victims = slots.map((slot) => index.memories[slot]!.id)
        yield* write({ ...emptyBatch, remove: victims })
        for (const id of victims) index.remove(id)
        yield* Metric.incrementBy(Metrics.evicted, victims.length)
        return victims
      })

    const draftOf = (input: AddInput, id: Memory["id"], now: number): Memory => ({
      id,
      team,
      ...(input.agent === undefined ? {} : { agent: input.agent }),
      type: input.type,
      text: input.text,
      importance: input.importance ?? 0.5,
      ...(input.key === undefined ? {} : { key: input.key }),
      ...(input.group === undefined ? {} : { group: input.group }),
      ...(input.floor === undefined ? {} : { floor: input.floor }),
      metadata: Json.isJson(input.metadata) ? structuredClone(input.metadata) : {},
      createdAt: now,
      lastAccessedAt: now,
      accessCount: 0,
      ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt })
    })

    // The add under the lock. Before inserting, the write checks that no
    // memory another process wrote since the sync would have merged with
    // this one (its consolidation key); if one did, the add runs again over
    // the synced index and merges into it. After 3 clashes it inserts anyway.
    const addLocked = (input: AddInput, now: number, attempt: number): Effect.Effect<Added, AddError> =>
      Effect.gen(function*() {
        yield* sync
        const draft = draftOf(input, Ids.MemoryId.make(yield* ids.next), now)
        const slotKey = (memory: Memory) => {
          const ck = resolved.consolidationKey(memory)
          return ck === undefined ? undefined : index.consolidationSlotKey(index.agentCode(memory.agent), memory, ck)
        }
        const mergeKey = slotKey(draft)
        const same = mergeKey === undefined ? undefined : index.consolidation.get(mergeKey)
        const existing = same === undefined ? undefined : index.memories[same]
        if (existing !== undefined && existing.key === draft.key && existing.group === draft.group) {
          // merged into the memory as stored (another process may have merged meanwhile)
          const applied = yield* write({ ...emptyBatch, merge: [{ ...draft, id: existing.id }] })
          const merged = applied.merged[0]
          if (merged !== undefined) {
            index.update(merged)
            yield* Metric.increment(Metrics.merged)
            return { memory: merged, outcome: "merged", superseded: [], evicted: [] } satisfies Added
          }
          // another process ended it since the sync: the memory is stored anew
          index.remove(existing.id)
        }
        const vectors = yield* embed([draft.text])
        const applied = yield* write({
          ...emptyBatch,
          insert: [draft],
          ...(mergeKey === undefined || attempt >= 3
            ? {}
            : { unseen: { since: version, clashes: (memories) => memories.some((m) => slotKey(m) === mergeKey) } })
        })
        if (applied.clashed === true) return yield* addLocked(input, now, attempt + 1)
        for (const id of applied.superseded) index.remove(id)
        index.put(draft, vectors?.[0])
        const evicted = yield* evictLocked(now)
        yield* Metric.increment(Metrics.added)
        if (applied.superseded.length > 0) yield* Metric.incrementBy(Metrics.superseded, applied.superseded.length)
        yield* Metric.set(entriesGauge, index.size)
        return { memory: draft, outcome: "added", superseded: applied.superseded, evicted } satisfies Added
      })

    const add = (input: AddInput) =>
      Effect.gen(function*() {
        const problem = addProblem(input)
        if (problem !== undefined) return yield* invalid(problem)
        const now = yield* Clock.currentTimeMillis
        return yield* lock.withPermits(1)(addLocked(input, now, 0))
      })

    // addMany under the lock: the batch is planned against the index as
    // sequential adds would meet it — merges into live memories, merges into
    // memories added earlier in the batch (folded in process), superseding
    // (of a stored memory, or of an earlier insert of the batch) — then
    // written as one store batch (merges first, then the inserts in order),
    // then replayed on the index in input order, so the index ends as it
    // would after the adds one by one. Eviction runs once, at the end.
    const addManyLocked = (
      inputs: ReadonlyArray<AddInput>,
      drafts: ReadonlyArray<Memory>,
      now: number,
      attempt: number
    ): Effect.Effect<Array<Added>, AddError> =>
      Effect.gen(function*() {
        yield* sync
        const slotKey = (memory: Memory) => {
          const ck = resolved.consolidationKey(memory)
          return ck === undefined ? undefined : index.consolidationSlotKey(index.agentCode(memory.agent), memory, ck)
        }
        type Step =
          | { readonly _tag: "insert"; readonly draft: Memory; readonly insert: number }
          | { readonly _tag: "mergeStored"; readonly merge: number }
          | { readonly _tag: "mergeBatch"; readonly memory: Memory; readonly insert: number }
        const steps: Array<Step> = []
        const inserts: Array<Memory> = []
        const merges: Array<Memory> = []
        const insertKeys = new Set<string>()
        // what the batch changed of the index's maps: a consolidation entry now
        // pointing to an insert of the batch (or gone: null), a key's live memory
        const consolidation = new Map<string, { readonly insert: number } | { readonly id: string } | null>()
        const keyed = new Map<string, { readonly insert: number }>()
        const ended = new Set<string>()
        for (const draft of drafts) {
          const mergeKey = slotKey(draft)
          let target: { readonly insert: number } | { readonly id: string } | null | undefined = undefined
          if (mergeKey !== undefined) {
            target = consolidation.get(mergeKey)
            if (target === undefined) {
              const slot = index.consolidation.get(mergeKey)
              const existing = slot === undefined ? undefined : index.memories[slot]
              if (
                existing !== undefined && existing.key === draft.key && existing.group === draft.group &&
                !ended.has(existing.id)
              ) target = { id: existing.id }
            }
          }
          if (target !== undefined && target !== null && "id" in target) {
            merges.push({ ...draft, id: target.id as Memory["id"] })
            steps.push({ _tag: "mergeStored", merge: merges.length - 1 })
            continue
          }
          if (target !== undefined && target !== null) {
            const merged = mergeMemory(inserts[target.insert]!, { ...draft, id: inserts[target.insert]!.id })
            inserts[target.insert] = merged
            steps.push({ _tag: "mergeBatch", memory: merged, insert: target.insert })
            continue
          }
          const insert = inserts.length
          inserts.push(draft)
          steps.push({ _tag: "insert", draft, insert })
          if (draft.key !== undefined) {
            const k = index.keyedKey(index.agentCode(draft.agent), draft.key)
            const previous = keyed.get(k)
            // the memory it supersedes leaves the consolidation map (when its entry)
            const endedKey = previous !== undefined
              ? slotKey(inserts[previous.insert]!)
              : index.keyed.has(k)
              ? index.consolidationKeyOf.get(index.keyed.get(k)!)
              : undefined
            if (previous === undefined && index.keyed.has(k)) ended.add(index.memories[index.keyed.get(k)!]!.id)
            if (endedKey !== undefined) {
              const entry = consolidation.get(endedKey)
              const pointsToEnded = entry === undefined
                ? previous === undefined && index.consolidation.get(endedKey) === index.keyed.get(k)
                : entry !== null && "insert" in entry && entry.insert === previous?.insert
              if (pointsToEnded) consolidation.set(endedKey, null)
            }
            keyed.set(k, { insert })
          }
          if (mergeKey !== undefined) {
            consolidation.set(mergeKey, { insert })
            insertKeys.add(mergeKey)
          }
        }
        // embedded as `add` would (each insert's text as added), in batches
        const vectors: Array<ReadonlyArray<number> | undefined> = []
        for (let i = 0; i < steps.length; i += EMBED_BATCH) {
          const chunk = steps.slice(i, i + EMBED_BATCH).flatMap((step) => step._tag === "insert" ? [step.draft] : [])
          const embedded = yield* embed(chunk.map((m) => m.text))
          for (let j = 0; j < chunk.length; j++) vectors.push(embedded?.[j])
        }
        const applied = yield* write({
          ...emptyBatch,
          insert: inserts,
          merge: merges,
          ...(insertKeys.size === 0 || attempt >= 3
            ? {}
            : {
              unseen: {
                since: version,
                clashes: (memories) =>
                  memories.some((m) => {
                    const k = slotKey(m)
                    return k !== undefined && insertKeys.has(k)
                  })
              }
            })
        })
        // another process wrote a memory this batch would have merged with: plan again over the synced index
        if (applied.clashed === true) return yield* addManyLocked(inputs, drafts, now, attempt + 1)
        const supersededBy = new Map<string, Array<string>>()
        applied.superseded.forEach((id, i) => {
          const by = applied.superseding[i]!
          let list = supersededBy.get(by)
          if (list === undefined) supersededBy.set(by, list = [])
          list.push(id)
        })
        const missing = new Set(applied.missing)
        const results: Array<Added | undefined> = []
        const retry: Array<number> = []
        let mergedCount = 0
        let addedCount = 0
        let storedMerges = 0
        for (let i = 0; i < steps.length; i++) {
          const step = steps[i]!
          if (step._tag === "insert") {
            const superseded = supersededBy.get(step.draft.id) ?? []
            for (const id of superseded) index.remove(id)
            index.put(step.draft, vectors[step.insert])
            addedCount++
            results.push({ memory: step.draft, outcome: "added", superseded, evicted: [] })
          } else if (step._tag === "mergeBatch") {
            index.update(step.memory)
            mergedCount++
            results.push({ memory: step.memory, outcome: "merged", superseded: [], evicted: [] })
          } else {
            const merge = merges[step.merge]!
            if (missing.has(merge.id)) {
              // another process ended it since the sync: added again below, as `add` would
              index.remove(merge.id)
              retry.push(i)
              results.push(undefined)
              continue
            }
            // the merges that were written, in order
            const merged = applied.merged[storedMerges++]!
            index.update(merged)
            mergedCount++
            results.push({ memory: merged, outcome: "merged", superseded: [], evicted: [] })
          }
        }
        yield* Metric.incrementBy(Metrics.added, addedCount)
        yield* Metric.incrementBy(Metrics.merged, mergedCount)
        if (applied.superseded.length > 0) yield* Metric.incrementBy(Metrics.superseded, applied.superseded.length)
        for (const i of retry) results[i] = yield* addLocked(inputs[i]!, now, 0)
        const evicted = yield* evictLocked(now)
        const added = results as Array<Added>
        if (evicted.length > 0) {
          const last = added[added.length - 1]!
          added[added.length - 1] = { ...last, evicted: [...last.evicted, ...evicted] }
        }
        yield* Metric.set(entriesGauge, index.size)
        return added
      })

    const addMany = (inputs: ReadonlyArray<AddInput>) =>
      Effect.gen(function*() {
        if (!Array.isArray(inputs)) return yield* invalid("addMany takes an array of inputs")
        for (let i = 0; i < inputs.length; i++) {
          const problem = addProblem(inputs[i]!)
          if (problem !== undefined) return yield* invalid(`inputs[${i}]: ${problem}`)
        }
        if (inputs.length === 0) return []
        const now = yield* Clock.currentTimeMillis
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          const drafts: Array<Memory> = []
          for (const input of inputs) drafts.push(draftOf(input, Ids.MemoryId.make(yield* ids.next), now))
          return yield* addManyLocked(inputs, drafts, now, 0)
        }))
      })

    const recall = (input: RecallInput = {}) =>
      Effect.gen(function*() {
        const problem = validateRecall(input)
        if (problem !== undefined) return yield* invalid(problem)
        const now = yield* Clock.currentTimeMillis
        return yield* lock.withPermits(1)(Effect.zipRight(sync, recallLocked(input, now)))
      })

    const touch = (touched: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        if (!Array.isArray(touched) || touched.some((id) => typeof id !== "string")) {
          return yield* invalid("touch takes an array of memory ids")
        }
        const now = yield* Clock.currentTimeMillis
        yield* lock.withPermits(1)(Effect.gen(function*() {
          yield* sync
          const unique = [...new Set(touched)]
          for (const id of unique) if (!index.slotOf.has(id)) return yield* new MemoryNotFound({ id })
          if (unique.length === 0) return
          yield* write({ ...emptyBatch, touch: unique, touchedAt: now })
          for (const id of unique) {
            const m = index.get(id)!
            index.update({ ...m, accessCount: m.accessCount + 1, lastAccessedAt: Math.max(m.lastAccessedAt, now) })
          }
        }))
      })

    const buildContext = (input: ContextInput) =>
      Effect.gen(function*() {
        if (typeof input !== "object" || input === null) return yield* invalid("the input must be an object")
        const problem = positiveInt("maxTokens", input.maxTokens, 10_000_000) ??
          positiveInt("candidates", input.candidates, 100_000) ?? scopeProblem(input) ??
          (input.order === undefined || (Array.isArray(input.order) && input.order.every((t) => typeof t === "string"))
            ? undefined
            : "order must be an array of memory types") ??
          (input.query === undefined || typeof input.query === "string" ? undefined : "query must be a string")
        if (problem !== undefined) return yield* invalid(problem)
        const tokens = yield* counter
        const now = yield* Clock.currentTimeMillis
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          yield* sync
          const rel = yield* relevance(input.query, input)
          const scan = scanInput(now, input, input.types, rel, 0)
          const ranked = index.scan(scan, input.candidates ?? options.DEFAULT_CANDIDATES)
          return assemble(ranked.slots, scan, input, tokens)
        }))
      })

    // The tokens of each section heading, once counted (one or two per type).
    const headingTokens = new Map<string, number>()

    // Greedy by rank: each unit (a memory, or its whole group) goes in when
    // its estimated tokens fit; then the rendered text is counted exactly and
    // the last units taken are dropped until it fits.
    const assemble = (
      slots: ReadonlyArray<number>,
      scan: ScanInput,
      input: ContextInput,
      tokens: TokenCounter.TokenCounterService
    ): Context => {
      const order = input.order ?? resolved.order
      const rank = new Map<string, number>()
      order.forEach((t, i) => {
        if (!rank.has(t)) rank.set(t, i)
      })
      const taken = new Set<number>()
      const units: Array<Array<number>> = []
      const openSections = new Set<string>()
      let estimate = 0
      for (const slot of slots) {
        if (taken.has(slot)) continue
        const memory = index.memories[slot]!
        const unit = memory.group === undefined
          ? [slot]
          : [...(index.groups.get(`${index.agent[slot]}\u0000${memory.group}`) ?? [slot])].filter((s) =>
            index.expires[s]! > scan.now
          ).sort((a, b) => index.created[a]! - index.created[b]! || a - b)
        let cost = 0
        const opened = new Set<string>()
        for (const s of unit) {
          const m = index.memories[s]!
          if (!openSections.has(m.type) && !opened.has(m.type)) {
            opened.add(m.type)
            // the first section has no separator before it
            const heading = openSections.size + opened.size === 1 ? header(m.type) : `\n\n${header(m.type)}`
            let headingCost = headingTokens.get(heading)
            if (headingCost === undefined) headingTokens.set(heading, headingCost = tokens.count(heading))
            cost += headingCost
          }
          // a line's count is kept with its slot: the same text always counts the same
          let lineCost = index.lineTokens[s]!
          if (lineCost < 0) index.lineTokens[s] = lineCost = tokens.count(`\n${line(m.text)}`)
          cost += lineCost
        }
        if (estimate + cost > input.maxTokens) continue
        estimate += cost
        for (const s of unit) taken.add(s)
        for (const t of opened) openSections.add(t)
        units.push(unit)
      }
      const render = (chosen: ReadonlyArray<ReadonlyArray<number>>) => {
        const byType = new Map<string, Array<number>>()
        for (const unit of chosen) {
          for (const s of unit) {
            const t = index.memories[s]!.type
            let list = byType.get(t)
            if (list === undefined) byType.set(t, list = [])
            list.push(s)
          }
        }
        const types = [...byType.keys()].sort((a, b) =>
          (rank.get(a) ?? Infinity) - (rank.get(b) ?? Infinity) || (a < b ? -1 : a > b ? 1 : 0)
        )
        const memories: Array<Memory> = []
        const sections = types.map((t) => {
          const lines = [header(t)]
          for (const s of byType.get(t)!) {
            const m = index.memories[s]!
            memories.push(m)
            lines.push(line(m.text))
          }
          return lines.join("\n")
        })
        return { text: sections.join("\n\n"), memories }
      }
      for (;;) {
        const { memories, text } = render(units)
        const count = tokens.count(text)
        if (count <= input.maxTokens) return { text, memories, tokens: count }
        units.pop()
      }
    }

    const idProblem = (id: unknown) =>
      typeof id === "string" ? undefined : `a memory id must be a string, got ${String(id)}`

    const forget = (id: string) =>
      Effect.gen(function*() {
        const problem = idProblem(id)
        if (problem !== undefined) return yield* invalid(problem)
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          yield* sync
          if (!index.slotOf.has(id)) return yield* new MemoryNotFound({ id })
          yield* write({ ...emptyBatch, remove: [id] })
          index.remove(id)
          yield* Metric.set(entriesGauge, index.size)
        }))
      })

    const clear = (agent?: string) =>
      Effect.gen(function*() {
        const problem = nameProblem("agent", agent)
        if (problem !== undefined) return yield* invalid(problem)
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          yield* sync
          const applied = yield* write({ ...emptyBatch, clear: { agent: agent ?? null } })
          for (const id of applied.cleared) index.remove(id)
          yield* Metric.set(entriesGauge, index.size)
          return applied.cleared.length
        }))
      })

    const get = (id: string) =>
      Effect.gen(function*() {
        const problem = idProblem(id)
        if (problem !== undefined) return yield* invalid(problem)
        const memory = yield* lock.withPermits(1)(Effect.zipRight(sync, Effect.sync(() => index.get(id))))
        if (memory !== undefined) return memory
        const stored = yield* store.get(team, id)
        if (stored === undefined) return yield* new MemoryNotFound({ id })
        return stored
      })

    const history = (input: { readonly key: string; readonly agent?: string }) =>
      Effect.gen(function*() {
        const problem = typeof input !== "object" || input === null
          ? "the input must be an object"
          : nameProblem("key", input.key) ?? (input.key === undefined ? "key is required" : undefined) ??
            nameProblem("agent", input.agent)
        if (problem !== undefined) return yield* invalid(problem)
        return yield* store.history(team, input.agent ?? null, input.key)
      })

    const stats = () =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          yield* sync
          const scan = scanInput(now, {}, undefined, undefined, 0)
          const byType = new Map<string, number>()
          const scores: Array<number> = []
          let teamCount = 0
          for (let slot = 0; slot < index.memories.length; slot++) {
            const m = index.memories[slot]
            if (m === undefined || index.expires[slot]! <= now) continue
            byType.set(m.type, (byType.get(m.type) ?? 0) + 1)
            if (m.agent === undefined) teamCount++
            scores.push(index.scoreOf(slot, scan))
          }
          scores.sort((a, b) => a - b)
          const at = (q: number) =>
            scores.length === 0 ? 0 : scores[Math.min(scores.length - 1, Math.floor(q * scores.length))]!
          return {
            total: scores.length,
            // own properties, also for a type named "__proto__"
            byType: Object.fromEntries(byType),
            team: teamCount,
            agents: scores.length - teamCount,
            scores: {
              min: scores[0] ?? 0,
              max: scores[scores.length - 1] ?? 0,
              mean: scores.length === 0 ? 0 : scores.reduce((a, b) => a + b, 0) / scores.length,
              p50: at(0.5),
              p90: at(0.9)
            }
          } satisfies Stats
        }))
      })

    const service: AgentMemory.AgentMemoryService = {
      add: Effect.fn("AgentMemory.add")(add),
      addMany: Effect.fn("AgentMemory.addMany")(addMany),
      recall: Effect.fn("AgentMemory.recall")(recall),
      touch: Effect.fn("AgentMemory.touch")(touch),
      buildContext: Effect.fn("AgentMemory.buildContext")(buildContext),
      forget: Effect.fn("AgentMemory.forget")(forget),
      clear: Effect.fn("AgentMemory.clear")(clear),
      get: Effect.fn("AgentMemory.get")(get),
      history: Effect.fn("AgentMemory.history")(history),
      stats: Effect.fn("AgentMemory.stats")(stats)
    }
    return service
  })
