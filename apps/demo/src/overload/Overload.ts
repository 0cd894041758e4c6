// The overload measurement: first the service's capacity (research workflows
// completed per second while its queue is never empty), then an open-loop
// offer of `factor` times that rate for a while — requests are sent on a
// fixed schedule whatever the answers, as independent clients would — with a
// probe timing `/healthz` every 100 ms and the heap sampled every second.
// Then it waits for every accepted task to end and reads each one's status.
// Figures only: the short run in the tests asserts correctness, never timing.
import { Duration, Effect, Fiber, Ref, Schedule } from "effect"

export interface Percentiles {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** Nearest-rank percentiles, in milliseconds rounded to 0.01. */
export const percentiles = (values: ReadonlyArray<number>): Percentiles => {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!
  const round = (n: number) => Math.round(n * 100) / 100
  return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]!) }
}

export interface HeapSample {
  /** Seconds since the offer started (negative: before it). */
  readonly t: number
  readonly heapUsedMB: number
  /** The service's event loop over the second before the sample: its p99 and largest delay (ms). */
  readonly loopP99Millis?: number
  readonly loopMaxMillis?: number
  /** CPU time the service used in that second (ms; 1,000 is one core). */
  readonly cpuMillis?: number
  /** How long the service's main thread waited for a CPU in that second (ms; Linux). */
  readonly runQueueMillis?: number
  readonly rssMB: number
}

export interface Options {
  readonly base: string
  readonly token?: string
  /** Seconds of the capacity phase (the first fifth is warm-up, not counted). */
  readonly capacitySeconds: number
  /** Offered rate = factor × capacity. */
  readonly factor: number
  /** Seconds of the offer. */
  readonly offerSeconds: number
  /**
   * After the offer, the wait for every accepted task to end goes on while
   * the service makes progress; it gives up after this many seconds without
   * a task ending (or `drainSeconds` in all).
   */
  readonly stallSeconds: number
  readonly drainSeconds: number
  /** The service's heap, sampled every second. */
  readonly heap: Effect.Effect<{
    readonly heapUsed: number
    readonly rss: number
    /** When the service reports them (`serve.ts` does): its event loop's delay and CPU over the last second. */
    readonly loopP99?: number
    readonly loopMax?: number
    readonly cpuMillis?: number
    readonly runQueueMillis?: number
  }>
  readonly log?: (line: string) => void
}

export interface Report {
  readonly capacity: {
    readonly seconds: number
    readonly completed: number
    readonly workflowsPerSecond: number
  }
  readonly offer: {
    readonly ratePerSecond: number
    /** From the first submission to the last answer (`offerSeconds` of sending, then the last answers). */
    readonly seconds: number
    readonly sent: number
    readonly accepted: number
    readonly rejected429: number
    readonly otherStatus: Record<string, number>
    /** Requests that got no answer (connection error or 30 s timeout). */
    readonly unanswered: number
    /** Client-side time to the answer of a submission. */
    readonly submitLatencyMillis: Percentiles
  }
  /** The probe, every 100 ms over the same span as `offer.seconds`; a failure is no 200 within 5 s. */
  readonly healthz: {
    readonly samples: number
    readonly failed: number
    readonly latencyMillis: Percentiles
    readonly over100ms: number
  }
  readonly heap: {
    readonly samples: ReadonlyArray<HeapSample>
    readonly maxHeapUsedMB: number
    readonly maxRssMB: number
  }
  /**
   * The service's own view over the offer, one figure a second: the largest
   * event-loop delay of each second, the CPU it used (1,000 ms is a whole
   * core), and how long its main thread waited, ready, for a CPU the other
   * processes held (Linux; empty elsewhere). A delay with CPU to spare and
   * little run-queue wait is a synchronous call (a disk sync); with a long
   * run-queue wait, the machine; with a core in use, its own work.
   */
  readonly serviceLoop: {
    readonly maxDelayPerSecondMillis: Percentiles
    readonly cpuMillisPerSecond: Percentiles
    readonly runQueueMillisPerSecond: Percentiles
  }
  readonly drain: {
    readonly seconds: number
    readonly drained: boolean
    /** The accepted tasks by the status read back after the drain. */
    readonly statuses: Record<string, number>
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100
const mb = (bytes: number) => round2(bytes / 1024 / 1024)

/** Runs the measurement against a running service. */
export const run = (options: Options): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const log = options.log ?? (() => {})
    const headers: Record<string, string> = options.token === undefined
      ? {}
      : { authorization: `Bearer ${options.token}` }
    // A read of the service's own view; an overloaded service may take long to answer: tried again
    // (five times at most, 30 s each) rather than failing the run.
    const get = (path: string) =>
      Effect.tryPromise(async () => {
        const response = await fetch(`${options.base}${path}`, { headers, signal: AbortSignal.timeout(30_000) })
        return { status: response.status, body: (await response.json()) as any }
      }).pipe(Effect.retry(Schedule.recurs(5)), Effect.orDie)
    let topic = 0
    const submit = Effect.promise(async () => {
      const t0 = performance.now()
      try {
        const response = await fetch(`${options.base}/workflows`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ topic: `overload ${topic++}` }),
          signal: AbortSignal.timeout(30_000)
        })
        const body = (await response.json().catch(() => undefined)) as any
        return { status: response.status, id: body?.id as string | undefined, millis: performance.now() - t0 }
      } catch {
        return { status: 0, id: undefined, millis: performance.now() - t0 }
      }
    })
    const supervisor = Effect.map(get("/supervisor"), (r) => ({
      queued: Object.values(r.body.queueDepth as Record<string, number>).reduce((a, b) => a + b, 0),
      running: r.body.running as number,
      completed: (r.body.workers as ReadonlyArray<{ completed: number }>).reduce((n, w) => n + w.completed, 0),
      ended: (r.body.workers as ReadonlyArray<{ completed: number; errors: number }>).reduce(
        (n, w) => n + w.completed + w.errors,
        0
      )
    }))
    const idle = (seconds: number) =>
      Effect.gen(function*() {
        const deadline = Date.now() + seconds * 1000
        while (Date.now() < deadline) {
          const s = yield* supervisor
          if (s.queued === 0 && s.running === 0) return true
          yield* Effect.sleep(Duration.millis(250))
        }
        return false
      })

    // ------------------------------------------------------------ capacity
    // A feeder keeps the queue at least 8 deep; completions are counted from the supervisor's own
    // counter after the warm-up.
    log(`capacity: ${options.capacitySeconds} s with the queue never empty`)
    const feeder = Effect.gen(function*() {
      while (true) {
        const s = yield* supervisor
        for (let i = s.queued; i < 8; i++) {
          yield* submit
        }
        yield* Effect.sleep(Duration.millis(100))
      }
    })
    const feeding = yield* Effect.fork(feeder)
    const warmup = options.capacitySeconds / 5
    yield* Effect.sleep(Duration.seconds(warmup))
    const first = yield* supervisor
    const t0 = performance.now()
    yield* Effect.sleep(Duration.seconds(options.capacitySeconds - warmup))
    const last = yield* supervisor
    const window = (performance.now() - t0) / 1000
    yield* Fiber.interrupt(feeding)
    const completed = last.completed - first.completed
    const capacity = Math.max(0.1, completed / window)
    log(
      `capacity: ${completed} workflows in ${round2(window)} s = ${round2(capacity)}/s; waiting for the queue to empty`
    )
    yield* idle(options.drainSeconds)

    // ------------------------------------------------------------ offer
    const rate = capacity * options.factor
    log(`offer: ${round2(rate)}/s for ${options.offerSeconds} s`)
    const accepted: Array<string> = []
    const otherStatus: Record<string, number> = {}
    const submitMillis: Array<number> = []
    let sent = 0
    let rejected = 0
    let unanswered = 0
    const health: Array<number> = []
    let healthFailed = 0
    const heap: Array<HeapSample> = []
    const started = performance.now()
    const seconds = () => (performance.now() - started) / 1000

    const probe = Effect.gen(function*() {
      while (true) {
        const t = performance.now()
        const ok = yield* Effect.promise(() =>
          fetch(`${options.base}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
            (r) => r.status === 200,
            () => false
          )
        )
        if (ok) health.push(performance.now() - t)
        else healthFailed++
        const left = 100 - (performance.now() - t)
        if (left > 0) yield* Effect.sleep(Duration.millis(left))
      }
    })
    const sampler = Effect.gen(function*() {
      while (true) {
        const h = yield* options.heap
        heap.push({
          t: round2(seconds()),
          heapUsedMB: mb(h.heapUsed),
          rssMB: mb(h.rss),
          ...(h.loopMax === undefined
            ? {}
            : { loopP99Millis: round2(h.loopP99 ?? 0), loopMaxMillis: round2(h.loopMax) }),
          ...(h.cpuMillis === undefined ? {} : { cpuMillis: Math.round(h.cpuMillis) }),
          ...(h.runQueueMillis === undefined ? {} : { runQueueMillis: Math.round(h.runQueueMillis) })
        })
        yield* Effect.sleep(Duration.seconds(1))
      }
    })
    const inFlight = yield* Ref.make(0)
    const offer = Effect.gen(function*() {
      const interval = 1000 / rate
      const total = Math.floor(rate * options.offerSeconds)
      for (let i = 0; i < total; i++) {
        const due = i * interval - (performance.now() - started)
        if (due > 0) yield* Effect.sleep(Duration.millis(due))
        sent++
        yield* Ref.update(inFlight, (n) => n + 1)
        yield* Effect.fork(Effect.ensuring(
          Effect.tap(submit, (answer) =>
            Effect.sync(() => {
              if (answer.status === 0) unanswered++
              else submitMillis.push(answer.millis)
              if (answer.status === 202 && answer.id !== undefined) accepted.push(answer.id)
              else if (answer.status === 429) rejected++
              else if (answer.status !== 0) {
                otherStatus[String(answer.status)] = (otherStatus[String(answer.status)] ?? 0) + 1
              }
            })),
          Ref.update(inFlight, (n) => n - 1)
        ))
        if (i % Math.max(1, Math.round(rate * 5)) === 0 && i > 0) {
          log(
            `  ${
              round2(seconds())
            } s: sent ${sent}, accepted ${accepted.length}, 429 ${rejected}, healthz ${health.length}`
          )
        }
      }
      // Every submission answered (each has its own 30 s timeout).
      while ((yield* Ref.get(inFlight)) > 0) yield* Effect.sleep(Duration.millis(50))
    })
    const probing = yield* Effect.fork(probe)
    const sampling = yield* Effect.fork(sampler)
    yield* offer
    const offered = seconds()
    yield* Fiber.interrupt(probing)

    // ------------------------------------------------------------ drain
    log(`drain: waiting up to ${options.drainSeconds} s for ${accepted.length} accepted tasks`)
    const drainStart = performance.now()
    let drained = false
    let lastProgress = performance.now()
    let lastEnded = -1
    while ((performance.now() - drainStart) / 1000 < options.drainSeconds) {
      const s = yield* supervisor
      if (s.queued === 0 && s.running === 0) {
        drained = true
        break
      }
      if (s.ended !== lastEnded) {
        lastEnded = s.ended
        lastProgress = performance.now()
      } else if ((performance.now() - lastProgress) / 1000 > options.stallSeconds) break
      yield* Effect.sleep(Duration.millis(500))
    }
    const drainSeconds = (performance.now() - drainStart) / 1000
    yield* Fiber.interrupt(sampling)
    const statuses: Record<string, number> = {}
    for (const id of accepted) {
      const task = yield* get(`/tasks/${id}`)
      const status = task.status === 200 ? String(task.body.status) : `http ${task.status}`
      statuses[status] = (statuses[status] ?? 0) + 1
    }
    const healthLatency = percentiles(health)
    return {
      capacity: { seconds: round2(window), completed, workflowsPerSecond: round2(capacity) },
      offer: {
        ratePerSecond: round2(rate),
        seconds: round2(offered),
        sent,
        accepted: accepted.length,
        rejected429: rejected,
        otherStatus,
        unanswered,
        submitLatencyMillis: percentiles(submitMillis)
      },
      healthz: {
        samples: health.length,
        failed: healthFailed,
        latencyMillis: healthLatency,
        over100ms: health.filter((m) => m > 100).length
      },
      heap: {
        samples: heap,
        maxHeapUsedMB: Math.max(0, ...heap.map((h) => h.heapUsedMB)),
        maxRssMB: Math.max(0, ...heap.map((h) => h.rssMB))
      },
      serviceLoop: {
        maxDelayPerSecondMillis: percentiles(
          heap.flatMap((h) => h.loopMaxMillis === undefined ? [] : [h.loopMaxMillis])
        ),
        cpuMillisPerSecond: percentiles(heap.flatMap((h) => h.cpuMillis === undefined ? [] : [h.cpuMillis])),
        runQueueMillisPerSecond: percentiles(
          heap.flatMap((h) => h.runQueueMillis === undefined ? [] : [h.runQueueMillis])
        )
      },
      drain: { seconds: round2(drainSeconds), drained, statuses }
    } satisfies Report
  })
