// The store contract: what a backend must do, nothing more. The service
// (internal/service.ts) holds the rules — validation, redaction, limits,
// alerts, the replay protocol — so that backends differ in storage only.
//
// A claim is a lease on a letter: live while now < claimedUntil, free from
// claimedUntil on (core's Lease rule), judged by Effect's Clock in memory and
// by the database's clock on SQL. Each claim, and each manual resolve,
// advances the letter's token, so a replayer whose claim was taken cannot
// record its outcome.
import type * as Effect from "effect/Effect"
import type { StoreError } from "../Errors.js"
import type { Finding, Letter, Resolution } from "../Letter.js"

export type InsertOutcome =
  | { readonly _tag: "Inserted"; readonly letter: Letter }
  | { readonly _tag: "Duplicate"; readonly letter: Letter }
  | { readonly _tag: "Full" }

export type ClaimOutcome =
  | { readonly _tag: "Claimed"; readonly letter: Letter; readonly token: number }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "InProgress"; readonly claimedUntil: number }
  | { readonly _tag: "Resolved"; readonly resolvedAt: number }

export type ResolveOutcome =
  | { readonly _tag: "Done"; readonly letter: Letter }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "InProgress"; readonly claimedUntil: number }
  | { readonly _tag: "Resolved"; readonly resolvedAt: number }

export interface Query {
  readonly taskType: string | undefined
  readonly errorType: string | undefined
  readonly agent: string | undefined
  readonly resolved: boolean | undefined
  readonly since: number | undefined
  /** Rows to return (the service asks for one more than the page). */
  readonly limit: number
  readonly after: string | undefined
  readonly order: "newest" | "oldest"
}

export interface Counts {
  readonly total: number
  readonly resolved: number
  readonly byTaskType: Record<string, number>
  readonly byErrorType: Record<string, number>
  readonly oldestUnresolvedCreatedAt: number | undefined
}

export interface Store {
  readonly insert: (letter: Letter, maxLetters: number | undefined) => Effect.Effect<InsertOutcome, StoreError>
  readonly get: (id: string) => Effect.Effect<Letter | undefined, StoreError>
  readonly list: (query: Query) => Effect.Effect<ReadonlyArray<Letter>, StoreError>
  /** Claims an unresolved letter whose claim is free or expired. */
  readonly claim: (id: string, timeoutMillis: number) => Effect.Effect<ClaimOutcome, StoreError>
  /** Frees a claim (the replay was interrupted); a stale token does nothing. */
  readonly release: (id: string, token: number) => Effect.Effect<void, StoreError>
  /**
   * Writes a replay's outcome and frees the claim; false when the token is
   * stale (another replay or a manual resolve took the letter since) or the
   * letter was purged.
   */
  readonly complete: (id: string, token: number, letter: Letter) => Effect.Effect<boolean, StoreError>
  /** Resolves an unresolved, unclaimed letter and advances its claim token (fencing an expired replayer). */
  readonly resolve: (id: string, resolution: Resolution) => Effect.Effect<ResolveOutcome, StoreError>
  /** Removes resolved letters resolved before `resolvedBefore`, and unresolved ones created before `unresolvedBefore`, unless claimed. */
  readonly purge: (resolvedBefore: number, unresolvedBefore: number | undefined) => Effect.Effect<number, StoreError>
  readonly counts: Effect.Effect<Counts, StoreError>
  readonly findings: Effect.Effect<ReadonlyArray<Finding>>
}
