/**
 * Leases held in process memory and judged by Effect's `Clock`, shared by the
 * memory and file-system stores (which serve one process).
 */
import type { WorkflowId } from "@agentos/core/Ids"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Lease, LeaseState } from "../Checkpoint.js"
import { LeaseLost, WorkflowBusy } from "../Errors.js"

interface Entry {
  holder: string
  epoch: number
  expiresAt: number
  cancelRequested: boolean
}

/** @internal */
export interface Leases {
  readonly acquire: (
    workflowId: WorkflowId,
    holder: string,
    ttlMillis: number,
    epochFloor: number
  ) => Effect.Effect<Lease, WorkflowBusy>
  /**
   * Fails with LeaseLost unless `lease` is the current grant (and, to
   * `extend` it, not released); else runs `f` at once.
   */
  readonly whileHeld: <A, E>(
    lease: Lease,
    f: (now: number) => Effect.Effect<A, E>,
    extend: boolean
  ) => Effect.Effect<
    LeaseState & { readonly value: A },
    E | LeaseLost
  >
  readonly release: (lease: Lease) => Effect.Effect<void>
  readonly requestCancel: (workflowId: WorkflowId) => Effect.Effect<boolean>
  readonly isHeld: (workflowId: string, now: number) => boolean
  /** The pending cancellation request of `lease`'s workflow. */
  readonly cancelRequested: (lease: Lease) => boolean
}

/** @internal */
export const make = (): Leases => {
  const entries = new Map<string, Entry>()
  return {
    acquire: (workflowId, holder, ttlMillis, epochFloor) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(workflowId)
        if (entry !== undefined && entry.expiresAt > now) {
          return Effect.fail(
            new WorkflowBusy({ workflowId, holder: entry.holder, retryAfterMillis: entry.expiresAt - now })
          )
        }
        const epoch = Math.max(entry?.epoch ?? 0, epochFloor) + 1
        // A request made while a runner that then died held the lease stays
        // for the next holder (release clears it).
        entries.set(workflowId, {
          holder,
          epoch,
          expiresAt: now + ttlMillis,
          cancelRequested: entry?.cancelRequested ?? false
        })
        return Effect.succeed({ workflowId, holder, epoch, ttlMillis })
      }),
    whileHeld: <A, E>(lease: Lease, f: (now: number) => Effect.Effect<A, E>, extend: boolean) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now): Effect.Effect<LeaseState & { readonly value: A }, E | LeaseLost> => {
          const entry = entries.get(lease.workflowId)
          // A released lease (expiry 0) is not renewed: a renewal that raced
          // the save releasing it must not bring it back.
          if (
            entry === undefined || entry.epoch !== lease.epoch || entry.holder !== lease.holder ||
            (extend && entry.expiresAt === 0)
          ) {
            return Effect.fail(new LeaseLost({ workflowId: lease.workflowId, epoch: lease.epoch }))
          }
          return Effect.map(f(now), (value) => {
            if (extend) entry.expiresAt = now + lease.ttlMillis
            return { cancelRequested: entry.cancelRequested, value }
          })
        }
      ),
    release: (lease) =>
      Effect.sync(() => {
        const entry = entries.get(lease.workflowId)
        if (entry !== undefined && entry.epoch === lease.epoch && entry.holder === lease.holder) {
          entry.expiresAt = 0
          entry.cancelRequested = false
        }
      }),
    requestCancel: (workflowId) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(workflowId)
        if (entry === undefined || entry.expiresAt <= now) return false
        entry.cancelRequested = true
        return true
      }),
    cancelRequested: (lease) => entries.get(lease.workflowId)?.cancelRequested ?? false,
    isHeld: (workflowId, now) => {
      const entry = entries.get(workflowId)
      return entry !== undefined && entry.expiresAt > now
    }
  }
}
