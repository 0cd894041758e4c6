// Workflow leases held in process memory, shared by the memory and
// file-system stores (which serve one process): core's lease table (judged
// by Effect's Clock, the epoch is its fencing token) and, beside it, each
// workflow's pending cancellation request.
import type { WorkflowId } from "@agentos/core/Ids"
import * as Lease from "@agentos/core/Lease"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Lease as WorkflowLease, LeaseState } from "../Checkpoint.js"
import { LeaseLost, WorkflowBusy } from "../Errors.js"

/** @internal */
export interface Leases {
  /** Grants the lease when it is free; its epoch is above `epochFloor` (the stored checkpoint's). */
  readonly acquire: (
    workflowId: WorkflowId,
    holder: string,
    ttlMillis: number,
    epochFloor: number
  ) => Effect.Effect<WorkflowLease, WorkflowBusy>
  /** Extends the lease by its ttl; LeaseLost unless it is the latest grant of its workflow and not released. */
  readonly renew: (lease: WorkflowLease) => Effect.Effect<LeaseState, LeaseLost>
  /**
   * Runs `write` when `lease` is the latest grant of its workflow (else
   * LeaseLost), then releases the lease when `release`.
   */
  readonly save: <E>(
    lease: WorkflowLease,
    write: Effect.Effect<void, E>,
    release: boolean
  ) => Effect.Effect<LeaseState, E | LeaseLost>
  /** Ends the lease and clears a pending cancellation request (no-op when it is not the current grant). */
  readonly release: (lease: WorkflowLease) => Effect.Effect<void>
  /** Asks the holder of a live lease to cancel; false when nobody holds one. */
  readonly requestCancel: (workflowId: WorkflowId) => Effect.Effect<boolean>
  /** Whether someone holds a live lease of the workflow. */
  readonly isHeld: (workflowId: string) => Effect.Effect<boolean>
  /** The pending cancellation request of `lease`'s workflow. */
  readonly cancelRequested: (lease: WorkflowLease) => boolean
}

/** @internal */
export const make = (): Leases => {
  const table = Lease.makeMemory()
  // A request stays for the next holder when its holder died (the lease
  // expired, never released); a release clears it.
  const cancels = new Set<string>()
  const lost = (lease: WorkflowLease) => new LeaseLost({ workflowId: lease.workflowId, epoch: lease.epoch })
  // A save is fenced by the epoch alone, as the SQL store's is: the lease's
  // latest grant, released or not. A renewal also needs it not released, so
  // that one that raced the save releasing it does not bring it back.
  const state = (lease: WorkflowLease): LeaseState => ({ cancelRequested: cancels.has(lease.workflowId) })
  const release = (lease: WorkflowLease) =>
    Effect.map(table.release(lease.workflowId, lease.epoch), (released) => {
      if (released) cancels.delete(lease.workflowId)
    })
  return {
    acquire: (workflowId, holder, ttlMillis, epochFloor) =>
      Effect.flatMap(
        table.acquire(workflowId, holder, ttlMillis, { minToken: epochFloor }),
        (outcome) =>
          outcome._tag === "Acquired"
            ? Effect.succeed({ workflowId, holder, epoch: outcome.grant.token, ttlMillis })
            : Effect.map(Clock.currentTimeMillis, (now) =>
              new WorkflowBusy({
                workflowId,
                holder: outcome.grant.holder,
                retryAfterMillis: Lease.remainingMillis(outcome.grant.expiresAt, now)
              })).pipe(Effect.flip)
      ),
    renew: (lease) =>
      Effect.suspend(() =>
        table.holds(lease.workflowId, lease.epoch)
          ? Effect.flatMap(
            table.renew(lease.workflowId, lease.epoch, lease.ttlMillis),
            Option.match({ onNone: () => Effect.fail(lost(lease)), onSome: () => Effect.succeed(state(lease)) })
          )
          : Effect.fail(lost(lease))
      ),
    save: <E>(lease: WorkflowLease, write: Effect.Effect<void, E>, releaseAfter: boolean) =>
      Effect.suspend((): Effect.Effect<LeaseState, E | LeaseLost> =>
        table.lastToken(lease.workflowId) === lease.epoch
          ? Effect.flatMap(write, () => {
            const after = state(lease)
            return releaseAfter ? Effect.as(release(lease), after) : Effect.succeed(after)
          })
          : Effect.fail(lost(lease))
      ),
    release,
    requestCancel: (workflowId) =>
      Effect.map(table.current(workflowId), (grant) => {
        if (grant === undefined) return false
        cancels.add(workflowId)
        return true
      }),
    isHeld: (workflowId) => Effect.map(table.current(workflowId), (grant) => grant !== undefined),
    cancelRequested: (lease) => cancels.has(lease.workflowId)
  }
}
