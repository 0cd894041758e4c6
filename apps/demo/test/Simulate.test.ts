// The day-long simulation (pnpm demo:simulate) on a small team: the same
// seed gives the same report byte for byte, another seed another one; the
// spend it reports is the simulated provider's billed log priced by the
// catalog; crashes are resumed by the engine; bad options are typed errors.
import { Pricing, TokenUsage } from "@agentos/core"
import { DefaultCatalog, ModelCatalog, SimulatedProvider } from "@agentos/router"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestContext } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { main } from "../src/simulate/main.js"
import * as Options from "../src/simulate/Options.js"
import * as Report from "../src/simulate/Report.js"
import * as Simulation from "../src/simulate/Simulation.js"

const SLOW = 600_000

const options = (argv: ReadonlyArray<string>): Options.Options => {
  const parsed = Options.parse([
    "--agents",
    "20",
    "--hours",
    "3",
    "--agent-memory",
    "50",
    "--team-memory",
    "500",
    ...argv
  ])
  if (parsed === "help" || parsed instanceof Options.InvalidSimulationOptions) throw new Error(String(parsed))
  return parsed
}

const simulate = (argv: ReadonlyArray<string>) => Effect.runPromise(Simulation.run(options(argv)))

describe("demo:simulate", () => {
  it("the same seed gives the same report, byte for byte; another seed another", async () => {
    const first = await simulate(["--seed", "7"])
    const second = await simulate(["--seed", "7"])
    const other = await simulate(["--seed", "8"])
    assert.strictEqual(Report.json(second), Report.json(first))
    assert.strictEqual(Report.text(second, { perAgent: true }), Report.text(first, { perAgent: true }))
    assert.strictEqual(Report.chartHtml(second), Report.chartHtml(first))
    assert.notStrictEqual(Report.json(other), Report.json(first))
    // The run did the work it reports: 20 agents × 3 hours, every run ended.
    assert.strictEqual(first.runs.submitted, 60)
    assert.strictEqual(first.runs.completed + first.runs.failed, 60)
    assert.strictEqual(first.agents.length, 20)
    assert.isAbove(first.spend.routedMicros, 0)
    assert.isAbove(first.spend.referenceMicros, first.spend.routedMicros)
    assert.isAbove(first.tokens.fairness, 0)
    assert.isAtMost(first.tokens.fairness, 1)
  }, SLOW)

  it("its spend is the simulated provider's billed log priced by the catalog", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-sim-"))
    try {
      const billedLog = Path.join(dir, "billed.jsonl")
      const report = await simulate(["--seed", "3", "--billed-log", billedLog])
      const lines = await Effect.runPromise(
        SimulatedProvider.readBilledLog(billedLog).pipe(Effect.provide(NodeFileSystem.layer))
      )
      let priced = 0
      for (const line of lines) {
        const model = ModelCatalog.find(DefaultCatalog.catalog, line.model)
        assert.isDefined(model, `the billed model ${line.model} is in the catalog`)
        priced += Pricing.cost(
          model!.pricing,
          TokenUsage.make({ inputTokens: line.inputTokens, outputTokens: line.outputTokens })
        )
      }
      assert.isAbove(lines.length, 0)
      // Every billed call is charged its billed cost, to the micro-dollar. (The clock
      // never moves while a line of the billed log is being written: a call whose
      // write was still under way when the clock passed its timeout used to be
      // ended after it was billed, and charged its reservation instead.)
      assert.strictEqual(report.spend.routedMicros, priced)
      assert.strictEqual(report.spend.byModel.reduce((s, m) => s + m.spentMicros, 0), report.spend.routedMicros)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, SLOW)

  it("a crash stops the runs in flight; the engine resumes them from their checkpoints", async () => {
    const report = await simulate(["--seed", "5", "--crashes", "0.03", "--server-errors", "0", "--rate-limits", "0"])
    assert.isAbove(report.crashes, 0)
    // Every crash stopped the run whose call crashed (a run may crash twice); a later runner resumed it.
    assert.isAbove(report.workflows.resumed, 0)
    assert.isAtMost(report.workflows.resumed, report.crashes * 4)
    assert.strictEqual(report.runs.completed, report.runs.submitted)
    assert.deepStrictEqual(report.workflows.byStatus, { completed: report.runs.submitted })
  }, SLOW)

  it("the TestClock's yields are replaced on the installed Effect (an internal field: an upgrade may move it)", () => {
    assert.isTrue(Effect.runSync(Simulation.quickYields.pipe(Effect.provide(TestContext.TestContext))))
  })

  it("Jain's index: 1 when every agent gets its fair share, lower when one takes more", () => {
    const fair = Simulation.jainFairness([
      { weight: 1, demand: 100, granted: 100 },
      { weight: 1, demand: 100, granted: 100 }
    ], 1_000)
    assert.strictEqual(fair, 1)
    // A budget of 100 for two equal agents asking 100 each: fair shares 50/50; granted 90/10.
    const skewed = Simulation.jainFairness([
      { weight: 1, demand: 100, granted: 90 },
      { weight: 1, demand: 100, granted: 10 }
    ], 100)
    assert.closeTo(skewed, (2 * 2) / (2 * (1.8 ** 2 + 0.2 ** 2)), 1e-9)
  })

  describe("bad options: a typed error, nothing runs, exit 1", () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["--agents", "0"], "--agents must be an integer from 1"],
      [["--agents", "ten"], "--agents must be an integer"],
      [["--hours", "25"], "--hours must be an integer from 1 to 24"],
      [["--seed", "1.5"], "--seed must be an integer"],
      [["--server-errors", "2"], "--server-errors must be a number from 0 to 1"],
      [["--crashes", "-0.1"], "--crashes must be a number from 0 to 1"],
      [["--server-errors", "0.6", "--rate-limits", "0.6"], "the failure rates add up to"],
      [["--mix", "standard:2000"], "--mix takes name:promptTokens:weight"],
      [["--mix", "a:2000:1,a:1000:1"], "--mix names \"a\" twice"],
      [["--spend-limit", "free"], "--spend-limit must be a positive number"],
      [["--frobnicate", "1"], "unknown option --frobnicate"],
      [["--agents"], "--agents needs a value"],
      [["--agents", "3", "--agents", "4"], "--agents is given twice"]
    ]
    for (const [argv, message] of cases) {
      it(argv.join(" "), async () => {
        const parsed = Options.parse(argv)
        assert.instanceOf(parsed, Options.InvalidSimulationOptions)
        assert.include((parsed as Options.InvalidSimulationOptions).message, message)
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-sim-"))
        const written: Array<string> = []
        const write = process.stderr.write.bind(process.stderr)
        process.stderr.write = ((chunk: string) => {
          written.push(String(chunk))
          return true
        }) as typeof process.stderr.write
        try {
          const code = await main([...argv, "--out", Path.join(dir, "out")])
          assert.strictEqual(code, 1)
        } finally {
          process.stderr.write = write
        }
        assert.include(written.join(""), message)
        assert.isFalse(Fs.existsSync(Path.join(dir, "out")), "nothing was written")
        Fs.rmSync(dir, { recursive: true, force: true })
      })
    }
  })
})
