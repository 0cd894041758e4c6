// The CLI's one failure and the exit codes scripts can rely on. A leaf: it
// imports only effect.
import { Data } from "effect"

/**
 * The exit codes of `agentos`, one per kind of outcome (see README.md,
 * "Operator CLI"):
 *
 * - 0 `Ok`: the command did what it says.
 * - 1 `Usage`: the command line is not valid (unknown command or option, a
 *   bad value), or the service refused the input as invalid (400).
 * - 2 `NotFound`: no task, workflow or letter with that id (404).
 * - 3 `Unavailable`: the service cannot be reached, is starting or draining
 *   (503), failed (500), or answered something the CLI does not understand.
 * - 4 `Unauthorized`: the service wants a token and got none or a wrong one (401).
 * - 5 `Refused`: the service understood and did not do it — the resource is
 *   not in a state that allows it (409: already resolved, running, finished),
 *   the queue or budget is full (429), or a replay ran and failed again.
 * - 70 `Internal`: a defect of the CLI itself.
 */
export const ExitCode = {
  Ok: 0,
  Usage: 1,
  NotFound: 2,
  Unavailable: 3,
  Unauthorized: 4,
  Refused: 5,
  Internal: 70
} as const

export type ExitCode = typeof ExitCode[keyof typeof ExitCode]

/** A command failed: what to tell the operator, and the exit code. */
export class CliError extends Data.TaggedError("CliError")<{
  readonly code: ExitCode
  readonly message: string
  /** The service's error body (`{ _tag, message, ...data }`) when there is one. */
  readonly body?: unknown
}> {}
