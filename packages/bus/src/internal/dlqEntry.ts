/**
 * The layout of a dead-letter entry, written in this one place (by the settlement) and read here
 * (by `Dlq`).
 *
 * The first three fields are the NestJS bus's own layout, which its dashboard reads by position:
 * `event` (the envelope JSON), `error` (the message as plain text), `movedAt` (ISO 8601). Ours
 * follow: `errorTag`, `group`, `stream`, `originalEntryId`, `attempts`, `firstFailedAt`,
 * `lastFailedAt` (ISO 8601), then `type`, `tenantId` and `eventId` when known.
 *
 * Three layouts are read: this one; the one of `@hyvve/bus` 0.1 (`group` first, `error` as JSON);
 * and entries the NestJS bus wrote itself (`event`, `error`, `movedAt` only), which name no group.
 */
import { Envelope } from "@hyvve/schema"
import { Exit, Schema } from "effect"
import type * as RedisStream from "../RedisStream.ts"
import * as Retry from "../Retry.ts"
import { indexField } from "./indexField.ts"

/** What a dead-letter entry records. */
export interface DeadLetter {
  readonly event: string
  readonly error: Retry.FailureInfo
  readonly movedAt: number
  readonly group: string
  readonly stream: string
  readonly originalEntryId: string
  readonly attempts: number
  readonly firstFailedAt: number
  readonly lastFailedAt: number
  readonly type: string | undefined
  readonly tenantId: string | undefined
  readonly eventId: string | undefined
}

/** The entry fields of a dead letter, in the order described above. */
export const encode = (letter: DeadLetter): RedisStream.Fields => {
  const fields: Record<string, string> = {
    event: letter.event,
    error: letter.error.message,
    movedAt: iso(letter.movedAt),
    errorTag: letter.error.tag,
    group: letter.group,
    stream: letter.stream,
    originalEntryId: letter.originalEntryId,
    attempts: String(letter.attempts),
    firstFailedAt: iso(letter.firstFailedAt),
    lastFailedAt: iso(letter.lastFailedAt)
  }
  if (letter.type !== undefined) fields["type"] = indexField(letter.type)
  if (letter.tenantId !== undefined) fields["tenantId"] = indexField(letter.tenantId)
  if (letter.eventId !== undefined) fields["eventId"] = letter.eventId
  return fields
}

/** A dead letter as read back: what the NestJS bus wrote lacks our fields. */
export interface Decoded {
  readonly id: string
  readonly origin: "hyvve" | "nestjs"
  readonly event: string
  readonly error: Retry.FailureInfo
  readonly movedAt: string
  readonly group: string | undefined
  readonly stream: string | undefined
  readonly originalEntryId: string | undefined
  readonly attempts: number | undefined
  readonly firstFailedAt: string | undefined
  readonly lastFailedAt: string | undefined
  readonly type: string | undefined
  readonly tenantId: string | undefined
  readonly eventId: string | undefined
}

const decodeFailureInfo = Schema.decodeUnknownOption(Schema.fromJsonString(Retry.FailureInfo))

/** Reads any of the three layouts; undefined for an entry that is none of them. */
export const decode = (entry: RedisStream.Entry): Decoded | undefined => {
  const f = entry.fields
  const event = f["event"]
  const rawError = f["error"]
  if (event === undefined || rawError === undefined) return undefined
  const group = f["group"]
  let error: Retry.FailureInfo
  if (f["errorTag"] !== undefined) {
    error = { tag: f["errorTag"], message: rawError }
  } else if (group !== undefined) {
    // 0.1 layout: the error as JSON.
    const parsed = decodeFailureInfo(rawError)
    error = parsed._tag === "Some" ? parsed.value : { tag: "Error", message: rawError }
  } else {
    error = { tag: "Error", message: rawError }
  }
  const origin = group === undefined ? "nestjs" : "hyvve"
  // The NestJS entry carries no index fields: read them from the envelope when it decodes.
  const envelope = origin === "nestjs" ? Envelope.decodeJson(event) : undefined
  const fromEnvelope = envelope !== undefined && Exit.isSuccess(envelope) ? envelope.value : undefined
  const attempts = f["attempts"] === undefined ? undefined : Number(f["attempts"])
  return {
    id: entry.id,
    origin,
    event,
    error,
    movedAt: f["movedAt"] ?? idTime(entry.id),
    group,
    stream: f["stream"],
    originalEntryId: f["originalEntryId"],
    attempts: attempts !== undefined && Number.isSafeInteger(attempts) ? attempts : undefined,
    firstFailedAt: f["firstFailedAt"],
    lastFailedAt: f["lastFailedAt"],
    type: f["type"] ?? fromEnvelope?.type,
    tenantId: f["tenantId"] ?? (fromEnvelope === undefined ? undefined : indexField(fromEnvelope.tenantId)),
    eventId: f["eventId"] ?? fromEnvelope?.id
  }
}

const iso = (millis: number): string => new Date(millis).toISOString()

/** The time part of a stream id, as ISO 8601 (an entry without `movedAt`). */
const idTime = (id: string): string => iso(Number(id.slice(0, id.indexOf("-"))))
