/** What the router and the simulated provider read of an `@effect/ai` prompt. */
import type * as Prompt from "@effect/ai/Prompt"

/**
 * The text of a prompt: system instructions, every text part, and the tool
 * calls and tool results an agent's conversation carries (their JSON), which
 * the provider reads and bills as input too.
 */
export const promptText = (prompt: Prompt.Prompt): string => {
  const out: Array<string> = []
  for (const message of prompt.content) {
    if (typeof message.content === "string") out.push(message.content)
    else {
      for (const part of message.content) {
        if (part.type === "text" || part.type === "reasoning") out.push(part.text)
        else if (part.type === "tool-call") out.push(`${part.name} ${json(part.params)}`)
        else if (part.type === "tool-result") {
          out.push(typeof part.result === "string" ? part.result : json(part.result))
        }
      }
    }
  }
  return out.join("\n")
}

const json = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? ""
  } catch {
    return String(value)
  }
}

/** Whether a prompt holds an image (a file part of an `image/` media type): a call that needs `vision`. */
export const promptHasImage = (prompt: Prompt.Prompt): boolean =>
  prompt.content.some((message) =>
    typeof message.content !== "string" &&
    message.content.some((part) => part.type === "file" && part.mediaType.toLowerCase().startsWith("image/"))
  )
