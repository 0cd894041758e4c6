// Consolidation's merge of an added memory into the live one it matches:
// importance the higher, metadata merged (the added memory's keys win), the
// floor the higher, and an expiry only when both expire (the later one).
// Access statistics, text, type, key and group stay the stored memory's.
// Stores apply it inside their write (under the team's lock) to the memory
// as stored, so two processes merging at once both keep their merge.
import type { Memory } from "../Memory.js"

export const mergeMemory = (stored: Memory, added: Memory): Memory => {
  const { expiresAt: _expiresAt, ...kept } = stored
  return {
    ...kept,
    importance: Math.max(stored.importance, added.importance),
    metadata: { ...stored.metadata, ...added.metadata },
    ...(added.floor === undefined && stored.floor === undefined
      ? {}
      : { floor: Math.max(stored.floor ?? 0, added.floor ?? 0) }),
    ...(stored.expiresAt === undefined || added.expiresAt === undefined
      ? {}
      : { expiresAt: Math.max(stored.expiresAt, added.expiresAt) })
  }
}
