// The in-process index of a team's live memories, kept in step with the
// store by the service: the scoring inputs of every memory in flat typed
// arrays (one slot per memory, slots reused), the maps of groups and
// consolidation keys, and a full-text index (textIndex.ts) that scores BM25
// incrementally as memories come and go (memories enter it at the first
// query after they were added, so a load or an add never pays for it).
//
// Recall scores every candidate once into a bounded heap of the k best:
// O(n log k), never a sort of the store, and only the candidates: the slots
// of each scope (the team's, each agent's) are kept in a list of their own,
// so an agent's recall reads its own memories and the team's, not every
// agent's. The full-text search walks only the postings of the scopes asked
// for too (the text index keeps each term's postings per scope), so an
// agent's query costs what its scope and the team's hold, not what every
// agent wrote. Its statistics (document count, average length, document
// frequency) stay those of the whole index: a memory's score does not depend
// on which scopes were asked for, and a scoped query scores a memory exactly
// as an unscoped one does. The two exponentials of a score are
// factored around an epoch E: 2^(-(now - t)/h) = 2^(-(now - E)/h) · 2^((t - E)/h),
// the second factor kept per memory (set when it is added or touched), the
// first computed once per scan and type, so scoring a memory is a few
// multiplications. E moves forward (every factor recomputed) before either
// factor could leave the range of a double. Nothing in a scan changes access
// statistics.
import type { Memory } from "../Memory.js"
import { type Hit, TextIndex } from "./textIndex.js"

const HOUR = 3_600_000

export interface ScoringConfig {
  /** ln 2 / the recency half-life, per millisecond. */
  readonly recencyRate: number
  /** Half-life in hours of a type. */
  readonly halfLife: (type: string) => number
  /** Floor of a type (0 when none). */
  readonly typeFloor: (type: string) => number
  readonly frequencyScale: number
}

/** Effective weights (already divided by their sum) and what a scan keeps. */
export interface ScanInput {
  readonly now: number
  readonly importance: number
  readonly decay: number
  readonly recency: number
  readonly frequency: number
  readonly relevance: number
  /** Agent code to include (-2: none), and whether team memories count. */
  readonly agent: number
  readonly includeTeam: boolean
  /** Allowed type codes, or undefined for all. */
  readonly types: Uint8Array | undefined
  /** Relevance per slot, or undefined without a query. */
  readonly relevanceOf: Float64Array | undefined
  readonly minScore: number
  /** Decay term forced to 1 (for explain's "below the cut"). */
  readonly undecayed?: boolean
}

/** The k best slots, best first, with their scores. */
export interface Ranked {
  readonly slots: Array<number>
  readonly scores: Array<number>
}

export class MemoryIndex {
  capacity = 0
  size = 0
  memories: Array<Memory | undefined> = []
  created = new Float64Array(0)
  accessed = new Float64Array(0)
  importance = new Float64Array(0)
  rate = new Float64Array(0)
  decayFactor = new Float64Array(0)
  recencyFactor = new Float64Array(0)
  epoch: number | undefined = undefined
  readonly typeRates: Array<number> = []
  private maxRate = 0
  private prepared:
    | { readonly input: ScanInput; readonly typeFactor: Float64Array; readonly recencyNow: number }
    | undefined
  floor = new Float64Array(0)
  freq = new Float64Array(0)
  expires = new Float64Array(0)
  agent = new Int32Array(0)
  type = new Int32Array(0)
  live = new Uint8Array(0)
  /** The tokens of each slot's line in a context, once counted (-1: not yet); kept while its text is. */
  lineTokens = new Int32Array(0)
  readonly free: Array<number> = []
  /** The live slots of each scope, by agent code + 1 (0: the team), in no particular order. */
  private readonly scopeSlots: Array<Int32Array> = []
  private readonly scopeSize: Array<number> = []
  /** Where each live slot sits in its scope's list. */
  private scopePos = new Int32Array(0)
  readonly slotOf = new Map<string, number>()
  readonly groups = new Map<string, Set<number>>()
  readonly consolidation = new Map<string, number>()
  readonly consolidationKeyOf = new Map<number, string>()
  /** The live memory of each superseding key, by agent code and key. */
  readonly keyed = new Map<string, number>()
  readonly agentCodes = new Map<string, number>()
  readonly typeCodes = new Map<string, number>()
  readonly typeNames: Array<string> = []
  readonly vectors = new Map<number, ReadonlyArray<number>>()
  /** Slots not yet in the full-text index: it is brought up to date by the first search that needs it. */
  readonly unindexed = new Set<number>()
  readonly text = new TextIndex()

  constructor(
    readonly config: ScoringConfig,
    readonly consolidationKey: (memory: Memory) => string | undefined
  ) {}

  agentCode(agent: string | undefined): number {
    if (agent === undefined) return -1
    let code = this.agentCodes.get(agent)
    if (code === undefined) {
      code = this.agentCodes.size
      this.agentCodes.set(agent, code)
    }
    return code
  }

  typeCode(type: string): number {
    let code = this.typeCodes.get(type)
    if (code === undefined) {
      code = this.typeNames.length
      this.typeCodes.set(type, code)
      this.typeNames.push(type)
      const rate = Math.LN2 / (this.config.halfLife(type) * HOUR)
      this.typeRates.push(rate)
      this.maxRate = Math.max(this.maxRate, rate, this.config.recencyRate)
    }
    return code
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2)
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(capacity)
      b.set(a)
      return b
    }
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(capacity)
      b.set(a)
      return b
    }
    this.created = f64(this.created)
    this.accessed = f64(this.accessed)
    this.importance = f64(this.importance)
    this.rate = f64(this.rate)
    this.decayFactor = f64(this.decayFactor)
    this.recencyFactor = f64(this.recencyFactor)
    this.floor = f64(this.floor)
    this.freq = f64(this.freq)
    this.expires = f64(this.expires)
    this.agent = i32(this.agent)
    this.type = i32(this.type)
    const live = new Uint8Array(capacity)
    live.set(this.live)
    this.live = live
    this.scopePos = i32(this.scopePos)
    this.lineTokens = i32(this.lineTokens)
    this.capacity = capacity
  }

  /** Inserts or replaces a live memory. */
  put(memory: Memory, vector?: ReadonlyArray<number>): void {
    const existing = this.slotOf.get(memory.id)
    if (existing !== undefined) this.removeSlot(existing)
    let slot = this.free.pop()
    if (slot === undefined) {
      if (this.memories.length === this.capacity) this.grow()
      slot = this.memories.length
      this.memories.push(undefined)
    }
    this.memories[slot] = memory
    this.slotOf.set(memory.id, slot)
    this.lineTokens[slot] = -1
    const type = this.typeCode(memory.type)
    this.type[slot] = type
    this.rate[slot] = this.typeRates[type]!
    this.created[slot] = memory.createdAt
    this.keepInRange(memory.createdAt)
    this.decayFactor[slot] = Math.exp(this.rate[slot]! * (memory.createdAt - this.epoch!))
    this.setAccess(slot, memory)
    this.importance[slot] = memory.importance
    this.floor[slot] = memory.floor ?? this.config.typeFloor(memory.type)
    this.expires[slot] = memory.expiresAt ?? Infinity
    const agent = this.agentCode(memory.agent)
    this.agent[slot] = agent
    this.live[slot] = 1
    this.size++
    this.enterScope(agent, slot)
    if (memory.group !== undefined) {
      const g = `${agent}\u0000${memory.group}`
      let set = this.groups.get(g)
      if (set === undefined) this.groups.set(g, set = new Set())
      set.add(slot)
    }
    if (memory.key !== undefined) this.keyed.set(this.keyedKey(agent, memory.key), slot)
    const ck = this.consolidationKey(memory)
    if (ck !== undefined) {
      const k = this.consolidationSlotKey(agent, memory, ck)
      this.consolidation.set(k, slot)
      this.consolidationKeyOf.set(slot, k)
    }
    if (vector !== undefined) this.vectors.set(slot, vector)
    this.unindexed.add(slot)
  }

  /** The entry of `keyed` of an agent code and a key (keys hold no NUL). */
  keyedKey(agent: number, key: string): string {
    return `${agent}\u0000${key}`
  }

  /**
   * The entry of `consolidation` for a memory: its scope, type, key, group
   * and consolidation key, so memories that can never merge (another key or
   * group) never take each other's entry. Types, keys and groups hold no NUL.
   */
  consolidationSlotKey(agent: number, memory: Memory, ck: string): string {
    return `${agent}\u0000${memory.type}\u0000${memory.key ?? ""}\u0000${memory.group ?? ""}\u0000${ck}`
  }

  // Moves the epoch to `at` when a factor of `at` could overflow.
  private keepInRange(at: number): void {
    if (this.epoch === undefined) this.epoch = at
    else if (Math.abs(at - this.epoch) * this.maxRate > 600) this.rebase(at)
  }

  private rebase(epoch: number): void {
    this.epoch = epoch
    this.prepared = undefined
    const rr = this.config.recencyRate
    for (let slot = 0; slot < this.memories.length; slot++) {
      if (this.live[slot] === 0) continue
      this.decayFactor[slot] = Math.exp(this.rate[slot]! * (this.created[slot]! - epoch))
      this.recencyFactor[slot] = Math.exp(rr * (this.accessed[slot]! - epoch))
    }
  }

  private factors(input: ScanInput) {
    if (this.prepared?.input === input) return this.prepared
    this.keepInRange(input.now)
    const elapsed = input.now - (this.epoch ?? input.now)
    const typeFactor = new Float64Array(this.typeRates.length)
    for (let t = 0; t < typeFactor.length; t++) typeFactor[t] = Math.exp(-this.typeRates[t]! * elapsed)
    this.prepared = { input, typeFactor, recencyNow: Math.exp(-this.config.recencyRate * elapsed) }
    return this.prepared
  }

  private setAccess(slot: number, memory: Memory): void {
    this.accessed[slot] = memory.lastAccessedAt
    this.keepInRange(memory.lastAccessedAt)
    this.recencyFactor[slot] = Math.exp(this.config.recencyRate * (memory.lastAccessedAt - this.epoch!))
    // the article's term, uncapped: it passes 1 after ≈147 accesses (the score is clamped)
    this.freq[slot] = Math.log1p(memory.accessCount) / this.config.frequencyScale
  }

  /** Replaces the memory of a slot whose text, type, key and group did not change. */
  update(memory: Memory): void {
    const slot = this.slotOf.get(memory.id)
    if (slot === undefined) return
    const old = this.memories[slot]!
    if (
      old.text !== memory.text || old.type !== memory.type || old.key !== memory.key || old.group !== memory.group ||
      old.agent !== memory.agent
    ) {
      this.put(memory, this.vectors.get(slot))
      return
    }
    this.memories[slot] = memory
    this.setAccess(slot, memory)
    this.importance[slot] = memory.importance
    this.floor[slot] = memory.floor ?? this.config.typeFloor(memory.type)
    this.expires[slot] = memory.expiresAt ?? Infinity
  }

  remove(id: string): void {
    const slot = this.slotOf.get(id)
    if (slot !== undefined) this.removeSlot(slot)
  }

  private removeSlot(slot: number): void {
    const memory = this.memories[slot]!
    const agent = this.agent[slot]!
    this.slotOf.delete(memory.id)
    if (memory.group !== undefined) {
      const g = `${agent}\u0000${memory.group}`
      const set = this.groups.get(g)
      set?.delete(slot)
      if (set?.size === 0) this.groups.delete(g)
    }
    if (memory.key !== undefined) {
      const k = this.keyedKey(agent, memory.key)
      if (this.keyed.get(k) === slot) this.keyed.delete(k)
    }
    const ck = this.consolidationKeyOf.get(slot)
    if (ck !== undefined) {
      if (this.consolidation.get(ck) === slot) this.consolidation.delete(ck)
      this.consolidationKeyOf.delete(slot)
    }
    this.vectors.delete(slot)
    if (!this.unindexed.delete(slot)) this.text.remove(slot, agent + 1, memory.text)
    this.leaveScope(agent, slot)
    this.memories[slot] = undefined
    this.live[slot] = 0
    this.size--
    this.free.push(slot)
  }

  private enterScope(agent: number, slot: number): void {
    const scope = agent + 1
    while (this.scopeSlots.length <= scope) {
      this.scopeSlots.push(new Int32Array(16))
      this.scopeSize.push(0)
    }
    let list = this.scopeSlots[scope]!
    const n = this.scopeSize[scope]!
    if (n === list.length) {
      const grown = new Int32Array(n * 2)
      grown.set(list)
      this.scopeSlots[scope] = list = grown
    }
    list[n] = slot
    this.scopePos[slot] = n
    this.scopeSize[scope] = n + 1
  }

  private leaveScope(agent: number, slot: number): void {
    const scope = agent + 1
    const list = this.scopeSlots[scope]!
    const last = --this.scopeSize[scope]!
    const at = this.scopePos[slot]!
    const moved = list[last]!
    list[at] = moved
    this.scopePos[moved] = at
  }

  /**
   * BM25 hits of a query (OR of the terms, exact, case-insensitive), of the
   * memories of a scope only when one is given: only that scope's postings
   * are read.
   */
  search(
    query: string,
    scope?: { readonly agent: number; readonly includeTeam: boolean }
  ): ReadonlyArray<Hit> {
    if (this.unindexed.size > 0) {
      for (const slot of this.unindexed) this.text.add(slot, this.agent[slot]! + 1, this.memories[slot]!.text)
      this.unindexed.clear()
    }
    if (scope === undefined) return this.text.search(query)
    // scope codes: 0 the team, agent code + 1 an agent (codes below 0: no agent)
    const codes: Array<number> = []
    if (scope.includeTeam) codes.push(0)
    if (scope.agent >= 0) codes.push(scope.agent + 1)
    return this.text.search(query, codes)
  }

  get(id: string): Memory | undefined {
    const slot = this.slotOf.get(id)
    return slot === undefined ? undefined : this.memories[slot]
  }

  /** The score of one slot (the same arithmetic as `scan`). */
  scoreOf(slot: number, input: ScanInput): number {
    const f = this.factors(input)
    const d = f.typeFactor[this.type[slot]!]! * this.decayFactor[slot]!
    const decay = input.undecayed === true || d > 1 ? 1 : d
    const r = f.recencyNow * this.recencyFactor[slot]!
    const recency = r > 1 ? 1 : r
    let s = input.importance * this.importance[slot]! + input.decay * decay + input.recency * recency +
      input.frequency * this.freq[slot]!
    if (input.relevanceOf !== undefined) s += input.relevance * input.relevanceOf[slot]!
    if (s > 1) s = 1
    else if (s < 0) s = 0
    const floor = this.floor[slot]!
    return s < floor ? floor : s
  }

  /** The k best candidates at or above minScore, best first. */
  scan(input: ScanInput, k: number): Ranked {
    const heapSlots = new Int32Array(k)
    const heapScores = new Float64Array(k)
    let n = 0
    const created = this.created
    // a is worse than b: lower score, or the same score and older, or the same and a later slot
    const worse = (sa: number, a: number, sb: number, b: number) =>
      sa < sb || (sa === sb && (created[a]! < created[b]! || (created[a] === created[b] && a > b)))
    const { recencyNow, typeFactor } = this.factors(input)
    const { agent: wantAgent, includeTeam, minScore, now, relevanceOf, types, undecayed } = input
    const wI = input.importance, wD = input.decay, wR = input.recency, wF = input.frequency, wRel = input.relevance
    const { decayFactor, expires, floor, freq, importance, recencyFactor, type } = this
    // The candidates: the team's slots (when it counts), then the agent's. The
    // order does not matter: `worse` is a total order, so the k best are the same.
    const lists: Array<readonly [Int32Array, number]> = []
    if (includeTeam && this.scopeSlots.length > 0) lists.push([this.scopeSlots[0]!, this.scopeSize[0]!])
    if (wantAgent >= 0 && wantAgent + 1 < this.scopeSlots.length) {
      lists.push([this.scopeSlots[wantAgent + 1]!, this.scopeSize[wantAgent + 1]!])
    }
    for (const [list, size] of lists) {
      for (let j = 0; j < size; j++) {
        const slot = list[j]!
        // a candidate is live (it is in a list), unexpired, in scope and of an
        // allowed type; its score is the arithmetic of `scoreOf`, inlined
        if (expires[slot]! <= now) continue
        const t = type[slot]!
        if (types !== undefined && types[t] !== 1) continue
        const d = typeFactor[t]! * decayFactor[slot]!
        const r = recencyNow * recencyFactor[slot]!
        let s = wI * importance[slot]! + wD * (undecayed === true || d > 1 ? 1 : d) + wR * (r > 1 ? 1 : r) +
          wF * freq[slot]!
        if (relevanceOf !== undefined) s += wRel * relevanceOf[slot]!
        if (s > 1) s = 1
        else if (s < 0) s = 0
        if (s < floor[slot]!) s = floor[slot]!
        if (s < minScore) continue
        if (n < k) {
          // sift up in a min-heap (the root is the worst kept)
          let i = n++
          while (i > 0) {
            const parent = (i - 1) >> 1
            if (!worse(s, slot, heapScores[parent]!, heapSlots[parent]!)) break
            heapSlots[i] = heapSlots[parent]!
            heapScores[i] = heapScores[parent]!
            i = parent
          }
          heapSlots[i] = slot
          heapScores[i] = s
        } else if (worse(heapScores[0]!, heapSlots[0]!, s, slot)) {
          // replace the root, sift down
          let i = 0
          for (;;) {
            const l = 2 * i + 1
            if (l >= n) break
            const r = l + 1
            const c = r < n && worse(heapScores[r]!, heapSlots[r]!, heapScores[l]!, heapSlots[l]!) ? r : l
            if (!worse(heapScores[c]!, heapSlots[c]!, s, slot)) break
            heapSlots[i] = heapSlots[c]!
            heapScores[i] = heapScores[c]!
            i = c
          }
          heapSlots[i] = slot
          heapScores[i] = s
        }
      }
    }
    const order = Array.from({ length: n }, (_, i) => i)
    order.sort((x, y) => worse(heapScores[x]!, heapSlots[x]!, heapScores[y]!, heapSlots[y]!) ? 1 : -1)
    return { slots: order.map((i) => heapSlots[i]!), scores: order.map((i) => heapScores[i]!) }
  }

  /**
   * The `count` worst live memories (expired ones first, then the lowest
   * scores without a query), for eviction: O(n log count) through a bounded
   * heap, never a sort of the store.
   */
  worst(input: ScanInput, count: number): Array<number> {
    const heapSlots = new Int32Array(count)
    const heapBad = new Float64Array(count)
    let n = 0
    // a min-heap of the worst kept: the root is the least bad of them
    const end = this.memories.length
    for (let slot = 0; slot < end; slot++) {
      if (this.live[slot] === 0) continue
      const bad = this.expires[slot]! <= input.now ? 2 : 1 - this.scoreOf(slot, input)
      if (n < count) {
        let i = n++
        while (i > 0) {
          const parent = (i - 1) >> 1
          if (heapBad[parent]! <= bad) break
          heapSlots[i] = heapSlots[parent]!
          heapBad[i] = heapBad[parent]!
          i = parent
        }
        heapSlots[i] = slot
        heapBad[i] = bad
      } else if (bad > heapBad[0]!) {
        let i = 0
        for (;;) {
          const l = 2 * i + 1
          if (l >= n) break
          const r = l + 1
          const c = r < n && heapBad[r]! < heapBad[l]! ? r : l
          if (heapBad[c]! >= bad) break
          heapSlots[i] = heapSlots[c]!
          heapBad[i] = heapBad[c]!
          i = c
        }
        heapSlots[i] = slot
        heapBad[i] = bad
      }
    }
    return Array.from(heapSlots.subarray(0, n))
  }
}
