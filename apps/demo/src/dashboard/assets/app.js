// The operator dashboard's script: polls the service's JSON routes every
// POLL_MILLIS, updates the page in place (rows are keyed, so a focused
// button keeps its focus across updates), draws the charts with Chart.js,
// and replays or resolves dead letters. With AGENTOS_API_TOKEN set on the
// service, every route answers 401 until the page is given the token.
/* global Chart, document, fetch, performance, sessionStorage, setTimeout, clearTimeout, window */

const POLL_MILLIS = 2_000
const TOKEN_KEY = "agentos.apiToken"
const SERIES_POINTS = 150 // five minutes at one point per poll
const LETTERS_OPEN = 100
const LETTERS_RESOLVED = 10
const FINISHED_KEPT = 15
/** The newest workflows asked for at every poll, whatever their status. */
const RECENT_WORKFLOWS = 15
/** The routing decisions shown (and asked for). */
const DECISIONS_SHOWN = 20

const $ = (id) => document.getElementById(id)

// ------------------------------------------------------------------ state

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? undefined,
  paused: false,
  timer: undefined,
  /** The poll under way, if any. */
  current: undefined,
  locked: false,
  /** "live", "down", "partial:<panels>" or "locked": the live region speaks when it changes. */
  health: undefined,
  /** When the page last got figures (epoch milliseconds, this browser's clock). */
  lastUpdate: undefined,
  /** When each panel last got its figures. */
  panelUpdated: {},
  /**
   * Workflows seen running, by id: when one leaves the running list and is not
   * among the newest workflows either, its final status is fetched.
   */
  running: new Map(),
  /** Finished workflows seen by this page, newest first. */
  finished: [],
  /** Letters with an action in flight, by id. */
  busy: new Set(),
  series: { labels: [], load: [], queued: [] },
  /**
   * The service's spend history (`/budget/history`), oldest first: read whole
   * on the first poll, then only the samples after the last one (`since`).
   */
  history: { samples: [], capacity: 720, last: undefined },
  charts: {}
}

// ------------------------------------------------------------------ formatting

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const percent = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 })
const fmtInt = (n) => (typeof n === "number" && Number.isFinite(n) ? integer.format(n) : "—")
const fmtPercent = (n) => (typeof n === "number" && Number.isFinite(n) ? percent.format(n) : "—")
/** Money is integer micro-dollars. */
const fmtMoney = (micros) => {
  if (typeof micros !== "number" || !Number.isFinite(micros)) return "—"
  const dollars = micros / 1_000_000
  return `$${
    dollars.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: micros < 1_000_000 ? 6 : 2 })
  }`
}
const fmtTime = (ms) => (typeof ms === "number" ? new Date(ms).toLocaleTimeString("en-GB") : "—")
/** A moment of the past: its time today, its date and time before today (a letter may be days old). */
const fmtWhen = (ms) => {
  if (typeof ms !== "number") return "—"
  const date = new Date(ms)
  return date.toDateString() === new Date().toDateString()
    ? fmtTime(ms)
    : `${date.toLocaleDateString("en-CA")} ${date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}`
}
const fmtMillis = (ms) => (typeof ms === "number" && Number.isFinite(ms) ? `${integer.format(ms)} ms` : "—")
const short = (id) => (typeof id === "string" && id.length > 10 ? `…${id.slice(-8)}` : String(id ?? "—"))
const firstLine = (text) => String(text ?? "").split("\n")[0]

// ------------------------------------------------------------------ DOM helpers

const setText = (element, text) => {
  const value = String(text)
  if (element.textContent !== value) element.textContent = value
}

const el = (tag, attributes = {}, children = []) => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") element.textContent = value
    else if (name === "className") element.className = value
    else element.setAttribute(name, value)
  }
  for (const child of children) element.append(child)
  return element
}

/**
 * Makes `tbody` show `items` in order, one row per key: rows are created
 * once (`create`), updated in place (`update`) and only moved when the
 * order changes, so that focus and open `<details>` survive an update.
 */
const syncRows = (tbody, items, keyOf, create, update) => {
  const existing = new Map()
  for (const row of Array.from(tbody.rows)) existing.set(row.dataset.key, row)
  let previous = null
  for (const item of items) {
    const key = String(keyOf(item))
    let row = existing.get(key)
    if (row === undefined) {
      row = create(item, tbody)
      row.dataset.key = key
    } else {
      existing.delete(key)
    }
    update(row, item)
    const expected = previous === null ? tbody.firstElementChild : previous.nextElementSibling
    if (row !== expected) tbody.insertBefore(row, expected)
    previous = row
  }
  for (const row of existing.values()) row.remove()
}

/**
 * A row of `count` cells, each reachable as `row.cells[i]`. In a table that
 * stacks on a narrow screen (`.stack`) each cell carries its column's name
 * (shown before it) and the roles keep the table's semantics under CSS.
 */
const rowOf = (tbody, count) => {
  const table = tbody.parentElement
  const stack = table.classList.contains("stack")
  const headers = Array.from(table.tHead?.rows[0]?.cells ?? [])
  return el(
    "tr",
    stack ? { role: "row" } : {},
    Array.from(
      { length: count },
      (_, i) => el("td", stack ? { role: "cell", "data-label": headers[i]?.textContent?.trim() ?? "" } : {})
    )
  )
}

/**
 * A table that overflows sideways can be scrolled with the keyboard only
 * when its box takes focus; one that fits is no extra tab stop.
 */
const updateScrollStops = () => {
  for (const box of document.querySelectorAll(".scroll")) {
    const scrolls = box.scrollWidth > box.clientWidth
    if (scrolls && box.tabIndex !== 0) box.tabIndex = 0
    else if (!scrolls && box.hasAttribute("tabindex")) box.removeAttribute("tabindex")
  }
}

window.addEventListener("resize", updateScrollStops)

const setEmpty = (id, empty) => {
  $(id).hidden = !empty
}

const badge = (cell, text, kind) => {
  let span = cell.firstElementChild
  if (span === null) {
    span = el("span")
    cell.append(span)
  }
  const className = `badge badge-${kind}`
  if (span.className !== className) span.className = className
  setText(span, text)
}

const announce = (message) => {
  setText($("notice"), message)
}

// ------------------------------------------------------------------ HTTP

class Unauthorized extends Error {}

/** No answer at all: the service is down, restarting, or the network is. */
class Unreachable extends Error {}

class ApiError extends Error {
  constructor(status, body, text) {
    super(body?.message ?? (text || `HTTP ${status}`))
    this.status = status
    this.body = body
  }
}

const api = async (method, path, body) => {
  const headers = { accept: "application/json" }
  if (state.token !== undefined) headers.authorization = `Bearer ${state.token}`
  if (body !== undefined) headers["content-type"] = "application/json"
  let response
  let text
  try {
    response = await fetch(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    text = await response.text()
  } catch {
    throw new Unreachable("the service does not answer")
  }
  let parsed
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (response.status === 401) throw new Unauthorized(parsed?.message ?? "unauthorized")
  if (!response.ok) throw new ApiError(response.status, parsed, text)
  return parsed
}

// ------------------------------------------------------------------ charts

const chartsAvailable = () => typeof Chart === "function"

const makeCharts = () => {
  if (!chartsAvailable() || state.charts.load !== undefined) return
  Chart.defaults.animation = false
  Chart.defaults.maintainAspectRatio = false
  Chart.defaults.color = "#1f2933"
  Chart.defaults.font.family = "system-ui, sans-serif"
  state.charts.load = new Chart($("load-chart"), {
    type: "line",
    data: {
      labels: state.series.labels,
      datasets: [
        {
          label: "Load (%)",
          data: state.series.load,
          borderColor: "#1d4ed8",
          backgroundColor: "#1d4ed8",
          yAxisID: "y",
          pointRadius: 0
        },
        {
          label: "Queued tasks",
          data: state.series.queued,
          borderColor: "#b45309",
          backgroundColor: "#b45309",
          yAxisID: "y1",
          pointRadius: 0,
          stepped: true
        }
      ]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 6 } },
        y: { min: 0, max: 100, title: { display: true, text: "load %" } },
        y1: {
          min: 0,
          suggestedMax: 4,
          position: "right",
          grid: { drawOnChartArea: false },
          title: { display: true, text: "queued" }
        }
      }
    }
  })
  state.charts.budget = new Chart($("budget-chart"), {
    type: "bar",
    data: {
      labels: [],
      datasets: [
        { label: "Allocated", data: [], backgroundColor: "#93c5fd" },
        { label: "Used", data: [], backgroundColor: "#1d4ed8" },
        { label: "Reserved", data: [], backgroundColor: "#f59e0b" },
        { label: "Stolen by it", data: [], backgroundColor: "#059669" },
        { label: "Stolen from it", data: [], backgroundColor: "#b91c1c" }
      ]
    },
    options: {
      indexAxis: "y",
      scales: { x: { type: "logarithmic", title: { display: true, text: "tokens (log scale)" } } }
    }
  })
  state.charts.spend = new Chart($("spend-chart"), {
    type: "line",
    data: {
      labels: [],
      datasets: [
        { label: "Spent ($)", data: [], borderColor: "#1d4ed8", backgroundColor: "#1d4ed8", pointRadius: 0 },
        {
          label: "Budget ($)",
          data: [],
          borderColor: "#b91c1c",
          backgroundColor: "#b91c1c",
          borderDash: [6, 4],
          pointRadius: 0
        },
        {
          label: "On the most capable model ($)",
          data: [],
          borderColor: "#6b7280",
          backgroundColor: "#6b7280",
          pointRadius: 0
        },
        { label: "Saving ($)", data: [], borderColor: "#059669", backgroundColor: "#059669", pointRadius: 0 }
      ]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 6 } },
        y: { type: "logarithmic", title: { display: true, text: "dollars (log scale)" } }
      }
    }
  })
}

/** A logarithmic axis cannot show 0: it is left out. */
const logValue = (n) => (typeof n === "number" && n > 0 ? n : null)

const pushSeries = (label, values) => {
  const series = state.series
  series.labels.push(label)
  for (const [name, value] of Object.entries(values)) series[name].push(value)
  if (series.labels.length > SERIES_POINTS) {
    for (const list of Object.values(series)) list.shift()
  }
}

/** The history route to ask: all of it the first time, then what came after the last sample. */
const historyRoute = () =>
  state.history.last === undefined ? "/budget/history" : `/budget/history?since=${state.history.last}`

/**
 * Adds the samples of an answer of `/budget/history` to the page's copy (at
 * most the service's capacity, oldest dropped first) and redraws the spend
 * chart from it: a page opened late shows the whole history.
 */
const renderHistory = (answer) => {
  const history = state.history
  history.capacity = answer.capacity ?? history.capacity
  for (const sample of answer.samples ?? []) {
    if (history.last === undefined || sample.at > history.last) {
      history.samples.push(sample)
      history.last = sample.at
    }
  }
  if (history.samples.length > history.capacity) history.samples.splice(0, history.samples.length - history.capacity)
  const chart = state.charts.spend
  if (chart === undefined) return
  const dollars = (micros) => logValue(micros / 1_000_000)
  chart.data.labels = history.samples.map((s) => fmtTime(s.at))
  chart.data.datasets[0].data = history.samples.map((s) => dollars(s.spentMicros))
  chart.data.datasets[1].data = history.samples.map((s) => dollars(s.budgetMicros))
  chart.data.datasets[2].data = history.samples.map((s) => dollars(s.referenceMicros))
  chart.data.datasets[3].data = history.samples.map((s) => dollars(s.referenceMicros - s.spentMicros))
  chart.update()
  const first = history.samples[0]
  setText(
    $("spend-history"),
    first === undefined
      ? "No spend sample yet."
      : `${fmtInt(history.samples.length)} samples since ${fmtWhen(first.at)}, one every ${
        fmtInt((answer.intervalMillis ?? 0) / 1000)
      } s.`
  )
}

// ------------------------------------------------------------------ sections

const renderSystem = (supervisor) => {
  const workers = supervisor.workers ?? []
  const queued = Object.values(supervisor.queueDepth ?? {}).reduce((a, b) => a + b, 0)
  setText($("fig-load"), fmtPercent(supervisor.load))
  $("load-meter").value = Math.min(1, Math.max(0, supervisor.load ?? 0))
  setText($("fig-running"), fmtInt(supervisor.running))
  setText($("fig-queued"), fmtInt(queued))
  setText($("fig-completed"), fmtInt(workers.reduce((a, w) => a + (w.completed ?? 0), 0)))
  setText($("fig-errors"), fmtInt(workers.reduce((a, w) => a + (w.errors ?? 0), 0)))

  syncRows($("queues").tBodies[0], Object.entries(supervisor.queueDepth ?? {}), ([type]) => type, (_, tbody) => {
    const row = rowOf(tbody, 2)
    row.cells[1].className = "num"
    return row
  }, (row, [type, depth]) => {
    setText(row.cells[0], type)
    setText(row.cells[1], fmtInt(depth))
  })
  syncRows($("groups").tBodies[0], Object.entries(supervisor.groups ?? {}), ([group]) => group, (_, tbody) => {
    const row = rowOf(tbody, 3)
    row.cells[1].className = row.cells[2].className = "num"
    return row
  }, (row, [group, counts]) => {
    setText(row.cells[0], group)
    setText(row.cells[1], fmtInt(counts.queued))
    setText(row.cells[2], fmtInt(counts.running))
  })
  syncRows($("workers").tBodies[0], workers, (w) => w.name, (_, tbody) => {
    const row = rowOf(tbody, 9)
    for (const i of [4, 5, 6, 7, 8]) row.cells[i].className = "num"
    return row
  }, (row, w) => {
    setText(row.cells[0], w.name)
    setText(row.cells[1], (w.taskTypes ?? []).join(", "))
    badge(row.cells[2], w.state, w.state === "failed" ? "bad" : w.state === "busy" ? "busy" : "ok")
    badge(row.cells[3], w.circuit, w.circuit === "closed" ? "ok" : w.circuit === "open" ? "bad" : "warn")
    setText(row.cells[4], `${fmtInt(w.inFlight)} / ${fmtInt(w.maxConcurrent)}`)
    setText(row.cells[5], fmtPercent(w.load))
    setText(row.cells[6], fmtInt(w.completed))
    setText(row.cells[7], fmtInt(w.errors))
    setText(row.cells[8], fmtMillis(w.averageLatencyMillis))
  })
  return queued
}

const renderBudget = (budget) => {
  const agents = budget.agents ?? []
  setText(
    $("budget-summary"),
    `Period ${budget.period}: ${fmtInt(budget.used)} of ${fmtInt(budget.total)} tokens used (${
      fmtPercent(budget.utilisation)
    }), ` +
      `${fmtInt(budget.reserved)} reserved, ${fmtInt(budget.steals)} stolen, ${fmtInt(budget.reclaims)} reclaimed.`
  )
  syncRows($("budget").tBodies[0], agents, (a) => a.id, (_, tbody) => {
    const row = rowOf(tbody, 6)
    for (const i of [1, 2, 3, 4, 5]) row.cells[i].className = "num"
    return row
  }, (row, a) => {
    setText(row.cells[0], a.id)
    setText(row.cells[1], fmtInt(a.allocated))
    setText(row.cells[2], fmtInt(a.used))
    setText(row.cells[3], fmtInt(a.reserved))
    setText(row.cells[4], fmtInt(a.borrowed))
    setText(row.cells[5], fmtInt(a.lent))
  })
  const chart = state.charts.budget
  if (chart !== undefined) {
    chart.data.labels = agents.map((a) => a.id)
    const fields = ["allocated", "used", "reserved", "borrowed", "lent"]
    fields.forEach((field, i) => {
      chart.data.datasets[i].data = agents.map((a) => logValue(a[field]))
    })
    chart.update()
  }
}

const renderSpend = (report) => {
  const scopes = report.scopes ?? []
  const team = scopes.find((s) => s.scope.startsWith("team:")) ?? scopes[0]
  const reference = team === undefined ? undefined : team.spent + (team.saving ?? 0)
  setText($("fig-spent"), team === undefined ? "—" : `${fmtMoney(team.spent)} (${fmtPercent(team.utilisation)})`)
  setText($("fig-limit"), team === undefined ? "—" : `${fmtMoney(team.limit)} (${team.scope})`)
  setText($("fig-projected"), team === undefined ? "—" : fmtMoney(team.projected))
  setText($("fig-reference"), fmtMoney(reference))
  setText(
    $("fig-saving"),
    team === undefined ? "—" : `${fmtMoney(team.saving)} (${fmtPercent(reference > 0 ? team.saving / reference : 0)})`
  )
  syncRows($("scopes").tBodies[0], scopes, (s) => s.scope, (_, tbody) => {
    const row = rowOf(tbody, 5)
    for (const i of [1, 2, 3, 4]) row.cells[i].className = "num"
    return row
  }, (row, s) => {
    setText(row.cells[0], s.scope)
    setText(row.cells[1], fmtInt(s.calls))
    setText(row.cells[2], fmtMoney(s.spent))
    setText(row.cells[3], fmtMoney(s.limit))
    setText(row.cells[4], fmtMoney(s.saving))
  })
}

const stepSymbol = { completed: "✓", failed: "✗", pending: "…" }

const renderWorkflows = (runningPage, finished) => {
  const running = runningPage.items ?? []
  const items = [...running, ...finished]
  syncRows($("workflows").tBodies[0], items, (w) => w.id, (_, tbody) => {
    const row = rowOf(tbody, 6)
    row.cells[0].className = "id"
    const progress = el("progress", { max: "1", value: "0" })
    row.cells[4].append(progress, el("span", { className: "progress-text" }))
    row.cells[5].append(el("ol", { className: "steps" }))
    return row
  }, (row, w) => {
    const steps = w.steps ?? []
    const done = steps.filter((s) => s.status === "completed").length
    setText(row.cells[0], short(w.id))
    row.cells[0].title = w.id
    setText(row.cells[1], w.state?.topic ?? "—")
    setText(row.cells[2], w.state?.agent ?? "—")
    badge(
      row.cells[3],
      w.status,
      w.status === "completed" ? "ok" : w.status === "failed" ? "bad" : w.status === "running" ? "busy" : "warn"
    )
    const progress = row.cells[4].firstElementChild
    progress.max = Math.max(1, steps.length)
    progress.value = done
    progress.setAttribute("aria-label", `Workflow ${short(w.id)}: ${done} of ${steps.length} steps completed`)
    setText(row.cells[4].lastElementChild, ` ${done}/${steps.length}`)
    const list = row.cells[5].firstElementChild
    while (list.children.length < steps.length) list.append(el("li"))
    while (list.children.length > steps.length) list.lastElementChild.remove()
    steps.forEach((step, i) => {
      const item = list.children[i]
      const className = `step step-${step.status}`
      if (item.className !== className) item.className = className
      const attempts = step.attempts > 1 ? ` (${step.attempts} attempts)` : ""
      setText(item, `${stepSymbol[step.status] ?? ""} ${step.name}${attempts}`)
      item.title = `${step.name}: ${step.status}${attempts}`
    })
  })
  setEmpty("workflows-empty", items.length === 0)
  setText(
    $("workflows-summary"),
    `${running.length}${
      runningPage.cursor === undefined ? "" : "+"
    } running; the last ${finished.length} finished below them, newest first.`
  )
}

const letterStatus = (letter) =>
  letter.resolution === undefined
    ? state.busy.has(letter.id) ? "working…" : "open"
    : letter.resolution.kind === "replayed"
    ? "replayed"
    : "resolved by hand"

const renderLetters = (open, resolved, summary) => {
  const letters = [...(open.letters ?? []), ...(resolved.letters ?? [])]
  syncRows($("letters").tBodies[0], letters, (l) => l.id, (letter, tbody) => {
    const row = rowOf(tbody, 9)
    row.cells[4].className = row.cells[5].className = "num"
    row.cells[0].className = row.cells[1].className = "id"
    const replay = el("button", {
      type: "button",
      className: "replay",
      "aria-label": `Replay dead letter ${letter.id}`
    })
    replay.textContent = "Replay"
    replay.addEventListener("click", () => replayLetter(letter.id, replay))
    const resolve = el("button", {
      type: "button",
      className: "resolve",
      "aria-label": `Resolve dead letter ${letter.id}`
    })
    resolve.textContent = "Resolve"
    resolve.addEventListener("click", () => openResolve(letter.id, resolve))
    row.cells[7].append(el("div", { className: "status" }, [el("span"), el("span", { className: "note" })]))
    row.cells[8].append(el("div", {}, [
      el("div", { className: "actions" }, [replay, resolve]),
      el("span", { className: "muted", text: "none (closed)" })
    ]))
    return row
  }, (row, l) => {
    setText(row.cells[0], short(l.id))
    row.cells[0].title = l.id
    setText(row.cells[1], short(l.workflow?.id ?? l.taskId))
    row.cells[1].title = l.workflow?.id ?? l.taskId ?? ""
    setText(row.cells[2], l.workflow?.step ?? "—")
    setText(row.cells[3], `${l.error?.tag ?? "Error"}: ${firstLine(l.error?.message)}`)
    setText(row.cells[4], fmtInt(l.attempts))
    setText(row.cells[5], fmtInt(l.replays))
    setText(row.cells[6], fmtWhen(l.createdAt))
    const status = letterStatus(l)
    const statusBox = row.cells[7].firstElementChild
    badge(statusBox, status, status === "open" ? "bad" : status === "working…" ? "busy" : "ok")
    // How it was closed, in the operator's or the replay's words.
    setText(statusBox.lastElementChild, l.resolution?.note ?? "")
    const [actions, none] = row.cells[8].firstElementChild.children
    actions.hidden = l.resolution !== undefined
    none.hidden = l.resolution === undefined
    for (const button of actions.children) {
      button.setAttribute("aria-disabled", String(state.busy.has(l.id)))
    }
  })
  setEmpty("letters-empty", letters.length === 0)
  setText(
    $("letters-summary"),
    `${fmtInt(summary.unresolved)} open, ${fmtInt(summary.resolved)} resolved` +
      (Object.keys(summary.byErrorType ?? {}).length === 0
        ? "."
        : ` — open by error: ${Object.entries(summary.byErrorType).map(([k, v]) => `${k} ${v}`).join(", ")}.`)
  )
}

const reasonText = {
  "context-too-small": "context window too small",
  "complexity-out-of-range": "not made for this complexity",
  "missing-capability": "lacks a required capability",
  "too-slow": "too slow",
  "over-cost-ceiling": "over the cost ceiling",
  "over-budget": "over budget",
  "provider-excluded": "provider excluded",
  "missing-tag": "missing a required tag",
  "not-preferred": "not preferred",
  "outranked": "ranked below the chosen model",
  "cooling-down": "cooling down after failures",
  "rate-limited": "rate limited",
  "failed-this-call": "already failed this call",
  "no-provider": "no provider serves it"
}

/** Groups the passed-over models by reason: `reason: model, model`. */
const explain = (rejected) => {
  const byReason = new Map()
  for (const r of rejected) {
    for (const reason of r.reasons) {
      if (!byReason.has(reason)) byReason.set(reason, [])
      byReason.get(reason).push(r.model)
    }
  }
  return Array.from(byReason.entries()).sort((a, b) => b[1].length - a[1].length)
}

const renderDecisions = (decisions) => {
  const latest = decisions.slice(0, DECISIONS_SHOWN)
  syncRows($("decisions").tBodies[0], latest, (d) => d.id, (d, tbody) => {
    // A decision never changes once logged: its explanation is built once.
    const row = rowOf(tbody, 6)
    row.cells[4].className = "num"
    const attempts = d.attempts ?? []
    const last = attempts[attempts.length - 1]
    const rejected = last?.rejected ?? []
    const details = el("details")
    details.append(el("summary", { text: `Why ${last?.model ?? "no model"}: ${rejected.length} models passed over` }))
    const list = el("ul", { className: "reasons" })
    if (last?.model !== undefined) {
      // Eligible models that lost only on rank, plus the chosen one.
      const eligible = rejected.filter((r) => r.reasons.every((reason) => reason === "outranked")).length + 1
      list.append(el("li", {}, [
        el("strong", { text: "chosen: " }),
        `${last.model} (${last.provider ?? "?"}), ranked first of ${eligible} eligible models; ` +
        `reserved ${fmtMoney(last.reserved)}, charged ${fmtMoney(last.charged)}${last.estimated ? " (estimated)" : ""}`
      ]))
    }
    for (const [reason, models] of explain(rejected)) {
      list.append(el("li", {}, [el("strong", { text: `${reasonText[reason] ?? reason}: ` }), models.join(", ")]))
    }
    if (attempts.length > 1) {
      list.append(el("li", {
        text: `attempts: ${attempts.map((a) => `${a.model ?? "none"} (${a.outcome})`).join(" → ")}`
      }))
    }
    details.append(list)
    row.cells[5].append(details)
    return row
  }, (row, d) => {
    const attempts = d.attempts ?? []
    const last = attempts[attempts.length - 1]
    const charged = attempts.reduce((a, x) => a + (x.charged ?? 0), 0)
    setText(row.cells[0], fmtWhen(d.at))
    setText(row.cells[1], (d.scopes ?? []).find((s) => s.startsWith("agent:")) ?? (d.scopes ?? []).join(", "))
    setText(row.cells[2], last?.model ?? "none")
    badge(row.cells[3], d.outcome, d.outcome === "succeeded" ? "ok" : "bad")
    setText(row.cells[4], fmtMoney(charged))
  })
  setEmpty("decisions-empty", latest.length === 0)
}

const score = (n) => (typeof n === "number" ? n.toFixed(3) : "—")

const renderMemory = (stats) => {
  setText($("mem-total"), fmtInt(stats.total))
  setText($("mem-team"), fmtInt(stats.team))
  setText($("mem-agents"), fmtInt(stats.agents))
  const types = Object.entries(stats.byType ?? {})
  setText($("mem-types"), types.length === 0 ? "—" : types.map(([k, v]) => `${k} ${fmtInt(v)}`).join(", "))
  const scores = stats.scores ?? {}
  setText($("mem-scores"), `${score(scores.mean)} / ${score(scores.p50)} / ${score(scores.p90)}`)
  setText($("mem-range"), `${score(scores.min)} – ${score(scores.max)}`)
}

const renderAlerts = (alerts) => {
  const list = $("alerts")
  const latest = alerts.slice(0, 20)
  const existing = new Map(Array.from(list.children).map((item) => [item.dataset.key, item]))
  let previous = null
  for (const alert of latest) {
    const key = String(alert.id)
    let item = existing.get(key)
    if (item === undefined) {
      item = el("li", { className: `alert alert-${alert.kind}` }, [
        el("span", { className: "alert-time", text: fmtWhen(alert.at) }),
        " ",
        el("strong", { text: `${alert.source} · ${alert.kind}` }),
        " ",
        el("span", { text: firstLine(alert.message) })
      ])
      item.dataset.key = key
    } else {
      existing.delete(key)
    }
    const expected = previous === null ? list.firstElementChild : previous.nextElementSibling
    if (item !== expected) list.insertBefore(item, expected)
    previous = item
  }
  for (const item of existing.values()) item.remove()
  setEmpty("alerts-empty", latest.length === 0)
}

// ------------------------------------------------------------------ polling

/**
 * The finished workflows to show, newest first: those among the newest
 * workflows (`recent`, so that one started and finished between two polls is
 * listed too), and those seen running before whose final state is fetched
 * when they left the running list without being among the newest (a few per poll).
 */
const collectFinished = async (runningItems, recentItems) => {
  const now = new Set(runningItems.map((w) => w.id))
  const recent = new Map(recentItems.map((w) => [w.id, w]))
  const gone = Array.from(state.running.keys()).filter((id) => !now.has(id) && !recent.has(id))
  for (const id of state.running.keys()) if (recent.has(id) && !now.has(id)) state.running.delete(id)
  for (const w of runningItems) state.running.set(w.id, w)
  const fetched = gone.slice(0, 10)
  const results = await Promise.allSettled(fetched.map((id) => api("GET", `/workflows/${encodeURIComponent(id)}`)))
  const finished = new Map(state.finished.map((w) => [w.id, w]))
  results.forEach((result, i) => {
    const id = fetched[i]
    state.running.delete(id)
    if (result.status === "fulfilled" && result.value?.status !== "running") finished.set(id, result.value)
    else if (result.status === "rejected" && result.reason instanceof Unauthorized) throw result.reason
  })
  for (const w of recentItems) {
    if (w.status !== "running") finished.set(w.id, w)
    else if (!now.has(w.id)) state.running.set(w.id, w)
  }
  // Workflow ids are time-ordered: the largest is the newest.
  state.finished = Array.from(finished.values())
    .filter((w) => !now.has(w.id) && w.status !== "running")
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, FINISHED_KEPT)
  return state.finished
}

/** The routes a poll reads, by name. */
const ROUTES = {
  supervisor: "/supervisor",
  budget: "/budget",
  report: "/router/report",
  decisions: `/router/decisions?limit=${DECISIONS_SHOWN}`,
  running: "/workflows?status=running&order=desc&limit=50",
  recent: `/workflows?order=desc&limit=${RECENT_WORKFLOWS}`,
  history: historyRoute,
  open: `/dead-letters?resolved=false&limit=${LETTERS_OPEN}`,
  resolved: `/dead-letters?resolved=true&limit=${LETTERS_RESOLVED}`,
  summary: "/dead-letters/summary",
  memory: "/memory/stats",
  alerts: "/alerts"
}

/**
 * The panels, each with the routes it is drawn from: a panel whose route
 * fails keeps its last figures, says since when, and the others go on.
 */
const PANELS = [
  { id: "system", title: "System", routes: ["supervisor"] },
  { id: "queues", title: "Queues", routes: ["supervisor"] },
  { id: "workers", title: "Workers", routes: ["supervisor"] },
  { id: "budget", title: "Token budget", routes: ["budget"] },
  { id: "spend", title: "Spend", routes: ["report", "history"] },
  { id: "workflows", title: "Workflows", routes: ["running", "recent"] },
  { id: "letters", title: "Dead letters", routes: ["open", "resolved", "summary"] },
  { id: "decisions", title: "Routing decisions", routes: ["decisions"] },
  { id: "memory", title: "Memory", routes: ["memory"] },
  { id: "alerts", title: "Alerts", routes: ["alerts"] }
]

/** Shows, on each panel, whether its figures are current; returns the titles of the stale panels. */
const markPanels = (failed) => {
  const stale = []
  for (const panel of PANELS) {
    const reason = panel.routes.map((route) => failed[route]).find((error) => error !== undefined)
    const card = $(`${panel.id}-title`).closest("section")
    if (reason === undefined) {
      state.panelUpdated[panel.id] = Date.now()
      delete card.dataset.stale
      setText($(`${panel.id}-error`), "")
    } else {
      stale.push(panel.title)
      card.dataset.stale = "true"
      const since = state.panelUpdated[panel.id]
      setText(
        $(`${panel.id}-error`),
        `Not updated${since === undefined ? "" : ` since ${fmtTime(since)}`}: ${reason.message}.`
      )
    }
  }
  return stale
}

/**
 * The line under the title says every poll how current the page is; the
 * live region speaks only when that changes (lost, partly failing, restored),
 * never every two seconds.
 */
const setHealth = (health, text, spoken) => {
  const element = $("connection")
  element.dataset.state = health === "live" ? "live" : "error"
  setText(element, text)
  if (state.health !== health) {
    const before = state.health
    state.health = health
    if (health !== "live") announce(spoken)
    else if (before === "down" || before?.startsWith("partial:")) {
      announce("Connection restored: every panel is live again.")
    }
  }
}

const pollOnce = async () => {
  const started = performance.now()
  try {
    const names = Object.keys(ROUTES)
    const path = (name) => (typeof ROUTES[name] === "function" ? ROUTES[name]() : ROUTES[name])
    const settled = await Promise.allSettled(names.map((name) => api("GET", path(name))))
    const data = {}
    const failed = {}
    settled.forEach((result, i) => {
      if (result.status === "fulfilled") data[names[i]] = result.value
      else failed[names[i]] = result.reason
    })
    const errors = Object.values(failed)
    if (errors.some((error) => error instanceof Unauthorized)) throw errors.find((e) => e instanceof Unauthorized)
    if (errors.length === names.length) {
      markPanels(failed)
      const since = state.lastUpdate === undefined ? "" : ` Figures as of ${fmtTime(state.lastUpdate)}.`
      setHealth(
        "down",
        `Not live: ${errors[0].message}.${since} Retrying every ${POLL_MILLIS / 1000} s…`,
        `Connection lost: ${errors[0].message}.${since}`
      )
      return
    }
    const workflows = data.running !== undefined && data.recent !== undefined
    const finished = workflows
      ? await collectFinished(data.running.items ?? [], data.recent.items ?? [])
      : state.finished
    showMain()
    makeCharts()
    const queued = data.supervisor === undefined ? null : renderSystem(data.supervisor)
    if (data.budget !== undefined) renderBudget(data.budget)
    if (data.report !== undefined) renderSpend(data.report)
    if (data.history !== undefined) renderHistory(data.history)
    if (workflows) renderWorkflows(data.running, finished)
    if (data.open !== undefined && data.resolved !== undefined && data.summary !== undefined) {
      renderLetters(data.open, data.resolved, data.summary)
    }
    if (data.decisions !== undefined) renderDecisions(data.decisions)
    if (data.memory !== undefined) renderMemory(data.memory)
    if (data.alerts !== undefined) renderAlerts(data.alerts)
    pushSeries(fmtTime(data.report?.at ?? Date.now()), {
      load: data.supervisor === undefined ? null : Math.round((data.supervisor.load ?? 0) * 1000) / 10,
      queued
    })
    state.charts.load?.update()
    updateScrollStops()
    const stale = markPanels(failed)
    state.lastUpdate = Date.now()
    if (stale.length === 0) {
      setHealth("live", `${state.paused ? "Paused" : "Live"} · updated ${fmtTime(state.lastUpdate)}`)
    } else {
      const text = `Not updating: ${stale.join(", ")} (${errors[0].message})`
      setHealth(`partial:${stale.join(",")}`, `Live · updated ${fmtTime(state.lastUpdate)} · ${text}`, `${text}.`)
    }
  } catch (error) {
    if (error instanceof Unauthorized) {
      lock(state.token === undefined ? "" : "The service refused that token.")
      return
    }
    setHealth("down", `Not live: ${error.message}. Retrying…`, `Connection lost: ${error.message}.`)
  } finally {
    schedule(Math.max(0, POLL_MILLIS - (performance.now() - started)))
  }
}

/** One poll at a time: a call while one runs gets that one. */
const poll = () => {
  if (state.current === undefined) {
    state.current = pollOnce().finally(() => {
      state.current = undefined
    })
  }
  return state.current
}

/** A poll that starts after now (after an action): waits out the one under way, if any. */
const refreshNow = async () => {
  if (state.current !== undefined) await state.current
  return poll()
}

const schedule = (delay) => {
  clearTimeout(state.timer)
  state.timer = undefined
  if (state.paused || state.locked) return
  state.timer = setTimeout(poll, delay)
}

// ------------------------------------------------------------------ token

const showMain = () => {
  $("auth").hidden = true
  $("main").hidden = false
  $("forget-token").hidden = state.token === undefined
}

const lock = (message) => {
  state.locked = true
  clearTimeout(state.timer)
  // A refused token is not kept: a reload asks again instead of failing again.
  state.token = undefined
  sessionStorage.removeItem(TOKEN_KEY)
  if ($("resolve-dialog").open) $("resolve-dialog").close()
  $("main").hidden = true
  $("auth").hidden = false
  $("forget-token").hidden = true
  setText($("auth-error"), message)
  setHealth("locked", "Locked: the service needs its API token.", "")
  $("token").focus()
}

$("auth-form").addEventListener("submit", (event) => {
  event.preventDefault()
  const token = $("token").value.trim()
  if (token === "") {
    setText($("auth-error"), "Enter the token.")
    return
  }
  state.token = token
  sessionStorage.setItem(TOKEN_KEY, token)
  $("token").value = ""
  setText($("auth-error"), "")
  state.locked = false
  announce("Checking the token…")
  poll()
})

$("forget-token").addEventListener("click", () => lock(""))

$("pause").addEventListener("click", () => {
  state.paused = !state.paused
  const button = $("pause")
  // The label says what a press does; a toggle's "pressed" state on top of a changing label would contradict it.
  button.dataset.paused = String(state.paused)
  setText(button, state.paused ? "Resume updates" : "Pause updates")
  if (state.paused) {
    clearTimeout(state.timer)
    setText($("connection"), `Paused · updated ${fmtTime(state.lastUpdate)}`)
  } else {
    poll()
  }
})

// ------------------------------------------------------------------ actions

/** After an action the focus goes to its outcome when its button is gone (the letter was resolved). */
const afterAction = (button, message) => {
  announce(message)
  if (!button.isConnected || button.closest("[hidden]") !== null) $("notice").focus()
}

const replayLetter = async (id, button) => {
  if (state.busy.has(id)) return
  state.busy.add(id)
  button.setAttribute("aria-disabled", "true")
  announce(`Replaying dead letter ${short(id)}…`)
  let message
  try {
    const result = await api("POST", `/dead-letters/${encodeURIComponent(id)}/replay`)
    message = result?._tag === "Succeeded"
      ? `Dead letter ${short(id)} replayed: its workflow completed and the letter is resolved.`
      : `Replay of dead letter ${short(id)} failed again (${result?.failure?.tag ?? "error"}): the letter stays open.`
  } catch (error) {
    if (error instanceof Unauthorized) return lock("The service refused the token.")
    message = error instanceof ApiError
      ? `Replay of dead letter ${short(id)} was refused (${error.status}): ${error.message}.`
      : `Replay of dead letter ${short(id)} could not be sent: ${error.message}. Nothing changed; try again.`
  } finally {
    state.busy.delete(id)
  }
  await refreshNow()
  afterAction(button, message)
}

let resolving

const openResolve = (id, button) => {
  if (state.busy.has(id)) return
  resolving = { id, button }
  setText($("resolve-letter"), short(id))
  setText($("resolve-error"), "")
  $("resolve-note").value = ""
  $("resolve-dialog").showModal()
  $("resolve-note").focus()
}

$("resolve-cancel").addEventListener("click", () => {
  $("resolve-dialog").close()
})

$("resolve-dialog").addEventListener("close", () => {
  if (resolving !== undefined && !state.busy.has(resolving.id) && resolving.button.isConnected) {
    resolving.button.focus()
  }
})

$("resolve-form").addEventListener("submit", async (event) => {
  event.preventDefault()
  if (resolving === undefined) return
  const { id, button } = resolving
  // A second Enter while the first resolve is on its way sends nothing more.
  if (state.busy.has(id)) return
  const note = $("resolve-note").value.trim()
  if (note === "") {
    setText($("resolve-error"), "Write why the letter is resolved.")
    return
  }
  state.busy.add(id)
  try {
    await api("POST", `/dead-letters/${encodeURIComponent(id)}/resolve`, { note })
  } catch (error) {
    state.busy.delete(id)
    if (error instanceof Unauthorized) {
      $("resolve-dialog").close()
      return lock("The service refused the token.")
    }
    setText(
      $("resolve-error"),
      error instanceof ApiError
        ? `Not resolved (${error.status}): ${error.message}.`
        : `Not resolved: ${error.message}. Try again.`
    )
    return
  }
  state.busy.delete(id)
  resolving = undefined
  $("resolve-dialog").close()
  await refreshNow()
  afterAction(button, `Dead letter ${short(id)} resolved by hand.`)
})

// ------------------------------------------------------------------ start

poll()
