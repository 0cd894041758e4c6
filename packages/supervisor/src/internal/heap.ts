/** A binary heap whose items know their index, so any item can be removed or re-sorted in O(log n). */
export interface HeapItem {
  heapIndex: number
}

export class Heap<T extends HeapItem> {
  private readonly items: Array<T> = []
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item
  }

  push(item: T): void {
    item.heapIndex = this.items.length
    this.items.push(item)
    this.up(item.heapIndex)
  }

  pop(): T | undefined {
    const top = this.items[0]
    if (top !== undefined) this.remove(top)
    return top
  }

  remove(item: T): void {
    if (!this.has(item)) return
    const index = item.heapIndex
    const last = this.items.pop()!
    item.heapIndex = -1
    if (last !== item) {
      this.items[index] = last
      last.heapIndex = index
      this.update(last)
    }
  }

  /** Re-sorts an item whose key changed. */
  update(item: T): void {
    if (!this.has(item)) return
    this.down(this.up(item.heapIndex))
  }

  private up(start: number): number {
    const items = this.items
    let index = start
    const item = items[index]!
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex]!
      if (!this.before(item, parent)) break
      items[index] = parent
      parent.heapIndex = index
      index = parentIndex
    }
    items[index] = item
    item.heapIndex = index
    return index
  }

  private down(start: number): void {
    const items = this.items
    const length = items.length
    let index = start
    const item = items[index]!
    for (;;) {
      const left = 2 * index + 1
      if (left >= length) break
      const right = left + 1
      const child = right < length && this.before(items[right]!, items[left]!) ? right : left
      if (!this.before(items[child]!, item)) break
      items[index] = items[child]!
      items[index]!.heapIndex = index
      index = child
    }
    items[index] = item
    item.heapIndex = index
  }
}
