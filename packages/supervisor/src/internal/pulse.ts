// A one-shot wake-up that re-arms itself: waiters take the current signal
// before they look at the state they wait on (so no wake-up is lost), and
// `fire` completes it. Firing an unarmed pulse costs one comparison.
import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

export class Pulse {
  private signal: Deferred.Deferred<void> | undefined = undefined

  /** The signal the next `fire` completes. */
  next(): Deferred.Deferred<void> {
    if (this.signal === undefined) this.signal = Deferred.unsafeMake<void>(FiberId.none)
    return this.signal
  }

  fire(): void {
    const signal = this.signal
    if (signal !== undefined) {
      this.signal = undefined
      Deferred.unsafeDone(signal, Exit.void)
    }
  }
}
