/**
 * The replay marker of entries copied by the server (`RedisStream.copyForReplay`).
 *
 * Those copies keep the envelope as published and name the job in the entry's `replay` field:
 * building a marked copy of every envelope inside the script cost about a quarter of the
 * server's time per replayed event. Whoever turns such an entry back into an event gives it the
 * marker here, so handlers and the DLQ see the same marker whichever way the event was copied.
 * An envelope that already carries a marker keeps it (the server never copies those; Node writes
 * them with the marker of the job that replays them).
 */
import type { Envelope } from "@hyvve/schema"

/** The envelope with the marker of `job` (the entry's `replay` field) when it has none yet. */
export const marked = (raw: Envelope.Raw, job: string | undefined): Envelope.Raw =>
  job === undefined || raw.replay !== undefined ? raw : { ...raw, replay: { jobId: job, originalEventId: raw.id } }

/**
 * The envelope text with the marker of `job` spliced in, for a text whose envelope decoded with
 * id `eventId` and has no marker; undefined when there is nothing to add or the text cannot be
 * spliced exactly (no closing brace, or characters that stand for bytes that were not UTF-8: the
 * caller then keeps the bytes as they are).
 */
export const markedText = (text: string, job: string | undefined, eventId: string | undefined): string | undefined =>
  job === undefined || eventId === undefined || !text.endsWith("}") || text.includes(`"replay"`) || text.includes("\uFFFD") ?
    undefined :
    `${text.slice(0, -1)},"replay":{"jobId":${JSON.stringify(job)},"originalEventId":${JSON.stringify(eventId)}}}`
