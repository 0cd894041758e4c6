import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { type Bucket, Buckets } from "../src/internal/buckets.js"

interface Item {
  readonly priority: number
  readonly seq: number
  prev: Item | undefined
  next: Item | undefined
  bucket: Bucket<Item> | undefined
}

const Op = FastCheck.oneof(
  FastCheck.record({ _tag: FastCheck.constant("push" as const), priority: FastCheck.integer({ min: -2, max: 3 }) }),
  FastCheck.record({ _tag: FastCheck.constant("pop" as const) }),
  FastCheck.record({ _tag: FastCheck.constant("remove" as const), pick: FastCheck.nat() })
)

describe("Buckets", () => {
  it.prop(
    "pops by priority (lower first), then arrival, like a sorted list; remove takes any item out",
    [FastCheck.array(Op, { maxLength: 200 })],
    ([ops]) => {
      const buckets = new Buckets<Item>()
      let held: Array<Item> = []
      let seq = 0
      const sorted = () => [...held].sort((a, b) => a.priority - b.priority || a.seq - b.seq)
      for (const op of ops) {
        if (op._tag === "push") {
          const item: Item = { priority: op.priority, seq: ++seq, prev: undefined, next: undefined, bucket: undefined }
          buckets.push(item)
          held.push(item)
        } else if (op._tag === "pop") {
          assert.strictEqual(buckets.pop(), sorted()[0])
          held = sorted().slice(1)
        } else if (held.length > 0) {
          const item = held[op.pick % held.length]!
          buckets.remove(item)
          buckets.remove(item) // a second remove does nothing
          held = held.filter((other) => other !== item)
        }
        assert.strictEqual(buckets.size, held.length)
        assert.strictEqual(buckets.peek(), sorted()[0])
      }
    }
  )
})
