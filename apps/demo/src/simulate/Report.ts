// The simulation's report as text (printed and written beside the JSON) and
// its chart of spend and load over the simulated day: an HTML page drawn by
// Chart.js, inlined from node_modules so it opens offline. Nothing here
// depends on the wall clock: the same report gives the same bytes.
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { SAMPLE_MINUTES } from "./Simulation.js"
import type { Report } from "./Simulation.js"

const dollars = (micros: number) => `$${(micros / 1e6).toFixed(4)}`
const percent = (part: number, whole: number) => (whole === 0 ? "0.0%" : `${((100 * part) / whole).toFixed(1)}%`)
const count = (n: number) => n.toLocaleString("en-US")

const quantiles = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (
    q: number
  ) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!)
  return { min: at(0), p50: at(0.5), p90: at(0.9), max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]! }
}

const record = (r: Readonly<Record<string, number>>) => {
  const entries = Object.entries(r)
  return entries.length === 0 ? "none" : entries.map(([k, v]) => `${k} ${count(v)}`).join(", ")
}

/** The summary printed at the end of a run, and the per-agent table of report.txt. */
export const text = (report: Report, options: { readonly perAgent: boolean }): string => {
  const o = report.options
  const agents = report.agents
  const spendShare = quantiles(agents.map((a) => (a.spendLimitMicros === 0 ? 0 : a.spentMicros / a.spendLimitMicros)))
  const tokenShare = quantiles(agents.map((a) => (a.tokensAllocated === 0 ? 0 : a.tokensUsed / a.tokensAllocated)))
  const overSpend = agents.filter((a) => a.spentMicros > a.spendLimitMicros).length
  const overTokens = agents.filter((a) => a.tokensUsed > a.tokensAllocated).length
  const lines = [
    `Simulation: ${count(o.agents)} agents × ${o.hours} h, seed ${o.seed}, mix ${
      o.mix.map((k) => `${k.name}:${k.promptTokens}:${k.weight}`).join(",")
    }`,
    `  failures: server errors ${o.failures.serverError}, rate limits ${o.failures.rateLimited}, timeouts ${o.failures.timeout}, crashes ${o.failures.crash} (shares of model calls)`,
    `  memory: ${count(o.agentMemory)} per agent, ${count(o.teamMemory)} for the team; live at the end ${
      count(report.memory.total)
    } (team ${count(report.memory.team)}, agents ${count(report.memory.agents)})`,
    "",
    `Runs: ${count(report.runs.submitted)} submitted, ${count(report.runs.completed)} completed, ${
      count(report.runs.failed)
    } failed, ${count(report.runs.unfinished)} unfinished; refused: ${record(report.runs.refused)}`,
    `Workflows: ${count(report.workflows.total)} (${record(report.workflows.byStatus)}), ${
      count(report.workflows.stepAttempts)
    } step attempts`,
    `Crashes: ${count(report.crashes)}; workflows resumed by the engine from a checkpoint: ${
      count(report.workflows.resumed)
    }`,
    `Model calls: ${count(report.calls.total)}`,
    "",
    `Spend with routing: ${dollars(report.spend.routedMicros)}; the reference model for everything: ${
      dollars(report.spend.referenceMicros)
    } (saving ${dollars(report.spend.savingMicros)}, ${
      percent(report.spend.savingMicros, report.spend.referenceMicros)
    })`,
    ...report.spend.byModel.map((m) =>
      `  ${m.model.padEnd(28)} ${count(m.calls).padStart(9)} calls ${dollars(m.spentMicros).padStart(12)}`
    ),
    "",
    `Per agent, spend ÷ its daily limit: min ${percent(spendShare.min, 1)}, median ${percent(spendShare.p50, 1)}, p90 ${
      percent(spendShare.p90, 1)
    }, max ${percent(spendShare.max, 1)}; over the limit: ${overSpend}`,
    `Per agent, tokens used ÷ allocated: min ${percent(tokenShare.min, 1)}, median ${percent(tokenShare.p50, 1)}, p90 ${
      percent(tokenShare.p90, 1)
    }, max ${percent(tokenShare.max, 1)}; over the allocation: ${overTokens}`,
    `Token budget: ${count(report.tokens.used)} of ${count(report.tokens.total)} used; Jain's fairness index ${
      report.tokens.fairness.toFixed(4)
    }`,
    "",
    `Dead letters: ${count(report.deadLetters.total)}; by cause: ${record(report.deadLetters.byCause)}`
  ]
  if (options.perAgent) {
    lines.push("", "agent            runs refused    spent      limit   spend%   tokens used   allocated  tokens%")
    for (
      const row of agents.map((a) =>
        [
          a.agent.padEnd(15),
          String(a.runs).padStart(5),
          String(a.refused).padStart(7),
          dollars(a.spentMicros).padStart(8),
          dollars(a.spendLimitMicros).padStart(10),
          percent(a.spentMicros, a.spendLimitMicros).padStart(8),
          count(a.tokensUsed).padStart(13),
          count(a.tokensAllocated).padStart(11),
          percent(a.tokensUsed, a.tokensAllocated).padStart(8)
        ].join(" ")
      )
    ) lines.push(row)
  }
  return lines.join("\n") + "\n"
}

const escapeScript = (source: string) => source.replace(/<\/script/gi, "<\\/script")

/** Chart.js's UMD build, as the dashboard serves it. */
const chartJs = (): string => {
  const entry = createRequire(import.meta.url).resolve("chart.js")
  return Fs.readFileSync(Path.join(Path.dirname(entry), "chart.umd.min.js"), "utf8")
}

/** The chart page: spend per interval (bars, dollars) and load (lines: runs started, ended, model calls). */
export const chartHtml = (report: Report): string => {
  const labels = report.samples.map((s) => {
    const h = Math.floor(s.minute / 60)
    const m = s.minute % 60
    return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`
  })
  const data = {
    labels,
    spend: report.samples.map((s) => s.spentMicros / 1e6),
    submitted: report.samples.map((s) => s.submitted),
    ended: report.samples.map((s) => s.ended),
    refused: report.samples.map((s) => s.refused),
    calls: report.samples.map((s) => s.calls)
  }
  const o = report.options
  const title = `A simulated day: ${o.agents} agents × ${o.hours} h, seed ${o.seed}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}canvas{margin-bottom:2rem}</style>
</head>
<body>
<h1>${title}</h1>
<p>Spend with routing ${dollars(report.spend.routedMicros)} against ${
    dollars(report.spend.referenceMicros)
  } with the reference model; ${report.runs.completed} runs completed, ${report.workflows.resumed} resumed after a crash, ${report.deadLetters.total} dead letters.</p>
<canvas id="spend" aria-label="Spend per interval" role="img"></canvas>
<canvas id="load" aria-label="Load per interval" role="img"></canvas>
<script>${escapeScript(chartJs())}</script>
<script>
const data = ${JSON.stringify(data)};
new Chart(document.getElementById("spend"), {
  type: "bar",
  data: { labels: data.labels, datasets: [{ label: "spend per ${SAMPLE_MINUTES} minutes (USD)", data: data.spend, backgroundColor: "#4e79a7" }] },
  options: { animation: false, plugins: { title: { display: true, text: "Spend over the simulated day" } },
    scales: { x: { title: { display: true, text: "simulated time" } }, y: { title: { display: true, text: "USD" } } } }
});
new Chart(document.getElementById("load"), {
  type: "line",
  data: { labels: data.labels, datasets: [
    { label: "runs submitted", data: data.submitted, borderColor: "#f28e2b", tension: 0 },
    { label: "runs ended", data: data.ended, borderColor: "#59a14f", tension: 0 },
    { label: "runs refused", data: data.refused, borderColor: "#e15759", tension: 0 },
    { label: "model calls", data: data.calls, borderColor: "#76b7b2", tension: 0, yAxisID: "calls" }
  ] },
  options: { animation: false, plugins: { title: { display: true, text: "Load over the simulated day" } },
    scales: { x: { title: { display: true, text: "simulated time" } },
      y: { title: { display: true, text: "runs" }, beginAtZero: true },
      calls: { position: "right", title: { display: true, text: "model calls" }, beginAtZero: true, grid: { drawOnChartArea: false } } } }
});
</script>
</body>
</html>
`
}

/** The report as JSON (stable key order: the report's own). */
export const json = (report: Report): string => JSON.stringify(report, null, 2) + "\n"

/** Writes report.json, report.txt and chart.html into `dir`; returns their paths. */
export const write = (report: Report, dir: string) => {
  Fs.mkdirSync(dir, { recursive: true })
  const files = {
    json: Path.join(dir, "report.json"),
    text: Path.join(dir, "report.txt"),
    chart: Path.join(dir, "chart.html")
  }
  Fs.writeFileSync(files.json, json(report))
  Fs.writeFileSync(files.text, text(report, { perAgent: true }))
  Fs.writeFileSync(files.chart, chartHtml(report))
  return files
}
