// The service's typed client, derived from its contract (`Api.ts`) with
// `HttpApiClient.make`, and the one mapping of everything a call can fail
// with onto the CLI's exit codes.
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { type Effect, Option, ParseResult, type Redacted, Schema } from "effect"
import * as Api from "../Api.js"
import { CliError, ExitCode } from "./Errors.js"

/** Where the service is and how to authenticate (from `--url`/`--token` or the environment). */
export interface Connection {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted>
}

/** The typed client of every route of the contract. */
export const make = (connection: Connection) =>
  HttpApiClient.make(Api.Api, {
    baseUrl: connection.url,
    transformClient: (client) =>
      Option.match(connection.token, {
        onNone: () => client,
        onSome: (token) => HttpClient.mapRequest(client, HttpClientRequest.bearerToken(token))
      })
  })

export type Client = Effect.Effect.Success<ReturnType<typeof make>>

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : undefined

const bodyOf = (error: object) => {
  const { message, ...rest } = error as { message?: unknown }
  return { ...rest, message }
}

/** Everything a call can fail with, as the operator's message and the exit code. */
export const toCliError = (connection: Connection) => (error: unknown): CliError => {
  if (error instanceof CliError) return error
  if (error instanceof Api.NotFound) {
    return new CliError({ code: ExitCode.NotFound, message: error.message, body: bodyOf(error) })
  }
  if (error instanceof Api.Unauthorized) {
    return new CliError({
      code: ExitCode.Unauthorized,
      message: Option.isNone(connection.token)
        ? `${connection.url} requires a token: pass --token or set AGENTOS_API_TOKEN`
        : `${connection.url} refused the token (${error.message})`,
      body: bodyOf(error)
    })
  }
  if (
    error instanceof Api.InvalidRequest || error instanceof Api.UnknownTaskType ||
    error instanceof Api.PayloadTooLarge || error instanceof Api.LengthRequired ||
    tagOf(error) === "HttpApiDecodeError"
  ) {
    const e = error as { message: string }
    return new CliError({ code: ExitCode.Usage, message: `invalid request: ${e.message}`, body: bodyOf(e) })
  }
  if (error instanceof Api.InvalidState || error instanceof Api.Conflict || error instanceof Api.TooManyRequests) {
    return new CliError({ code: ExitCode.Refused, message: error.message, body: bodyOf(error) })
  }
  if (error instanceof Api.Unavailable || error instanceof Api.InternalError) {
    return new CliError({
      code: ExitCode.Unavailable,
      message: `${connection.url}: ${error.message}`,
      body: bodyOf(error)
    })
  }
  switch (tagOf(error)) {
    case "RequestError": {
      const e = error as { reason: string; description?: string; cause?: unknown }
      if (e.reason === "InvalidUrl") {
        return new CliError({ code: ExitCode.Usage, message: `not a valid service URL: ${connection.url}` })
      }
      const cause = e.cause instanceof Error
        ? (e.cause.cause instanceof Error ? e.cause.cause.message : e.cause.message)
        : e.description ?? e.reason
      return new CliError({
        code: ExitCode.Unavailable,
        message: `cannot reach the service at ${connection.url}: ${cause}`
      })
    }
    case "ResponseError": {
      const e = error as { response: { status: number }; reason: string }
      return new CliError({
        code: ExitCode.Unavailable,
        message: `unexpected answer from ${connection.url} (HTTP ${e.response.status}, ${e.reason})`
      })
    }
    case "ParseError":
      return new CliError({
        code: ExitCode.Unavailable,
        message: `unexpected answer from ${connection.url}: ${
          ParseResult.TreeFormatter.formatErrorSync(error as ParseResult.ParseError)
        }`
      })
    default:
      return new CliError({ code: ExitCode.Unavailable, message: `unexpected failure: ${String(error)}` })
  }
}

/**
 * The service's answer as it was sent: the typed client decodes every answer
 * with its schema in `Api.ts`; `--json` prints it encoded again.
 */
export const encode = <A, I>(schema: Schema.Schema<A, I>) => (value: A): I => Schema.encodeSync(schema)(value)
