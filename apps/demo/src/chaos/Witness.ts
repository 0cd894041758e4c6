// Witnesses for the chaos run: logs kept outside the library's tables, so a
// check can tell what really happened from what the stores say happened.
//
// - each research step appends a line when it starts and when it produced its
//   output (with a hash of the output), keyed by the step's idempotency key;
// - the simulated provider's calls append a line when sent and when answered,
//   with the tokens the provider billed, keyed by the router's reservation.
//
// Nothing is recorded unless AGENTOS_WITNESS_DIR names a directory: a
// production service pays one configuration read per step and nothing per
// model call. Each process appends to its own file (`<kind>-<pid>.jsonl`)
// with one synchronous write per line, so a SIGKILL leaves every line it
// wrote whole.
import type { Workflow } from "@agentos/checkpoint"
import { ModelProvider } from "@agentos/router"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import { Config, Context, Effect, Layer, Option } from "effect"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** Where witnesses are written, when the run wants them. */
export const directory: Effect.Effect<Option.Option<string>> = Config.option(
  Config.nonEmptyString("AGENTOS_WITNESS_DIR")
).pipe(Effect.orElseSucceed(() => Option.none<string>()))

/** A step's line. */
export interface StepLine {
  readonly kind: "step-start" | "step-done"
  readonly key: string
  readonly workflowId: string
  readonly step: string
  readonly attempt: number
  readonly run: number
  readonly pid: number
  readonly at: number
  /** step-done: sha256 of the output's JSON. */
  readonly output?: string
}

/** A model call's line. */
export interface CallLine {
  readonly kind: "call-sent" | "call-billed"
  readonly reservation: string
  readonly model: string
  readonly pid: number
  readonly at: number
  /** call-billed: the tokens the provider billed. */
  readonly inputTokens?: number
  readonly outputTokens?: number
  readonly cachedInputTokens?: number
}

/** The hash a step-done line carries: of the output object's JSON, as the step returned it. */
export const hash = (output: unknown): string => createHash("sha256").update(JSON.stringify(output)).digest("hex")

const append = (dir: string, file: "steps" | "calls", line: StepLine | CallLine) =>
  Effect.sync(() => {
    Fs.mkdirSync(dir, { recursive: true })
    Fs.appendFileSync(Path.join(dir, `${file}-${process.pid}.jsonl`), JSON.stringify(line) + "\n")
  })

/**
 * A step's `run`, witnessed: a line when it starts, and one with its output's
 * hash when it produced one (before the engine commits it).
 */
export const step = <S, A, E, R>(
  run: (state: S, context: Workflow.StepContext) => Effect.Effect<A, E, R>
) =>
(state: S, context: Workflow.StepContext): Effect.Effect<A, E, R> =>
  Effect.flatMap(directory, (dir) => {
    if (Option.isNone(dir)) return run(state, context)
    const line = (kind: StepLine["kind"], output?: string): StepLine => ({
      kind,
      key: context.idempotencyKey,
      workflowId: context.workflowId,
      step: context.step,
      attempt: context.attempt,
      run: context.run,
      pid: process.pid,
      at: Date.now(),
      ...(output === undefined ? {} : { output })
    })
    return append(dir.value, "steps", line("step-start")).pipe(
      Effect.zipRight(run(state, context)),
      Effect.tap((output) => append(dir.value, "steps", line("step-done", hash(output))))
    )
  })

const witnessModel = (dir: string, model: string, service: LanguageModel.Service): LanguageModel.Service => ({
  ...service,
  generateText: ((options: Parameters<LanguageModel.Service["generateText"]>[0]) =>
    Effect.gen(function*() {
      const call = yield* ModelProvider.currentCall
      const reservation = Option.match(call, { onNone: () => "", onSome: (c) => c.reservation })
      yield* append(dir, "calls", { kind: "call-sent", reservation, model, pid: process.pid, at: Date.now() })
      const response = yield* service.generateText(options)
      yield* append(dir, "calls", {
        kind: "call-billed",
        reservation,
        model,
        pid: process.pid,
        at: Date.now(),
        inputTokens: response.usage.inputTokens ?? 0,
        outputTokens: response.usage.outputTokens ?? 0,
        cachedInputTokens: response.usage.cachedInputTokens ?? 0
      })
      return response
    })) as LanguageModel.Service["generateText"]
})

/**
 * The providers of `layer`, each model's `generateText` witnessed (a line
 * when sent, one with the billed tokens when answered) when
 * AGENTOS_WITNESS_DIR is set; `layer` unchanged otherwise.
 */
export const providers = <E, R>(
  layer: Layer.Layer<ModelProvider.ModelProviders, E, R>
): Layer.Layer<ModelProvider.ModelProviders, E, R> =>
  Layer.unwrapEffect(
    Effect.map(directory, (dir) =>
      Option.isNone(dir) ? layer : Layer.map(layer, (context) =>
        Context.make(
          ModelProvider.ModelProviders,
          Context.get(context, ModelProvider.ModelProviders).map((provider) => ({
            ...provider,
            languageModel: (model) =>
              Effect.map(provider.languageModel(model), (service) => witnessModel(dir.value, model.name, service))
          }))
        )))
  )

/** Every line of every file of `kind` under `dir`; a torn last line (none expected) is reported, not parsed. */
export const read = <L>(dir: string, kind: "steps" | "calls"): { lines: Array<L>; torn: number } => {
  const lines: Array<L> = []
  let torn = 0
  if (!Fs.existsSync(dir)) return { lines, torn }
  for (const file of Fs.readdirSync(dir)) {
    if (!file.startsWith(`${kind}-`) || !file.endsWith(".jsonl")) continue
    for (const text of Fs.readFileSync(Path.join(dir, file), "utf8").split("\n")) {
      if (text === "") continue
      try {
        lines.push(JSON.parse(text) as L)
      } catch {
        torn++
      }
    }
  }
  return { lines, torn }
}
