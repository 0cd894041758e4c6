// The full-text index of a team's memories: BM25 with MiniSearch's
// tokenisation (its default `tokenize` and `processTerm`: split on spaces and
// punctuation, lower-cased) and MiniSearch's scoring formula and parameters
// (k 1.2, b 0.7, d 0.5; OR of the query's terms, exact; a document's score
// multiplied by how many distinct query terms it matched), but with the
// postings of each term kept per scope (the team's, each agent's).
//
// A scoped search walks only the postings of the scopes asked for, so its cost
// is what those scopes hold, not what the whole team holds. The statistics a
// score uses — the number of documents, their average length and a term's
// document frequency — stay those of the whole index: a memory's score does
// not depend on which scopes a query asked for, and equals the score an
// unscoped search (or MiniSearch over the same documents) gives it. One
// difference from MiniSearch: a removed document leaves a term's document
// frequency at once, where MiniSearch keeps counting a discarded document
// until its vacuum (run later, asynchronously) has cleaned the term.
import MiniSearch from "minisearch"

const tokenize = MiniSearch.getDefault("tokenize") as (text: string) => Array<string>
const processTerm = MiniSearch.getDefault("processTerm") as (term: string) => string | null | undefined

// MiniSearch's default BM25+ parameters
const K = 1.2
const B = 0.7
const D = 0.5

/** A document's id (its slot) and BM25 score. */
export interface Hit {
  readonly id: number
  readonly score: number
}

/** The processed terms of a text with their frequencies, and its length as MiniSearch counts it. */
const analyse = (text: string) => {
  const tokens = tokenize(text)
  const freqs = new Map<string, number>()
  for (const token of tokens) {
    const term = processTerm(token)
    if (term) freqs.set(term, (freqs.get(term) ?? 0) + 1)
  }
  // MiniSearch's field length: the distinct tokens before processing
  return { freqs, length: new Set(tokens).size }
}

// A scope's postings of a term: most terms of an agent's memories are in one
// of them, so one posting is a number (slot · 64 + term frequency, when the
// frequency is below 64) and only more are a list of (slot, frequency)
// pairs: a Map or an array per term and scope would cost far more memory
// than the postings themselves.
type Postings = number | Array<number>
const single = (slot: number, tf: number): Postings => tf < 64 ? slot * 64 + tf : [slot, tf]

interface Term {
  /** The term, one string shared by every scope's map. */
  readonly term: string
  /** Documents (of every scope) holding it. */
  df: number
}

export class TextIndex {
  private documentCount = 0
  private averageLength = 0
  /** The length of each indexed slot's text. */
  private readonly lengths: Array<number> = []
  private readonly terms = new Map<string, Term>()
  /** Per scope code: term → its postings in the scope. */
  private readonly scopes: Array<Map<string, Postings> | undefined> = []
  /** Postings read by searches so far (what a search costs; tests count it). */
  visited = 0

  get size(): number {
    return this.documentCount
  }

  add(slot: number, scope: number, text: string): void {
    const { freqs, length } = analyse(text)
    // MiniSearch's running average, the same arithmetic in the same order
    const count = this.documentCount++
    this.averageLength = (this.averageLength * count + length) / (count + 1)
    this.lengths[slot] = length
    while (this.scopes.length <= scope) this.scopes.push(undefined)
    let postingsOf = this.scopes[scope]
    if (postingsOf === undefined) this.scopes[scope] = postingsOf = new Map()
    for (const [word, tf] of freqs) {
      let info = this.terms.get(word)
      if (info === undefined) this.terms.set(word, info = { term: word, df: 0 })
      info.df++
      const postings = postingsOf.get(info.term)
      if (postings === undefined) postingsOf.set(info.term, single(slot, tf))
      else if (typeof postings === "number") {
        postingsOf.set(info.term, [Math.floor(postings / 64), postings % 64, slot, tf])
      } else postings.push(slot, tf)
    }
  }

  /** Removes an indexed slot, given the scope and text it was added with. */
  remove(slot: number, scope: number, text: string): void {
    const { freqs } = analyse(text)
    const count = this.documentCount--
    this.averageLength = count === 1 ? 0 : (this.averageLength * count - this.lengths[slot]!) / (count - 1)
    const postingsOf = this.scopes[scope]!
    for (const word of freqs.keys()) {
      const info = this.terms.get(word)!
      if (--info.df === 0) this.terms.delete(word)
      const postings = postingsOf.get(word)!
      if (typeof postings === "number") {
        postingsOf.delete(word)
        continue
      }
      let at = 0
      while (postings[at] !== slot) at += 2
      const last = postings.length - 2
      postings[at] = postings[last]!
      postings[at + 1] = postings[last + 1]!
      postings.length = last
      if (last === 2) postingsOf.set(info.term, single(postings[0]!, postings[1]!))
    }
  }

  /**
   * The hits of a query among the documents of the given scope codes (every
   * scope when undefined), in no particular order.
   */
  search(query: string, scopes?: ReadonlyArray<number>): Array<Hit> {
    const terms: Array<string> = []
    for (const token of tokenize(query)) {
      const term = processTerm(token)
      if (term) terms.push(term)
    }
    const codes = scopes ?? this.scopes.map((_, code) => code)
    const acc = new Map<number, { score: number; terms: number }>()
    const n = this.documentCount
    const average = this.averageLength
    const lengths = this.lengths
    let visited = 0
    for (let i = 0; i < terms.length; i++) {
      const term = terms[i]!
      const info = this.terms.get(term)
      if (info === undefined) continue
      const df = info.df
      // a repeated query term adds its score again but counts once (as in MiniSearch)
      const first = terms.indexOf(term) === i
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5))
      const score = (slot: number, tf: number) => {
        visited++
        const s = idf * (D + tf * (K + 1) / (tf + K * (1 - B + B * lengths[slot]! / average)))
        const hit = acc.get(slot)
        if (hit === undefined) acc.set(slot, { score: s, terms: 1 })
        else {
          hit.score += s
          if (first) hit.terms++
        }
      }
      for (const code of codes) {
        const postings = this.scopes[code]?.get(term)
        if (postings === undefined) continue
        if (typeof postings === "number") score(Math.floor(postings / 64), postings % 64)
        else for (let j = 0; j < postings.length; j += 2) score(postings[j]!, postings[j + 1]!)
      }
    }
    this.visited += visited
    const hits: Array<Hit> = []
    for (const [id, hit] of acc) hits.push({ id, score: hit.score * hit.terms })
    return hits
  }
}
