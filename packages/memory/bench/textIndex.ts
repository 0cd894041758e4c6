// The full-text index alone against MiniSearch, over the texts of the demo
// simulation's memory (200,000 agent memories of 10 made-up words over
// 1,000 agents, 5,000 team memories of 12, 12,000 "sources on <topic>"
// results): the time to index them and the heap the index holds after a GC.
// One side per process, so one's garbage does not count against the other.
// Run: node --expose-gc --import tsx --conditions=@agentos/source bench/textIndex.ts ours|minisearch
import MiniSearch from "minisearch"
import { TextIndex } from "../src/internal/textIndex.js"

const SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "de", "fi", "go", "hu", "ja"]
const VOCABULARY = Array.from(
  { length: 4096 },
  (_, i) => `${SYLLABLES[i & 15]}${SYLLABLES[(i >> 4) & 15]}${SYLLABLES[(i >> 8) & 15]}`
)
let seed = 7
const draw = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648
const words = (n: number) =>
  Array.from({ length: n }, () => VOCABULARY[Math.floor(draw() * VOCABULARY.length)]!).join(" ")
const texts = Array.from(
  { length: 217_000 },
  (_, i) => i < 205_000 ? words(i < 200_000 ? 10 : 12) : `sources on agent runtimes in production: ${words(8)}`
)
// agents' memories in scopes 1–1,000, the team's (and the results, for this measure) in scope 0
const scopeOf = (i: number) => i < 200_000 ? 1 + (i % 1000) : 0

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")
const side = process.argv[2] === "minisearch" ? "minisearch" : "ours"
gc()
const base = process.memoryUsage().heapUsed
const started = performance.now()
const index = side === "ours" ? new TextIndex() : new MiniSearch<{ id: number; text: string }>({ fields: ["text"] })
texts.forEach((text, i) => index instanceof TextIndex ? index.add(i, scopeOf(i), text) : index.add({ id: i, text }))
const millis = performance.now() - started
gc()
const heap = (process.memoryUsage().heapUsed - base) / 1_048_576
console.log(`${side}: indexed ${texts.length} texts in ${millis.toFixed(0)} ms; heap held ${heap.toFixed(0)} MiB`)
