// pnpm demo:simulate — see Simulation.ts and the README's "Simulation" section.
import { Effect } from "effect"
import { pathToFileURL } from "node:url"
import * as Options from "./Options.js"
import * as Report from "./Report.js"
import * as Simulation from "./Simulation.js"

const bar = (progress: Simulation.Progress) => {
  const width = 30
  const filled = Math.round((progress.simulatedMinutes / progress.totalMinutes) * width)
  const h = Math.floor(progress.simulatedMinutes / 60)
  const m = progress.simulatedMinutes % 60
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] simulated ${String(h).padStart(2, "0")}:${
    String(m).padStart(2, "0")
  }  runs submitted ${progress.submitted}, ended ${progress.ended}`
}

/** Runs the command line; resolves to the exit code (0: report written, 1: bad options or a failed run). */
export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const tty = process.stderr.isTTY === true
  const options = Options.parse(argv, { progress: tty })
  if (options === "help") {
    process.stdout.write(`${Options.USAGE}\n`)
    return 0
  }
  if (options instanceof Options.InvalidSimulationOptions) {
    process.stderr.write(`demo:simulate: ${options.message}\n`)
    return 1
  }
  let drawn = -1
  const onProgress = (progress: Simulation.Progress) => {
    if (!options.progress) return
    // Redrawn once per simulated 5 minutes: the bar is cheap next to the simulation.
    if (progress.simulatedMinutes - drawn < 5 && progress.simulatedMinutes !== progress.totalMinutes) return
    drawn = progress.simulatedMinutes
    process.stderr.write(`\r${bar(progress)}`)
  }
  const exit = await Effect.runPromiseExit(Simulation.run(options, onProgress))
  if (options.progress) process.stderr.write("\n")
  if (exit._tag === "Failure") {
    process.stderr.write(`demo:simulate: the run failed: ${String(exit.cause)}\n`)
    return 1
  }
  const files = Report.write(exit.value, options.out)
  process.stdout.write(Report.text(exit.value, { perAgent: false }))
  process.stdout.write(`\nreport: ${files.json}, ${files.text}; chart: ${files.chart}\n`)
  return 0
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
    process.stderr.write(`demo:simulate: ${String(error)}\n`)
    process.exit(1)
  })
}
