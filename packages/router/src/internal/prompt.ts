/** What the router and the simulated provider read of an `@effect/ai` prompt. */
import type * as Prompt from "@effect/ai/Prompt"

/** The text of a prompt: system instructions and every text part. */
export const promptText = (prompt: Prompt.Prompt): string => {
  const out: Array<string> = []
  for (const message of prompt.content) {
    if (typeof message.content === "string") out.push(message.content)
    else {
      for (const part of message.content) {
        if (part.type === "text" || part.type === "reasoning") out.push(part.text)
      }
    }
  }
  return out.join("\n")
}

/** Whether a prompt holds an image (a file part of an `image/` media type): a call that needs `vision`. */
export const promptHasImage = (prompt: Prompt.Prompt): boolean =>
  prompt.content.some((message) =>
    typeof message.content !== "string" &&
    message.content.some((part) => part.type === "file" && part.mediaType.toLowerCase().startsWith("image/"))
  )
