// The operator dashboard end to end in headless Chromium (Debian's
// `chromium`, driven by playwright-core): the service runs in-process on a
// random port over SQLite, the load generator submits work while the page is
// open, and the page is read and operated like an operator would — with the
// mouse and with the keyboard only. Screenshots at 1280×800 and 390×844 go to
// test-artifacts/ (gitignored). Every wait is on a condition, never a sleep.
import { DeadLetterQueue } from "@agentos/dlq"
import { FetchHttpClient, HttpServer } from "@effect/platform"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Logger, LogLevel, Scope } from "effect"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"
import * as Load from "../src/load/Load.js"
import * as Server from "../src/Server.js"
import { type Client, client, config, eventually, freePort, start, tempDir, withToken } from "./harness.js"

// What the functions passed to `page.evaluate` see (they run in the page; this package has no DOM types).
declare const document: any
declare const window: any

const CHROMIUM = "/usr/bin/chromium"
const ARTIFACTS = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..", "test-artifacts")
const AXE = Fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")
/** How long the page may take to show a condition on a loaded machine. */
const WAIT = 60_000

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

const pw = <A>(f: () => Promise<A>) => Effect.promise(f)

/** Chromium for the scope; fails with the launch error when it is missing or does not start. */
const browser = Effect.acquireRelease(
  pw(() =>
    chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    })
  ),
  (b: Browser) => pw(() => b.close())
)

interface Opened {
  readonly page: Page
  /** Console errors, failed requests and uncaught exceptions of the page. */
  readonly problems: Array<string>
}

const open = (b: Browser, url: string, viewport = { width: 1280, height: 800 }) =>
  Effect.acquireRelease(
    pw(async (): Promise<Opened> => {
      const context = await b.newContext({ viewport })
      const page = await context.newPage()
      page.setDefaultTimeout(WAIT)
      const problems: Array<string> = []
      page.on("console", (message) => {
        // A failed response is reported with its URL below.
        if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
          problems.push(`console: ${message.text()}`)
        }
      })
      page.on("response", (response) => {
        if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`)
      })
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
      // Everything the page loads comes from the demo itself: no external network.
      const origin = new URL(url).origin
      page.on("request", (request) => {
        if (new URL(request.url()).origin !== origin && !request.url().startsWith("data:")) {
          problems.push(`external request: ${request.url()}`)
        }
      })
      page.on("requestfailed", (request) => {
        // A reload cancels the poll under way: that is not a failure.
        if (request.failure()?.errorText !== "net::ERR_ABORTED") {
          problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`)
        }
      })
      await page.goto(url)
      return { page, problems }
    }),
    ({ page }) => pw(() => page.context().close())
  )

/** The number in a figure of the page (`"1,234"`, `"$0.0012 (0.1%)"` → its first number). */
const figure = (page: Page, id: string) =>
  pw(async () => {
    const text = (await page.locator(`#${id}`).textContent()) ?? ""
    const match = /[\d,]+(?:\.\d+)?/.exec(text)
    return match === null ? Number.NaN : Number(match[0].replaceAll(",", ""))
  })

/** Waits until the page's figure passes `above`. */
const figureAbove = (page: Page, id: string, above: number) =>
  pw(() =>
    page.waitForFunction(
      ({ id, above }) => {
        const match = /[\d,]+(?:\.\d+)?/.exec(document.getElementById(id)?.textContent ?? "")
        return match !== null && Number(match[0].replaceAll(",", "")) > above
      },
      { id, above },
      { timeout: WAIT }
    )
  )

const letterRow = (page: Page, id: string) => page.locator(`#letters tbody tr[data-key="${id}"]`)

const waitLetterStatus = (page: Page, id: string, status: string) =>
  pw(() => letterRow(page, id).locator("td").nth(7).filter({ hasText: status }).waitFor())

/** axe-core on the page as it is: the serious and critical violations, described. */
const axeViolations = (page: Page) =>
  pw(async () => {
    // Evaluated through the DevTools protocol: the page's Content-Security-Policy stays on.
    await page.evaluate(AXE)
    const results = await page.evaluate(() =>
      (globalThis as any).axe.run(document, { resultTypes: ["violations"] }) as Promise<{
        violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: Array<string> }> }>
      }>
    )
    return results.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join("; ")})`)
  })

/** Presses Tab until the focused element has `label` as its aria-label (at most `max` presses). */
const tabTo = (page: Page, label: string, max = 300) =>
  pw(async () => {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab")
      const focused = await page.evaluate(() => document.activeElement?.getAttribute("aria-label") ?? null)
      if (focused === label) return i + 1
    }
    throw new Error(`Tab never reached "${label}" in ${max} presses`)
  })

const screenshot = (page: Page, name: string, fullPage = true) =>
  pw(async () => {
    Fs.mkdirSync(ARTIFACTS, { recursive: true })
    const path = Path.join(ARTIFACTS, name)
    await page.screenshot({ path, fullPage })
    return path
  })

/** Nothing on the page is wider than the window (no sideways scrolling of the page itself). */
const fitsWidth = (page: Page) =>
  pw(() => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))

/**
 * The table boxes whose tab stop is wrong: one that overflows sideways must
 * take focus (to scroll it by keyboard), one that fits must not (one press less).
 * The page corrects them on a resize and on every poll: waits for that, then lists what is still wrong.
 */
const scrollStops = (page: Page) =>
  pw(async () => {
    const wrong = `Array.from(document.querySelectorAll(".scroll"))
      .filter((box) => (box.scrollWidth > box.clientWidth) !== (box.getAttribute("tabindex") === "0"))
      .map((box) => box.getAttribute("aria-label") + ": " + box.scrollWidth + "/" + box.clientWidth)`
    await page.waitForFunction(`(${wrong}).length === 0`, undefined, { timeout: 10_000 }).catch(() => undefined)
    return (await page.evaluate(wrong)) as Array<string>
  })

const letters = (http: Client, resolved: boolean) =>
  Effect.map(http.request("GET", `/dead-letters?resolved=${resolved}&limit=100`), (r) => r.body.letters as Array<any>)

describe("dashboard in headless Chromium", () => {
  it.live(
    "shows live work, replays and resolves dead letters by mouse and keyboard, passes axe at both sizes",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const sqlite = () => SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })

        // Four dead letters: every model call fails while they run.
        const failed = yield* Effect.scoped(Effect.gen(function*() {
          const { base } = yield* start(config({ simFailureRate: 1 }), sqlite())
          const http = client(base)
          for (let i = 0; i < 4; i++) {
            const r = yield* http.request("POST", "/workflows", { body: { topic: `outage ${i}`, agent: "analyst" } })
            assert.strictEqual(r.status, 202, r.text)
          }
          return yield* eventually(
            Effect.map(letters(http, false), (open) => open.length === 4 ? open : undefined),
            "60 seconds"
          )
        }))
        const [toReplay, toResolve, toReplayByKey, toResolveByKey] = failed.map((l) => l.id) as [
          string,
          string,
          string,
          string
        ]

        // The same database, models answering again: replays can succeed.
        const { base } = yield* start(config({ simLatency: Duration.millis(60) }), sqlite())
        const http = client(base)
        const { page, problems } = yield* open(yield* browser, `${base}/`)

        // The page shows the service as it is.
        yield* pw(() => page.locator("#main").waitFor({ state: "visible" }))
        // From the top, the first stops are on the dark header: their ring is the light one there (8.8:1).
        for (const expected of ["Skip to the dashboard", "Pause updates"]) {
          yield* pw(() => page.keyboard.press("Tab"))
          const focused = yield* pw(() =>
            page.evaluate(() => ({
              text: document.activeElement?.textContent?.trim(),
              ring: window.getComputedStyle(document.activeElement).outlineColor as string
            }))
          )
          assert.deepStrictEqual(focused, { text: expected, ring: "rgb(251, 191, 36)" })
        }
        for (const letter of failed) {
          yield* pw(() => letterRow(page, letter.id).getByRole("button", { name: /^Replay/ }).waitFor())
        }
        yield* pw(() => page.locator("#letters-summary").filter({ hasText: "4 open" }).waitFor())
        const completedBefore = yield* figure(page, "fig-completed")
        // "—" while the team has no spend scope yet.
        const spentBefore = yield* Effect.map(figure(page, "fig-spent"), (n) => Number.isNaN(n) ? 0 : n)
        const pointsBefore = yield* pw(() =>
          page.evaluate(() => (globalThis as any).Chart.getChart("spend-chart").data.labels.length as number)
        )

        // Work arrives from the load generator while the page is open; the page's numbers follow.
        const load = yield* Load.run({ url: base, agents: 3, count: 18, drainMillis: 90_000 }).pipe(
          Effect.provide(FetchHttpClient.layer),
          Effect.fork
        )
        yield* figureAbove(page, "fig-completed", completedBefore)
        yield* figureAbove(page, "fig-spent", spentBefore)
        yield* pw(() => page.locator("#decisions tbody tr").first().waitFor())
        yield* pw(() => page.locator("#workflows tbody tr").first().waitFor())
        yield* pw(() =>
          page.waitForFunction(
            (before) => (globalThis as any).Chart.getChart("spend-chart").data.labels.length > before + 1,
            pointsBefore,
            { timeout: WAIT }
          )
        )
        // A decision explains itself: the models passed over, grouped by reason.
        // Pinned by its key: newer decisions arrive above it while the test reads it.
        const decision = yield* pw(() => page.locator("#decisions tbody tr").first().getAttribute("data-key"))
        const why = page.locator(`#decisions tbody tr[data-key="${decision}"] details`)
        yield* pw(() => why.locator("summary").click())
        yield* pw(() => why.locator(".reasons li").first().waitFor())
        const reasons = (yield* pw(() => why.locator(".reasons").textContent())) ?? ""
        // Why the chosen model won, and why each other one lost.
        assert.match(reasons, /chosen: \S+ \(simulated\), ranked first of \d+ eligible models/)
        assert.match(reasons, /ranked below the chosen model: |not made for this complexity: /)

        // On a phone the open letters stack, their buttons within reach and the page no wider than the screen.
        yield* pw(() => page.setViewportSize({ width: 390, height: 844 }))
        yield* pw(() => letterRow(page, toReplay).getByRole("button", { name: /^Replay/ }).scrollIntoViewIfNeeded())
        yield* pw(() =>
          page.locator("section[aria-labelledby=letters-title]").screenshot({
            path: Path.join(ARTIFACTS, "dashboard-390x844-open-letters.png")
          })
        )
        assert.isTrue(yield* fitsWidth(page), "the page scrolls sideways at 390×844 with open letters")
        assert.deepStrictEqual(yield* axeViolations(page), [])
        yield* pw(() => page.setViewportSize({ width: 1280, height: 800 }))

        // Replay one letter and resolve another, with the mouse.
        yield* pw(() => letterRow(page, toReplay).getByRole("button", { name: /^Replay/ }).click())
        yield* waitLetterStatus(page, toReplay, "replayed")
        yield* pw(() => page.locator("#notice").filter({ hasText: "replayed" }).waitFor())
        yield* pw(() => letterRow(page, toResolve).getByRole("button", { name: /^Resolve/ }).click())
        yield* pw(() => page.getByLabel("Note (why it is resolved)", { exact: true }).fill("fixed upstream, by mouse"))
        yield* pw(() => page.getByRole("button", { name: "Resolve letter", exact: true }).click())
        yield* waitLetterStatus(page, toResolve, "resolved by hand")
        // The operator's note shows with the letter.
        yield* waitLetterStatus(page, toResolve, "fixed upstream, by mouse")

        // The same with the keyboard only: Tab to each control, Space and Enter to operate it.
        yield* pw(() => page.locator("body").focus())
        yield* pw(() => page.evaluate(() => document.activeElement?.blur()))
        yield* tabTo(page, `Replay dead letter ${toReplayByKey}`)
        // The focused control shows it: a solid ring at least 2 px wide.
        const ring = yield* pw(() =>
          page.evaluate(() => {
            const style = window.getComputedStyle(document.activeElement)
            return { style: style.outlineStyle as string, width: Number.parseFloat(style.outlineWidth) }
          })
        )
        assert.strictEqual(ring.style, "solid")
        assert.isAtLeast(ring.width, 2)
        yield* pw(() => page.keyboard.press("Space"))
        yield* waitLetterStatus(page, toReplayByKey, "replayed")
        yield* tabTo(page, `Resolve dead letter ${toResolveByKey}`)
        yield* pw(() => page.keyboard.press("Enter"))
        yield* pw(() => page.locator("#resolve-dialog").waitFor({ state: "visible" }))
        assert.strictEqual(yield* pw(() => page.evaluate(() => document.activeElement?.id)), "resolve-note")
        yield* pw(() => page.keyboard.type("fixed upstream, by keyboard"))
        yield* pw(() => page.keyboard.press("Enter"))
        yield* waitLetterStatus(page, toResolveByKey, "resolved by hand")

        // The service agrees with what the page showed.
        const resolved = new Map((yield* letters(http, true)).map((l) => [l.id as string, l.resolution]))
        assert.strictEqual(resolved.get(toReplay)?.kind, "replayed")
        assert.strictEqual(resolved.get(toReplayByKey)?.kind, "replayed")
        assert.deepInclude(resolved.get(toResolve), { kind: "manual", note: "fixed upstream, by mouse" })
        assert.deepInclude(resolved.get(toResolveByKey), { kind: "manual", note: "fixed upstream, by keyboard" })
        assert.strictEqual((yield* letters(http, false)).length, 0)
        const report = yield* Fiber.join(load)
        assert.isAbove(report.requests.accepted, 0)

        // Both sizes: a screenshot each, nothing wider than the window, no serious accessibility violation.
        yield* screenshot(page, "dashboard-1280x800.png")
        yield* screenshot(page, "dashboard-1280x800-first-screen.png", false)
        assert.isTrue(yield* fitsWidth(page), "the page scrolls sideways at 1280×800")
        assert.deepStrictEqual(yield* scrollStops(page), [])
        assert.deepStrictEqual(yield* axeViolations(page), [])
        yield* pw(() => page.setViewportSize({ width: 390, height: 844 }))
        yield* pw(() => page.locator("#letters-summary").filter({ hasText: "0 open" }).waitFor())
        yield* screenshot(page, "dashboard-390x844.png")
        yield* screenshot(page, "dashboard-390x844-first-screen.png", false)
        yield* pw(() =>
          page.locator("section[aria-labelledby=letters-title]").screenshot({
            path: Path.join(ARTIFACTS, "dashboard-390x844-dead-letters.png")
          })
        )
        assert.isTrue(yield* fitsWidth(page), "the page scrolls sideways at 390×844")
        assert.deepStrictEqual(yield* scrollStops(page), [])
        assert.deepStrictEqual(yield* axeViolations(page), [])
        assert.deepStrictEqual(problems, [])
      }).pipe(Effect.scoped, quiet),
    { timeout: 300_000 }
  )

  it.live(
    "a page opened late charts the whole spend history, and lists workflows that finished before it looked",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { base } = yield* start(config(), SqliteClient.layer({ filename: Path.join(dir, "agentos.db") }))
        const http = client(base)
        const ids: Array<string> = []
        for (const topic of ["early one", "early two"]) {
          const r = yield* http.request("POST", "/workflows", { body: { topic, agent: "analyst" } })
          assert.strictEqual(r.status, 202, r.text)
          ids.push(r.body.id)
        }
        for (const id of ids) {
          const done = yield* eventually(
            Effect.map(
              http.request("GET", `/workflows/${id}`),
              (r) => r.body?.status === "running" ? undefined : r.body
            ),
            "60 seconds"
          )
          assert.strictEqual(done.status, "completed", JSON.stringify(done))
        }
        // Samples come every 5 s from the start: wait (bounded) for three, the last one with the spend.
        const samples = yield* eventually(
          Effect.map(http.request("GET", "/budget/history"), (r) => {
            const list = r.body.samples as Array<any>
            return list.length >= 3 && list.at(-1).spentMicros > 0 ? list : undefined
          }),
          "60 seconds"
        )
        assert.strictEqual(samples[0].spentMicros, 0) // the first sample was taken before any work
        const dollars = (micros: number) => micros > 0 ? micros / 1_000_000 : null

        const { page, problems } = yield* open(yield* browser, `${base}/`)
        const asked: Array<string> = []
        page.on("request", (request) => {
          const url = new URL(request.url())
          asked.push(url.pathname + url.search)
        })
        const chart = () =>
          pw(() =>
            page.evaluate(() => {
              const c = (globalThis as any).Chart.getChart("spend-chart")
              return {
                labels: c.data.labels.length as number,
                sets: c.data.datasets.map((d: any) => ({ label: d.label, data: d.data })) as Array<
                  { label: string; data: Array<number | null> }
                >
              }
            })
          )
        // The samples taken before the page opened are on its chart at once, in order, with the saving.
        yield* pw(() =>
          page.waitForFunction(
            (n) => ((globalThis as any).Chart?.getChart("spend-chart")?.data.labels.length ?? 0) >= n,
            samples.length,
            { timeout: WAIT }
          )
        )
        const drawn = yield* chart()
        const first = (label: string) => drawn.sets.find((d) => d.label === label)!.data.slice(0, samples.length)
        assert.deepStrictEqual(first("Spent ($)"), samples.map((s) => dollars(s.spentMicros)))
        assert.deepStrictEqual(first("Budget ($)"), samples.map((s) => dollars(s.budgetMicros)))
        assert.deepStrictEqual(first("On the most capable model ($)"), samples.map((s) => dollars(s.referenceMicros)))
        assert.deepStrictEqual(
          first("Saving ($)"),
          samples.map((s) => dollars(s.referenceMicros - s.spentMicros))
        )
        assert.isAbove(samples.at(-1).referenceMicros, samples.at(-1).spentMicros, "the router saved nothing")
        assert.match((yield* pw(() => page.locator("#spend-history").textContent())) ?? "", /^\d+ samples since /)

        // Then only what is new: the next poll asks for the samples after the last, and a new one is added.
        yield* eventually(
          Effect.sync(() => asked.some((path) => path.startsWith("/budget/history?since=")) ? true : undefined),
          "30 seconds"
        )
        yield* pw(() =>
          page.waitForFunction(
            (n) => (globalThis as any).Chart.getChart("spend-chart").data.labels.length > n,
            drawn.labels,
            { timeout: WAIT }
          )
        )
        const now = (yield* http.request("GET", "/budget/history")).body.samples as Array<any>
        const after = yield* chart()
        assert.deepStrictEqual(
          after.sets[0]!.data,
          now.slice(0, after.labels).map((s) => dollars(s.spentMicros)),
          "the page's history is the service's, without gaps or repeats"
        )

        // Both workflows started and finished before the page looked: listed, newest first, completed.
        for (const id of ids) {
          yield* pw(() =>
            page.locator(`#workflows tbody tr[data-key="${id}"] td`).nth(3).filter({ hasText: "completed" }).waitFor()
          )
        }
        const order = yield* pw(() =>
          page.evaluate(() =>
            Array.from(document.querySelectorAll("#workflows tbody tr") as Iterable<any>).map((r) => r.dataset.key)
          )
        )
        assert.deepStrictEqual(order, [...ids].sort().reverse())
        // The page asks for what it shows: the newest workflows, twenty decisions.
        assert.include(asked, "/workflows?order=desc&limit=15")
        assert.include(asked, "/router/decisions?limit=20")
        assert.notInclude(asked, "/router/decisions")
        assert.deepStrictEqual(problems, [])
      }).pipe(Effect.scoped, quiet),
    { timeout: 180_000 }
  )

  it.live(
    "with AGENTOS_API_TOKEN the page asks for the token, then reads and acts",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { base } = yield* start(
          config({ simFailureRate: 1, ...withToken("s3cret-token") }),
          SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
        )
        const http = client(base, "s3cret-token")
        const r = yield* http.request("POST", "/workflows", { body: { topic: "outage", agent: "lead" } })
        assert.strictEqual(r.status, 202, r.text)
        const [letter] = yield* eventually(
          Effect.map(letters(http, false), (open) => open.length === 1 ? open : undefined),
          "60 seconds"
        )
        // The page itself needs no token; the API still does.
        assert.strictEqual((yield* client(base).request("GET", "/")).status, 200)
        assert.strictEqual((yield* client(base).request("GET", "/supervisor")).status, 401)

        const { page, problems } = yield* open(yield* browser, `${base}/`)
        const token = page.getByLabel("API token", { exact: true })
        yield* pw(() => token.waitFor())
        assert.isTrue(yield* pw(() => page.locator("#main").isHidden()))
        assert.strictEqual(yield* pw(() => page.evaluate(() => document.activeElement?.id)), "token")
        assert.deepStrictEqual(yield* axeViolations(page), [])

        // A wrong token is refused, and nothing is shown.
        yield* pw(() => token.fill("wrong"))
        yield* pw(() => page.getByRole("button", { name: "Unlock the dashboard" }).click())
        yield* pw(() => page.locator("#auth-error").filter({ hasText: "refused" }).waitFor())
        assert.isTrue(yield* pw(() => page.locator("#main").isHidden()))
        // A refused token is not kept for the next reload, and the field has the focus again.
        assert.isNull(yield* pw(() => page.evaluate(() => window.sessionStorage.getItem("agentos.apiToken"))))
        assert.strictEqual(yield* pw(() => page.evaluate(() => document.activeElement?.id)), "token")

        // The right one opens the dashboard, which can act.
        yield* pw(() => token.fill("s3cret-token"))
        yield* pw(() => page.keyboard.press("Enter"))
        yield* pw(() => page.locator("#main").waitFor({ state: "visible" }))
        yield* pw(() => letterRow(page, letter.id).getByRole("button", { name: /^Resolve/ }).click())
        yield* pw(() => page.getByLabel("Note (why it is resolved)", { exact: true }).fill("known outage"))
        yield* pw(() => page.getByRole("button", { name: "Resolve letter", exact: true }).click())
        yield* waitLetterStatus(page, letter.id, "resolved by hand")
        const resolved = (yield* http.request("GET", `/dead-letters/${letter.id}`)).body
        assert.deepInclude(resolved.resolution, { kind: "manual", note: "known outage" })

        // The token lasts for the tab (a reload keeps it) until it is forgotten.
        yield* pw(() => page.reload())
        yield* pw(() => page.locator("#main").waitFor({ state: "visible" }))
        yield* pw(() => page.getByRole("button", { name: "Forget token" }).click())
        yield* pw(() => token.waitFor())
        assert.isTrue(yield* pw(() => page.locator("#main").isHidden()))
        // The only failures are the API's 401s before the token was given.
        assert.deepStrictEqual(problems.filter((p) => !p.startsWith("401 ")), [])
      }).pipe(Effect.scoped, quiet),
    { timeout: 180_000 }
  )

  it.live(
    "a failing panel and a lost service are said once, their figures kept and marked, and the page recovers",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const sqlite = () => SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
        // A fixed port, so that the service can come back where the page looks for it.
        const appConfig = config({ port: yield* freePort, simLatency: Duration.millis(30) })
        const first = yield* Scope.make()
        yield* Effect.addFinalizer(() => Scope.close(first, Exit.void))
        const { base } = yield* Scope.extend(start(appConfig, sqlite()), first)
        const http = client(base)
        assert.strictEqual(
          (yield* http.request("POST", "/workflows", { body: { topic: "before", agent: "lead" } })).status,
          202
        )

        const { page, problems } = yield* open(yield* browser, `${base}/`)
        let polls = 0
        page.on("request", (request) => {
          if (new URL(request.url()).pathname === "/supervisor") polls++
        })
        /** Waits until the page has started `n` more polls (each asks for /supervisor once). */
        const morePolls = (n: number) => {
          const target = polls + n
          return eventually(Effect.sync(() => polls >= target ? true : undefined), "60 seconds")
        }
        yield* figureAbove(page, "fig-completed", 0)
        yield* pw(() => page.locator("#connection").filter({ hasText: /^Live · updated/ }).waitFor())
        // Every text the live region is given from now on, in order.
        yield* pw(() =>
          page.evaluate(() => {
            const notice = document.getElementById("notice")
            window.spoken = []
            new window.MutationObserver(() => window.spoken.push(notice.textContent)).observe(notice, {
              childList: true,
              characterData: true,
              subtree: true
            })
          })
        )
        const spoken = pw(() => page.evaluate(() => (window.spoken as Array<string>).filter((t) => t !== "")))
        const staleCards = pw(() =>
          page.evaluate(() =>
            Array.from(document.querySelectorAll("main section[data-stale]") as Iterable<any>).map((s) =>
              s.getAttribute("aria-labelledby")
            )
          )
        )

        // One route fails (a store error, injected on the way): that panel says so, the others go on.
        yield* pw(() =>
          page.route("**/memory/stats", (route) =>
            route.fulfill({
              status: 500,
              contentType: "application/json",
              body: JSON.stringify({ _tag: "InternalError", message: "memory stats: the store failed" })
            }))
        )
        yield* pw(() =>
          page.locator("#memory-error").filter({ hasText: /^Not updated since \d\d:\d\d:\d\d: memory stats/ }).waitFor()
        )
        yield* morePolls(3)
        assert.deepStrictEqual(yield* staleCards, ["memory-title"])
        assert.match(
          (yield* pw(() => page.locator("#connection").textContent())) ?? "",
          /^Live · .*Not updating: Memory/
        )
        assert.deepStrictEqual(yield* spoken, ["Not updating: Memory (memory stats: the store failed)."])
        yield* pw(() => page.unroute("**/memory/stats"))
        yield* pw(() => page.locator("#connection").filter({ hasText: /^Live · updated [\d:]+$/ }).waitFor())
        assert.deepStrictEqual(yield* staleCards, [])
        assert.strictEqual((yield* spoken).at(-1), "Connection restored: every panel is live again.")

        // The service stops: said once, not at every failed poll; every panel keeps its figures, marked.
        const completed = yield* figure(page, "fig-completed")
        yield* Scope.close(first, Exit.void)
        yield* pw(() => page.locator("#connection").filter({ hasText: /^Not live: / }).waitFor())
        yield* morePolls(3)
        const lost = (yield* spoken).filter((text) => text.startsWith("Connection lost"))
        assert.strictEqual(lost.length, 1, JSON.stringify(yield* spoken))
        assert.match(lost[0]!, /Figures as of \d\d:\d\d:\d\d\.$/)
        assert.lengthOf(yield* staleCards, 10)
        assert.match((yield* pw(() => page.locator("#system-error").textContent())) ?? "", /^Not updated since /)
        assert.strictEqual(yield* figure(page, "fig-completed"), completed)
        assert.isTrue(yield* pw(() => page.locator("#main").isVisible()))
        yield* screenshot(page, "dashboard-1280x800-service-down.png", false)

        // It comes back on the same port: the page finds it again by itself, and says so once.
        const second = yield* Scope.make()
        yield* Effect.addFinalizer(() => Scope.close(second, Exit.void))
        yield* Scope.extend(start(appConfig, sqlite()), second)
        yield* pw(() => page.locator("#connection").filter({ hasText: /^Live · updated [\d:]+$/ }).waitFor())
        assert.deepStrictEqual(yield* staleCards, [])
        assert.strictEqual((yield* spoken).at(-1), "Connection restored: every panel is live again.")
        assert.deepStrictEqual(problems.filter((p) => p.startsWith("page error") || p.startsWith("external")), [])
      }).pipe(Effect.scoped, quiet),
    { timeout: 180_000 }
  )

  it.live(
    "service data shows as text, never as markup; a refused replay or resolve (409, 404) is explained",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        // Slow model calls: a workflow stays running long enough to be seen with its topic.
        const context = yield* Layer.build(
          Server.layerWith(
            config({ simLatency: Duration.seconds(5) }),
            SqliteClient.layer({ filename: Path.join(dir, "agentos.db") }),
            { terminal: false }
          )
        )
        const base = Server.baseUrl(Context.get(context, HttpServer.HttpServer).address)
        const dlq = Context.get(context, DeadLetterQueue.DeadLetterQueue)
        const http = client(base)

        // Text from the outside (a failing provider's message, a payload, a topic) that would run as markup.
        const hostile = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
        const now = Date.now()
        const add = (taskId: string) =>
          Effect.map(
            Effect.orDie(dlq.add({
              source: "test",
              taskType: "research",
              taskId,
              attempt: 1,
              attempts: 1,
              payload: { topic: hostile },
              error: { tag: "Upstream<b>Error</b>", message: `bad gateway: ${hostile}\nsecond line` },
              agent: "lead",
              firstAttemptAt: now,
              lastAttemptAt: now
            })),
            (added) => added.letter.id
          )
        const [hostileLetter, resolvedMeanwhile, purgedMeanwhile] = [
          yield* add("t1"),
          yield* add("t2"),
          yield* add("t3")
        ]
        const topic = `<b>bold</b> ${hostile}`
        assert.strictEqual((yield* http.request("POST", "/workflows", { body: { topic, agent: "lead" } })).status, 202)

        const { page, problems } = yield* open(yield* browser, `${base}/`)
        yield* pw(() => letterRow(page, purgedMeanwhile).waitFor())
        const workflow = page.locator("#workflows tbody tr").filter({ hasText: "<b>bold</b>" })
        yield* pw(() => workflow.waitFor())
        assert.strictEqual(
          yield* pw(() => letterRow(page, hostileLetter).locator("td").nth(3).textContent()),
          `Upstream<b>Error</b>: bad gateway: ${hostile}`
        )
        assert.strictEqual(yield* pw(() => workflow.locator("td").nth(1).textContent()), topic)
        assert.deepStrictEqual(
          yield* pw(() =>
            page.evaluate(() => ({
              pwned: window.pwned ?? null,
              injected: document.querySelectorAll("main img, main b, main script").length,
              inlineScripts: document.querySelectorAll("script:not([src])").length
            }))
          ),
          { pwned: null, injected: 0, inlineScripts: 0 }
        )
        // The page and its script come with a policy that runs no inline or foreign script.
        for (const path of ["/", "/dashboard/app.js"]) {
          const policy = (yield* client(base).request("GET", path)).headers.get("content-security-policy") ?? ""
          assert.include(policy, "default-src 'none'")
          assert.include(policy, "script-src 'self';")
          assert.notMatch(policy, /unsafe-inline|unsafe-eval/)
        }

        // Paused, the page still shows letters that others close meanwhile; acting on them is refused, and said.
        yield* pw(() => page.getByRole("button", { name: "Pause updates" }).click())
        yield* pw(() => page.locator("#connection").filter({ hasText: /^Paused/ }).waitFor())
        const resolved = yield* http.request("POST", `/dead-letters/${resolvedMeanwhile}/resolve`, {
          body: { note: "closed by another operator" }
        })
        assert.strictEqual(resolved.status, 200, resolved.text)
        yield* pw(() => letterRow(page, resolvedMeanwhile).getByRole("button", { name: /^Replay/ }).click())
        yield* pw(() => page.locator("#notice").filter({ hasText: "refused (409): the letter is resolved." }).waitFor())
        // The page looked again: the letter shows as closed, its buttons gone, the focus on the message.
        yield* waitLetterStatus(page, resolvedMeanwhile, "closed by another operator")
        assert.strictEqual(yield* pw(() => page.evaluate(() => document.activeElement?.id)), "notice")
        assert.match((yield* pw(() => page.locator("#connection").textContent())) ?? "", /^Paused/)

        const purged = yield* http.request("POST", "/dead-letters/purge", {
          body: { resolvedOlderThanHours: 1000, unresolvedOlderThanHours: 0 }
        })
        assert.strictEqual(purged.status, 200, purged.text)
        assert.strictEqual(purged.body.removed, 2)
        // Resolving a letter that is gone: the dialog says why and stays; Escape returns to the button.
        const resolveButton = letterRow(page, hostileLetter).getByRole("button", { name: /^Resolve/ })
        yield* pw(() => resolveButton.click())
        yield* pw(() => page.getByLabel("Note (why it is resolved)", { exact: true }).fill("too late"))
        yield* pw(() => page.getByRole("button", { name: "Resolve letter", exact: true }).click())
        yield* pw(() =>
          page.locator("#resolve-error").filter({ hasText: /^Not resolved \(404\): no letter / }).waitFor()
        )
        assert.isTrue(yield* pw(() => page.locator("#resolve-dialog").isVisible()))
        yield* pw(() => page.keyboard.press("Escape"))
        yield* pw(() => page.locator("#resolve-dialog").waitFor({ state: "hidden" }))
        assert.strictEqual(
          yield* pw(() => page.evaluate(() => document.activeElement?.getAttribute("aria-label"))),
          `Resolve dead letter ${hostileLetter}`
        )
        // Replaying a letter that is gone: refused with 404, and the row leaves the page.
        yield* pw(() => letterRow(page, purgedMeanwhile).getByRole("button", { name: /^Replay/ }).click())
        yield* pw(() => page.locator("#notice").filter({ hasText: "refused (404): no letter" }).waitFor())
        yield* pw(() => letterRow(page, purgedMeanwhile).waitFor({ state: "detached" }))
        assert.strictEqual(yield* pw(() => page.evaluate(() => document.activeElement?.id)), "notice")

        yield* pw(() => page.getByRole("button", { name: "Resume updates" }).click())
        yield* pw(() => page.locator("#connection").filter({ hasText: /^Live/ }).waitFor())
        // Seen two days later (the browser's clock moved on), a letter shows its date, not just a time of day.
        yield* pw(() => page.clock.setFixedTime(now + 2 * 86_400_000))
        yield* pw(() =>
          letterRow(page, resolvedMeanwhile).locator("td").nth(6).filter({ hasText: /^\d{4}-\d\d-\d\d \d\d:\d\d$/ })
            .waitFor()
        )
        // The only failures were the refusals asked for.
        assert.deepStrictEqual(
          problems.map((p) => p.replace(/http:\/\/[^/]+/, "")),
          [
            `409 /dead-letters/${resolvedMeanwhile}/replay`,
            `404 /dead-letters/${hostileLetter}/resolve`,
            `404 /dead-letters/${purgedMeanwhile}/replay`
          ]
        )
      }).pipe(Effect.scoped, quiet),
    { timeout: 180_000 }
  )
})
