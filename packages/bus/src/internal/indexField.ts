/**
 * The one encoding of index fields (`type`, `tenant` on stream entries; `type`, `tenantId` on DLQ
 * entries) and of the values compared with them. Redis stores text as UTF-8, where a lone UTF-16
 * surrogate cannot be written: the client sends U+FFFD instead, while the envelope's JSON escapes
 * it (`"\ud800"`) and keeps it. Writing and comparing every index value in its well-formed form
 * (lone surrogates as U+FFFD) makes the field, the envelope and a filter agree.
 */

/** `text` with every lone surrogate replaced by U+FFFD (`String.prototype.toWellFormed`). */
export const indexField = (text: string): string => {
  // Fast path: almost every value has no surrogate at all.
  if (!/[\uD800-\uDFFF]/.test(text)) return text
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += text[i]! + text[i + 1]!
        i++
        continue
      }
      out += "\uFFFD"
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      out += "\uFFFD"
    } else {
      out += text[i]!
    }
  }
  return out
}
