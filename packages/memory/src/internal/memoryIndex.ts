// The in-process index of a team's live memories, kept in step with the
// store by the service: the scoring inputs of every memory in flat typed
// arrays (one slot per memory, slots reused), the maps of keys, groups and
// consolidation keys, and a MiniSearch full-text index that scores BM25
// incrementally as memories come and go.
//
// Recall scores every candidate once (a few multiplications and two exp per
// memory) into a bounded heap of the k best: O(n log k), never a sort of the
// store. Nothing in a scan changes access statistics.
import MiniSearch from "minisearch"
import type { Memory } from "../Memory.js"

const HOUR = 3_600_000

export interface ScoringConfig {
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
  /** ln 2 / recency half-life, per millisecond. */
  readonly recencyRate: number
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
  floor = new Float64Array(0)
  freq = new Float64Array(0)
  expires = new Float64Array(0)
  agent = new Int32Array(0)
  type = new Int32Array(0)
  live = new Uint8Array(0)
  readonly free: Array<number> = []
  readonly slotOf = new Map<string, number>()
  readonly keys = new Map<string, number>()
  readonly groups = new Map<string, Set<number>>()
  readonly consolidation = new Map<string, number>()
  readonly consolidationKeyOf = new Map<number, string>()
  readonly agentCodes = new Map<string, number>()
  readonly typeCodes = new Map<string, number>()
  readonly typeNames: Array<string> = []
  readonly vectors = new Map<number, ReadonlyArray<number>>()
  readonly text = new MiniSearch<{ readonly id: number; readonly text: string }>({
    fields: ["text"],
    idField: "id"
  })

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
    this.floor = f64(this.floor)
    this.freq = f64(this.freq)
    this.expires = f64(this.expires)
    this.agent = i32(this.agent)
    this.type = i32(this.type)
    const live = new Uint8Array(capacity)
    live.set(this.live)
    this.live = live
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
    this.created[slot] = memory.createdAt
    this.setAccess(slot, memory)
    this.importance[slot] = memory.importance
    this.rate[slot] = Math.LN2 / (this.config.halfLife(memory.type) * HOUR)
    this.floor[slot] = memory.floor ?? this.config.typeFloor(memory.type)
    this.expires[slot] = memory.expiresAt ?? Infinity
    const agent = this.agentCode(memory.agent)
    this.agent[slot] = agent
    this.type[slot] = this.typeCode(memory.type)
    this.live[slot] = 1
    this.size++
    if (memory.key !== undefined) this.keys.set(`${agent}\u0000${memory.key}`, slot)
    if (memory.group !== undefined) {
      const g = `${agent}\u0000${memory.group}`
      let set = this.groups.get(g)
      if (set === undefined) this.groups.set(g, set = new Set())
      set.add(slot)
    }
    const ck = this.consolidationKey(memory)
    if (ck !== undefined) {
      const k = `${agent}\u0000${memory.type}\u0000${ck}`
      this.consolidation.set(k, slot)
      this.consolidationKeyOf.set(slot, k)
    }
    if (vector !== undefined) this.vectors.set(slot, vector)
    this.text.add({ id: slot, text: memory.text })
  }

  private setAccess(slot: number, memory: Memory): void {
    this.accessed[slot] = memory.lastAccessedAt
    this.freq[slot] = Math.min(1, Math.log1p(memory.accessCount) / this.config.frequencyScale)
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

  remove(id: string): Memory | undefined {
    const slot = this.slotOf.get(id)
    if (slot === undefined) return undefined
    const memory = this.memories[slot]
    this.removeSlot(slot)
    return memory
  }

  private removeSlot(slot: number): void {
    const memory = this.memories[slot]!
    const agent = this.agent[slot]!
    this.slotOf.delete(memory.id)
    if (memory.key !== undefined) {
      const k = `${agent}\u0000${memory.key}`
      if (this.keys.get(k) === slot) this.keys.delete(k)
    }
    if (memory.group !== undefined) {
      const g = `${agent}\u0000${memory.group}`
      const set = this.groups.get(g)
      set?.delete(slot)
      if (set?.size === 0) this.groups.delete(g)
    }
    const ck = this.consolidationKeyOf.get(slot)
    if (ck !== undefined) {
      if (this.consolidation.get(ck) === slot) this.consolidation.delete(ck)
      this.consolidationKeyOf.delete(slot)
    }
    this.vectors.delete(slot)
    this.text.discard(slot)
    this.memories[slot] = undefined
    this.live[slot] = 0
    this.size--
    this.free.push(slot)
  }

  get(id: string): Memory | undefined {
    const slot = this.slotOf.get(id)
    return slot === undefined ? undefined : this.memories[slot]
  }

  /** The score of one slot (the same arithmetic as `scan`). */
  scoreOf(slot: number, input: ScanInput): number {
    const now = input.now
    const age = now - this.created[slot]!
    const since = now - this.accessed[slot]!
    const decay = input.undecayed === true || age <= 0 ? 1 : Math.exp(-this.rate[slot]! * age)
    const recency = since <= 0 ? 1 : Math.exp(-input.recencyRate * since)
    let s = input.importance * this.importance[slot]! + input.decay * decay + input.recency * recency +
      input.frequency * this.freq[slot]!
    if (input.relevanceOf !== undefined) s += input.relevance * input.relevanceOf[slot]!
    if (s > 1) s = 1
    else if (s < 0) s = 0
    const floor = this.floor[slot]!
    return s < floor ? floor : s
  }

  /** Whether a slot is a candidate of a scan (live, unexpired, in scope, of an allowed type). */
  candidate(slot: number, input: ScanInput): boolean {
    if (this.live[slot] === 0 || this.expires[slot]! <= input.now) return false
    const agent = this.agent[slot]!
    if (agent === -1 ? !input.includeTeam : agent !== input.agent) return false
    return input.types === undefined || input.types[this.type[slot]!] === 1
  }

  /** The k best candidates at or above minScore, best first. */
  scan(input: ScanInput, k: number): Ranked {
    const heapSlots = new Int32Array(k)
    const heapScores = new Float64Array(k)
    let n = 0
    const end = this.memories.length
    const created = this.created
    // a is worse than b: lower score, or the same score and older, or the same and a later slot
    const worse = (sa: number, a: number, sb: number, b: number) =>
      sa < sb || (sa === sb && (created[a]! < created[b]! || (created[a] === created[b] && a > b)))
    for (let slot = 0; slot < end; slot++) {
      if (!this.candidate(slot, input)) continue
      const s = this.scoreOf(slot, input)
      if (s < input.minScore) continue
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
