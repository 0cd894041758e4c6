// Paging of `list`, the same on every backend.

/** Orders, filters and pages checkpoints the same way on every in-process store. */
export const page = <A extends { readonly workflowId: string; readonly status: string; readonly name: string }>(
  all: Iterable<A>,
  query: { readonly status?: string; readonly name?: string; readonly cursor?: string; readonly limit?: number }
): { readonly items: ReadonlyArray<A>; readonly cursor?: string } => {
  const limit = clampLimit(query.limit)
  const items = [...all]
    .filter((c) =>
      (query.status === undefined || c.status === query.status) &&
      (query.name === undefined || c.name === query.name) &&
      (query.cursor === undefined || c.workflowId > query.cursor)
    )
    .sort((a, b) => (a.workflowId < b.workflowId ? -1 : a.workflowId > b.workflowId ? 1 : 0))
  const pageItems = items.slice(0, limit)
  return items.length > limit ? { items: pageItems, cursor: pageItems[pageItems.length - 1]!.workflowId } : {
    items: pageItems
  }
}

/** The page size: default 100, between 1 and 1000. */
export const clampLimit = (limit: number | undefined): number =>
  limit === undefined || !Number.isFinite(limit) ? 100 : Math.min(1000, Math.max(1, Math.floor(limit)))
