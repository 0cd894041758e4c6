// Items by priority (a lower number first), then in the order they came: a
// list per priority and a heap of the priorities present. Push, pop and
// remove cost O(1), plus O(log p) when a priority appears or empties (p: the
// priorities present, a handful in practice), where one heap of all items
// paid O(log n) for every task.
import { Heap } from "./heap.js"

export interface Bucket<T> {
  heapIndex: number
  readonly priority: number
  head: T | undefined
  tail: T | undefined
}

export interface Item<T> {
  readonly priority: number
  prev: T | undefined
  next: T | undefined
  /** The bucket holding it, while it is held. */
  bucket: Bucket<T> | undefined
}

export class Buckets<T extends Item<T>> {
  private readonly byPriority = new Map<number, Bucket<T>>()
  private readonly order = new Heap<Bucket<T>>((a, b) => a.priority < b.priority)
  private count = 0

  get size(): number {
    return this.count
  }

  peek(): T | undefined {
    return this.order.peek()?.head
  }

  push(item: T): void {
    let bucket = this.byPriority.get(item.priority)
    if (bucket === undefined) {
      bucket = { heapIndex: -1, priority: item.priority, head: undefined, tail: undefined }
      this.byPriority.set(item.priority, bucket)
      this.order.push(bucket)
    }
    item.bucket = bucket
    item.prev = bucket.tail
    item.next = undefined
    if (bucket.tail === undefined) bucket.head = item
    else bucket.tail.next = item
    bucket.tail = item
    this.count++
  }

  pop(): T | undefined {
    const head = this.peek()
    if (head !== undefined) this.remove(head)
    return head
  }

  remove(item: T): void {
    const bucket = item.bucket
    if (bucket === undefined) return
    if (item.prev === undefined) bucket.head = item.next
    else item.prev.next = item.next
    if (item.next === undefined) bucket.tail = item.prev
    else item.next.prev = item.prev
    item.prev = undefined
    item.next = undefined
    item.bucket = undefined
    this.count--
    if (bucket.head === undefined) {
      this.order.remove(bucket)
      this.byPriority.delete(bucket.priority)
    }
  }
}
