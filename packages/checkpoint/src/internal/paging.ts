// Paging of `list`, the same on every backend: the query checked once, then
// ordered and paged by workflow id with a keyset cursor.
import * as Effect from "effect/Effect"
import type { ListOrder, ListQuery } from "../Checkpoint.js"
import { InvalidInput } from "../Errors.js"

/** A checked `ListQuery`: the order resolved and the limit clamped. */
export interface Query {
  readonly status?: string
  readonly name?: string
  readonly cursor?: string
  readonly limit: number
  readonly order: ListOrder
}

/**
 * Checks a query as every backend must: `order` is absent, `"asc"` or
 * `"desc"`, and `cursor` is absent or a string; else `InvalidInput`.
 */
export const check = (query: ListQuery = {}): Effect.Effect<Query, InvalidInput> => {
  // The query may come from untyped input (JSON, JavaScript): check what it holds.
  const order: unknown = query.order
  const cursor: unknown = query.cursor
  if (order !== undefined && order !== "asc" && order !== "desc") {
    return Effect.fail(
      new InvalidInput({ message: `list: order must be "asc" or "desc", got ${describe(order)}` })
    )
  }
  if (cursor !== undefined && typeof cursor !== "string") {
    return Effect.fail(new InvalidInput({ message: `list: cursor must be a string, got ${describe(cursor)}` }))
  }
  return Effect.succeed({
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(query.name === undefined ? {} : { name: query.name }),
    ...(cursor === undefined ? {} : { cursor }),
    limit: clampLimit(query.limit),
    order: order ?? "asc"
  })
}

const describe = (value: unknown): string => {
  try {
    return typeof value === "string" ? JSON.stringify(value) : `${typeof value} ${String(JSON.stringify(value))}`
  } catch {
    return typeof value
  }
}

/** Orders, filters and pages checkpoints the same way on every in-process store. */
export const page = <A extends { readonly workflowId: string; readonly status: string; readonly name: string }>(
  all: Iterable<A>,
  query: Query
): { readonly items: ReadonlyArray<A>; readonly cursor?: string } => {
  const { cursor, limit } = query
  const desc = query.order === "desc"
  const items = [...all]
    .filter((c) =>
      (query.status === undefined || c.status === query.status) &&
      (query.name === undefined || c.name === query.name) &&
      (cursor === undefined || (desc ? compareIds(c.workflowId, cursor) < 0 : compareIds(c.workflowId, cursor) > 0))
    )
    .sort((a, b) => desc ? compareIds(b.workflowId, a.workflowId) : compareIds(a.workflowId, b.workflowId))
  const pageItems = items.slice(0, limit)
  return items.length > limit ? { items: pageItems, cursor: pageItems[pageItems.length - 1]!.workflowId } : {
    items: pageItems
  }
}

/**
 * Compares ids bytewise in UTF-8, i.e. by code point, as SQLite and
 * Postgres (`COLLATE "C"`) order them. JavaScript's `<` compares UTF-16 code
 * units, which puts a character above U+FFFF (a surrogate pair,
 * 0xD800–0xDFFF) before U+E000–U+FFFF: those two ranges are swapped here.
 */
export const compareIds = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

const codePointRank = (unit: number): number => unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit

/** The page size: default 100, between 1 and 1000. */
export const clampLimit = (limit: number | undefined): number =>
  limit === undefined || !Number.isFinite(limit) ? 100 : Math.min(1000, Math.max(1, Math.floor(limit)))
