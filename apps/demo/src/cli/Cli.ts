// `agentos` as one Effect: the arguments in, the exit code out. `main.ts`
// runs it in Node; the tests run it in-process with a captured console.
import type { CliApp } from "@effect/cli"
import { Command } from "@effect/cli"
import type { HttpClient } from "@effect/platform"
import { Cause, Console, Effect } from "effect"
import { agentos } from "./Commands.js"
import { CliError, ExitCode } from "./Errors.js"

const app = Command.run(agentos, { name: "agentos", version: "0.0.0" })

/**
 * Runs the CLI with `args` (without the `node script` prefix) and returns its
 * exit code (see `ExitCode`); output goes to `Console` (stdout: the answer,
 * stderr: errors and usage).
 */
export const run = (
  args: ReadonlyArray<string>
): Effect.Effect<ExitCode, never, CliApp.CliApp.Environment | HttpClient.HttpClient> =>
  app(["node", "agentos", ...args]).pipe(
    Effect.as(ExitCode.Ok as ExitCode),
    // A CliError was printed where it happened; a ValidationError by @effect/cli with its help.
    Effect.catchAll((error) => Effect.succeed(error instanceof CliError ? error.code : ExitCode.Usage)),
    Effect.catchAllCause((cause) =>
      Effect.as(Console.error(`agentos: internal error\n${Cause.pretty(cause)}`), ExitCode.Internal)
    )
  )
