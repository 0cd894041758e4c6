// The simulation's options: what `pnpm demo:simulate` takes on its command
// line, their defaults, and their validation (a bad option is a typed
// error with a clear message, and nothing runs).
import { Data } from "effect"

/** One kind of research run in the workload mix: how large its prompts are built, and its share of the runs. */
export interface WorkloadKind {
  readonly name: string
  readonly promptTokens: number
  readonly weight: number
}

/** The simulated provider's failure rates, as shares of model calls. */
export interface FailureRates {
  /** 500s (retried by the workflow step). */
  readonly serverError: number
  /** 429s with `Retry-After` (retried by the workflow step). */
  readonly rateLimited: number
  /** Calls that time out. */
  readonly timeout: number
  /** Calls during which the process crashes: every run in flight is stopped mid-step and resumed by a new process. */
  readonly crash: number
}

export interface Options {
  readonly agents: number
  readonly hours: number
  readonly seed: number
  readonly mix: ReadonlyArray<WorkloadKind>
  readonly failures: FailureRates
  /** Live memories each agent is seeded up to (its own scope). */
  readonly agentMemory: number
  /** Live memories of the team's shared scope, seeded up to. */
  readonly teamMemory: number
  /** The team's token budget per day; default: 400,000 per agent. */
  readonly tokenBudget: number
  /** The team's spend limit per day in micro-dollars (each agent may spend half of it); default: $5 per agent. */
  readonly spendLimitMicros: number
  /** Where the report and the chart are written. */
  readonly out: string
  /** The simulated provider's billed log (one fsynced JSON line per call); off by default. */
  readonly billedLog: string | undefined
  /** Draw the progress bar (on stderr). */
  readonly progress: boolean
}

/** An option is not valid: nothing ran. */
export class InvalidSimulationOptions extends Data.TaggedError("InvalidSimulationOptions")<{
  readonly message: string
}> {}

export const DEFAULT_MIX: ReadonlyArray<WorkloadKind> = [{ name: "standard", promptTokens: 2_000, weight: 1 }]

export const DEFAULT_FAILURES: FailureRates = { serverError: 0.03, rateLimited: 0.01, timeout: 0, crash: 0.0005 }

/** The defaults of a run of `agents` agents: the day of a thousand agents. */
export const defaults = (agents = 1_000): Options => ({
  agents,
  hours: 24,
  seed: 1,
  mix: DEFAULT_MIX,
  failures: DEFAULT_FAILURES,
  agentMemory: 200,
  teamMemory: 5_000,
  tokenBudget: agents * 400_000,
  spendLimitMicros: agents * 5_000_000,
  out: "simulation",
  billedLog: undefined,
  progress: false
})

export const USAGE = `Usage: pnpm demo:simulate [options]

  --agents <n>           agents, each running one research workflow per simulated hour (default 1000)
  --hours <n>            simulated hours, 1-24: one budget day (default 24)
  --seed <n>             the seed: the same seed gives the same report (default 1)
  --mix <kinds>          workload mix, name:promptTokens:weight,... (default standard:2000:1)
  --server-errors <r>    share of model calls answered 500 (default 0.03)
  --rate-limits <r>      share of model calls answered 429 (default 0.01)
  --timeouts <r>         share of model calls that time out (default 0)
  --crashes <r>          share of model calls during which the process crashes (default 0.0005)
  --agent-memory <n>     memories per agent (default 200)
  --team-memory <n>      memories of the team (default 5000)
  --token-budget <n>     the team's tokens per day (default 400000 per agent)
  --spend-limit <usd>    the team's spend limit per day in dollars (default 5 per agent; each agent half of it)
  --out <dir>            where report.json, report.txt and chart.html go (default simulation)
  --billed-log <file>    write the simulated provider's billed log (slow: one fsync per call)
  --help`

const fail = (message: string) => new InvalidSimulationOptions({ message })

const integer = (name: string, value: string, min: number, max: number): number | InvalidSimulationOptions => {
  const n = Number(value)
  return /^-?\d+$/.test(value.trim()) && Number.isSafeInteger(n) && n >= min && n <= max
    ? n
    : fail(`--${name} must be an integer from ${min} to ${max}, got "${value}"`)
}

const rate = (name: string, value: string): number | InvalidSimulationOptions => {
  const n = Number(value)
  return value.trim() !== "" && Number.isFinite(n) && n >= 0 && n <= 1
    ? n
    : fail(`--${name} must be a number from 0 to 1, got "${value}"`)
}

const parseMix = (value: string): ReadonlyArray<WorkloadKind> | InvalidSimulationOptions => {
  const kinds: Array<WorkloadKind> = []
  for (const part of value.split(",")) {
    const match = /^([a-z][\w-]{0,31}):(\d+):(\d+(?:\.\d+)?)$/.exec(part.trim())
    const promptTokens = match === null ? NaN : Number(match[2])
    const weight = match === null ? NaN : Number(match[3])
    if (match === null || promptTokens < 100 || promptTokens > 100_000 || !(weight > 0)) {
      return fail(
        `--mix takes name:promptTokens:weight,... (a lower-case name, 100-100000 tokens, a positive weight), got "${part}"`
      )
    }
    if (kinds.some((k) => k.name === match[1])) return fail(`--mix names "${match[1]}" twice`)
    kinds.push({ name: match[1]!, promptTokens, weight })
  }
  return kinds
}

const FLAGS = new Set([
  "agents",
  "hours",
  "seed",
  "mix",
  "server-errors",
  "rate-limits",
  "timeouts",
  "crashes",
  "agent-memory",
  "team-memory",
  "token-budget",
  "spend-limit",
  "out",
  "billed-log"
])

/**
 * The options of a command line (`--name value` or `--name=value`);
 * `"help"` when help was asked for.
 */
export const parse = (
  argv: ReadonlyArray<string>,
  base: { readonly progress: boolean } = { progress: false }
): Options | "help" | InvalidSimulationOptions => {
  const given = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h") return "help"
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (match === null) return fail(`unexpected argument "${arg}"\n${USAGE}`)
    const name = match[1]!
    if (!FLAGS.has(name)) return fail(`unknown option --${name}\n${USAGE}`)
    const value = match[2] ?? (argv[i + 1]?.startsWith("--") === true ? undefined : argv[++i])
    if (value === undefined) return fail(`--${name} needs a value`)
    if (given.has(name)) return fail(`--${name} is given twice`)
    given.set(name, value)
  }
  const get = <A>(name: string, read: (value: string) => A | InvalidSimulationOptions, fallback: A) => {
    const value = given.get(name)
    return value === undefined ? fallback : read(value)
  }
  const agents = get("agents", (v) => integer("agents", v, 1, 100_000), 1_000)
  if (agents instanceof InvalidSimulationOptions) return agents
  const base0 = defaults(agents)
  const fields = {
    hours: get("hours", (v) => integer("hours", v, 1, 24), base0.hours),
    seed: get("seed", (v) => integer("seed", v, 0, 2 ** 31 - 1), base0.seed),
    mix: get("mix", parseMix, base0.mix),
    serverError: get("server-errors", (v) => rate("server-errors", v), base0.failures.serverError),
    rateLimited: get("rate-limits", (v) => rate("rate-limits", v), base0.failures.rateLimited),
    timeout: get("timeouts", (v) => rate("timeouts", v), base0.failures.timeout),
    crash: get("crashes", (v) => rate("crashes", v), base0.failures.crash),
    agentMemory: get("agent-memory", (v) => integer("agent-memory", v, 0, 10_000), base0.agentMemory),
    teamMemory: get("team-memory", (v) => integer("team-memory", v, 0, 1_000_000), base0.teamMemory),
    tokenBudget: get("token-budget", (v) => integer("token-budget", v, 1, Number.MAX_SAFE_INTEGER), base0.tokenBudget),
    spendLimitMicros: get("spend-limit", (v) => {
      const usd = Number(v)
      return v.trim() !== "" && Number.isFinite(usd) && usd > 0 && usd * 1e6 <= Number.MAX_SAFE_INTEGER
        ? Math.round(usd * 1e6)
        : fail(`--spend-limit must be a positive number of dollars, got "${v}"`)
    }, base0.spendLimitMicros),
    out: get("out", (v) => (v.trim() === "" ? fail("--out must name a directory") : v), base0.out),
    billedLog: get<string | undefined>(
      "billed-log",
      (v) => (v.trim() === "" ? fail("--billed-log must name a file") : v),
      undefined
    )
  }
  for (const value of Object.values(fields)) {
    if (value instanceof InvalidSimulationOptions) return value
  }
  const f = fields as {
    [K in keyof typeof fields]: Exclude<(typeof fields)[K], InvalidSimulationOptions>
  }
  const failureSum = f.serverError + f.rateLimited + f.timeout + f.crash
  if (failureSum > 1) return fail(`the failure rates add up to ${failureSum}, more than 1`)
  return {
    agents,
    hours: f.hours,
    seed: f.seed,
    mix: f.mix,
    failures: { serverError: f.serverError, rateLimited: f.rateLimited, timeout: f.timeout, crash: f.crash },
    agentMemory: f.agentMemory,
    teamMemory: f.teamMemory,
    tokenBudget: f.tokenBudget,
    spendLimitMicros: f.spendLimitMicros,
    out: f.out,
    billedLog: f.billedLog,
    progress: base.progress
  }
}
