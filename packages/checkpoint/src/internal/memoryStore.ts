import type { WorkflowId } from "@agentos/core/Ids"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Checkpoint } from "../Checkpoint.js"
import type { CheckpointStoreService } from "../CheckpointStore.js"
import * as Leases from "./memoryLeases.js"
import * as Paging from "./paging.js"

/** @internal */
export const make: Effect.Effect<CheckpointStoreService> = Effect.sync(() => {
  const leases = Leases.make()
  const checkpoints = new Map<string, Checkpoint>()
  const acquire = (workflowId: WorkflowId, holder: string, ttlMillis: number) =>
    Effect.suspend(() => leases.acquire(workflowId, holder, ttlMillis, checkpoints.get(workflowId)?.epoch ?? 0))
  return {
    acquire,
    acquireAndCreate: (workflowId, holder, ttlMillis, initial) =>
      Effect.flatMap(acquire(workflowId, holder, ttlMillis), (lease) =>
        // In one synchronous step after the grant: nothing can come between.
        Effect.sync(() => {
          if (checkpoints.has(workflowId)) return { lease, created: false, cancelRequested: false }
          checkpoints.set(workflowId, structuredClone({ ...initial, workflowId, epoch: lease.epoch }))
          return { lease, created: true, cancelRequested: leases.cancelRequested(lease) }
        })),
    renew: leases.renew,
    release: leases.release,
    requestCancel: leases.requestCancel,
    load: (workflowId) =>
      Effect.sync(() => Option.map(Option.fromNullable(checkpoints.get(workflowId)), structuredClone)),
    save: (lease, checkpoint, options) =>
      leases.save(
        lease,
        Effect.sync(() =>
          void checkpoints.set(
            lease.workflowId,
            structuredClone({ ...checkpoint, workflowId: lease.workflowId, epoch: lease.epoch })
          )
        ),
        options?.release === true
      ),
    list: (query) =>
      Effect.flatMap(
        Paging.check(query),
        (q) => Effect.sync(() => structuredClone(Paging.page(checkpoints.values(), q)))
      ),
    prune: ({ statuses, updatedBefore }) =>
      Effect.gen(function*() {
        let removed = 0
        for (const [id, checkpoint] of [...checkpoints]) {
          if (
            statuses.includes(checkpoint.status) && checkpoint.updatedAt < updatedBefore && !(yield* leases.isHeld(id))
          ) {
            checkpoints.delete(id)
            removed++
          }
        }
        return removed
      })
  }
})
