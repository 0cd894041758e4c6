/**
 * The benchmark result format (see bench/README.md) and the helpers every
 * package's benchmarks use to measure side by side and write
 * `bench/results/<package>.json` at the repository root.
 */
import * as Schema from "effect/Schema"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** A configuration value of a figure (backend, pragmas, pool size, tracing…). */
export const ConfigValue = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)

/** The target a figure is held to, from its issue. */
export const Target = Schema.Struct({
  /** Where the target comes from, e.g. "issue #4". */
  source: Schema.String,
  /** Human-readable statement of the target. */
  description: Schema.String,
  /** The largest acceptable ratio (ours relative to the baseline). */
  maxRatio: Schema.optional(Schema.Number),
  /** The smallest acceptable value. */
  min: Schema.optional(Schema.Number),
  /** The largest acceptable value. */
  max: Schema.optional(Schema.Number),
  /** Whether the measured figure met the target. */
  met: Schema.Boolean
})

/** One measured figure. */
export const Figure = Schema.Struct({
  name: Schema.String,
  value: Schema.Number,
  unit: Schema.String,
  better: Schema.Literal("higher", "lower"),
  config: Schema.Record({ key: Schema.String, value: ConfigValue }),
  /** The peer measured in the same run, with the same settings. */
  baseline: Schema.optional(Schema.Struct({ name: Schema.String, value: Schema.Number })),
  /**
   * Our cost relative to the baseline: value / baseline for lower-is-better,
   * baseline / value for higher-is-better. Above 1 means slower than the peer.
   */
  ratio: Schema.optional(Schema.Number),
  target: Schema.optional(Target),
  /** The range of the rounds (same unit as value), to show how noisy the run was. */
  spread: Schema.optional(Schema.Struct({
    min: Schema.Number,
    max: Schema.Number,
    baselineMin: Schema.optional(Schema.Number),
    baselineMax: Schema.optional(Schema.Number)
  })),
  note: Schema.optional(Schema.String)
})

/** A figure. */
export type Figure = typeof Figure.Type

/** The machine a run was measured on. */
export const Machine = Schema.Struct({
  cpus: Schema.Number,
  cpuModel: Schema.String,
  memoryGiB: Schema.Number,
  node: Schema.String,
  platform: Schema.String
})

/** The content of one `bench/results/<package>.json`. */
export const Results = Schema.Struct({
  package: Schema.String,
  date: Schema.String,
  machine: Machine,
  command: Schema.String,
  figures: Schema.Array(Figure)
})

/** A results file. */
export type Results = typeof Results.Type

/** The machine this process runs on. */
export const machine = (): typeof Machine.Type => ({
  cpus: Os.cpus().length,
  cpuModel: Os.cpus()[0]?.model.trim() ?? "unknown",
  memoryGiB: Math.round(Os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`
})

/**
 * The repository root: the nearest folder above the kit holding
 * pnpm-workspace.yaml, or the current directory when there is none (the kit
 * installed from npm outside a pnpm workspace).
 */
export const repositoryRoot = (): string => {
  let dir = Path.dirname(fileURLToPath(import.meta.url))
  while (!Fs.existsSync(Path.join(dir, "pnpm-workspace.yaml"))) {
    const parent = Path.dirname(dir)
    if (parent === dir) return process.cwd()
    dir = parent
  }
  return dir
}

/**
 * The figures of `bench/results/<package>.json`, validated; none when the
 * file does not exist. For a run that measures part of a package's figures
 * and keeps the rest (`writeResults` with the kept ones and its own).
 */
export const readFigures = (pkg: string): ReadonlyArray<Figure> => {
  const file = Path.join(repositoryRoot(), "bench", "results", `${pkg}.json`)
  if (!Fs.existsSync(file)) return []
  return Schema.decodeUnknownSync(Results)(JSON.parse(Fs.readFileSync(file, "utf8"))).figures
}

/** Validates and writes `bench/results/<package>.json`; returns its path. */
export const writeResults = (pkg: string, command: string, figures: ReadonlyArray<Figure>): string => {
  const results: Results = Schema.decodeUnknownSync(Results)({
    package: pkg,
    date: new Date().toISOString(),
    machine: machine(),
    command,
    figures
  })
  const dir = Path.join(repositoryRoot(), "bench", "results")
  Fs.mkdirSync(dir, { recursive: true })
  const file = Path.join(dir, `${pkg}.json`)
  Fs.writeFileSync(file, JSON.stringify(results, null, 2) + "\n")
  return file
}

/** Median of numbers. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** One side of a side-by-side comparison: runs `ops` operations per call. */
export interface Contender {
  readonly name: string
  /** Runs `ops` operations. */
  readonly run: (ops: number) => Promise<void>
}

/** The outcome of `compare`: microseconds per operation, median of rounds. */
export interface Comparison {
  readonly ours: number
  readonly baseline: number
  /**
   * ours / baseline (time per operation): the median of the per-round
   * ratios, each round of ours divided by the baseline round run next to it.
   */
  readonly ratio: number
  readonly rounds: number
  readonly opsPerRound: number
  /** Operations each side ran, twice and alternated, before the measured rounds. */
  readonly warmupOps: number
  /** Fastest and slowest round of each side (µs per operation). */
  readonly oursRange: readonly [min: number, max: number]
  readonly baselineRange: readonly [min: number, max: number]
}

/**
 * Measures two contenders side by side: two alternated warm-ups of each
 * (`warmupOps`, by default a full round), then `rounds`
 * alternating rounds (A B, B A, …) of `ops` operations, and the median time
 * per operation of each. Alternation spreads the noise of a shared machine
 * over both sides. The ratio is the median of the per-round ratios: the two
 * rounds of a pair run back to back, under the same load, so a slow spell of
 * the machine moves both sides of a pair instead of one side's median.
 */
export const compare = async (
  ours: Contender,
  baseline: Contender,
  options: { readonly ops: number; readonly rounds?: number; readonly warmupOps?: number }
): Promise<Comparison> => {
  const rounds = options.rounds ?? 7
  // Warm both sides up, alternated, for a full round each by default: a
  // short warm-up leaves the first side measured JIT-cold.
  const warmup = options.warmupOps ?? options.ops
  for (let i = 0; i < 2; i++) {
    await ours.run(warmup)
    await baseline.run(warmup)
  }
  const a: Array<number> = []
  const b: Array<number> = []
  const time = async (contender: Contender) => {
    const start = performance.now()
    await contender.run(options.ops)
    return ((performance.now() - start) * 1000) / options.ops
  }
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      a.push(await time(ours))
      b.push(await time(baseline))
    } else {
      b.push(await time(baseline))
      a.push(await time(ours))
    }
  }
  return {
    ours: median(a),
    baseline: median(b),
    ratio: median(a.map((ours, round) => ours / b[round]!)),
    rounds,
    opsPerRound: options.ops,
    warmupOps: warmup,
    oursRange: [Math.min(...a), Math.max(...a)],
    baselineRange: [Math.min(...b), Math.max(...b)]
  }
}

/** Measures one contender alone: median microseconds per operation. */
export const measure = async (
  contender: Contender,
  options: { readonly ops: number; readonly rounds?: number; readonly warmupOps?: number }
): Promise<number> => {
  const rounds = options.rounds ?? 7
  await contender.run(options.warmupOps ?? Math.max(1, Math.floor(options.ops / 5)))
  const times: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    await contender.run(options.ops)
    times.push(((performance.now() - start) * 1000) / options.ops)
  }
  return median(times)
}

/**
 * A figure of time per operation compared with a baseline, with its target
 * judged: a maximum ratio to the baseline, or a maximum value (in `unit`).
 * Times are µs per operation unless `unit` is "ms".
 */
export const comparedFigure = (fields: {
  readonly name: string
  readonly comparison: Comparison
  readonly baselineName: string
  readonly config: Figure["config"]
  readonly unit?: "µs/op" | "ms"
  readonly target?:
    | { readonly source: string; readonly maxRatio: number }
    | { readonly source: string; readonly description: string; readonly max: number }
  readonly note?: string
}): Figure => {
  const { comparison } = fields
  const scale = fields.unit === "ms" ? 1 / 1000 : 1
  const at = (micros: number) => round(micros * scale)
  const target = fields.target
  return {
    name: fields.name,
    value: at(comparison.ours),
    unit: fields.unit ?? "µs/op",
    better: "lower",
    config: {
      ...fields.config,
      rounds: comparison.rounds,
      opsPerRound: comparison.opsPerRound,
      warmupOps: `2 × ${comparison.warmupOps} per side`
    },
    baseline: { name: fields.baselineName, value: at(comparison.baseline) },
    ratio: round(comparison.ratio),
    ...(target === undefined ? {} : {
      target: "maxRatio" in target
        ? {
          source: target.source,
          description: `at most ${target.maxRatio}× ${fields.baselineName}`,
          maxRatio: target.maxRatio,
          met: comparison.ratio <= target.maxRatio
        }
        : {
          source: target.source,
          description: target.description,
          max: target.max,
          met: comparison.ours * scale <= target.max
        }
    }),
    spread: {
      min: at(comparison.oursRange[0]),
      max: at(comparison.oursRange[1]),
      baselineMin: at(comparison.baselineRange[0]),
      baselineMax: at(comparison.baselineRange[1])
    },
    ...(fields.note === undefined ? {} : { note: fields.note })
  }
}

/** Rounds to 4 significant digits for reports. */
export const round = (value: number): number => Number(value.toPrecision(4))
