/**
 * Sorted arrays of strings kept in code-unit order (the order of `<` on
 * strings, which is byte order for the ASCII ids AgentOS generates): the
 * in-memory indexes that let memory stores page by key like SQL's
 * `ORDER BY id` without sorting on every call.
 *
 * @since 0.2.0
 */

/**
 * The first index whose element is not less than `value` (the array's length
 * when every element is less).
 *
 * @since 0.2.0
 */
export const lowerBound = (sorted: ReadonlyArray<string>, value: string): number => {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (sorted[mid]! < value) low = mid + 1
    else high = mid
  }
  return low
}

/**
 * Inserts `value` in order unless it is there already; whether it inserted.
 *
 * @since 0.2.0
 */
export const insert = (sorted: Array<string>, value: string): boolean => {
  const at = lowerBound(sorted, value)
  if (sorted[at] === value) return false
  sorted.splice(at, 0, value)
  return true
}

/**
 * Removes `value` if present; whether it removed.
 *
 * @since 0.2.0
 */
export const remove = (sorted: Array<string>, value: string): boolean => {
  const at = lowerBound(sorted, value)
  if (sorted[at] !== value) return false
  sorted.splice(at, 1)
  return true
}
