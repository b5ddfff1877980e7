/**
 * The handlers of the `replay` group: the bus's `Replay` service behind the API, with the
 * principal's role and tenant applied and every start, cancel and resume audited.
 */
import { BusConfig, Replay } from "@hyvve/bus"
import type { EventError } from "@hyvve/schema"
import { Clock, Effect, Stream } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import {
  AdminApi,
  Conflict,
  Forbidden,
  InvalidRequest,
  NotFound,
  Principal,
  type PrincipalInfo,
  ReplayJob,
  type ReplayProgress,
  Unavailable
} from "../AdminApi.ts"
import * as Audit from "../Audit.ts"
import * as Auth from "../Auth.ts"

/** The API's view of `Replay.Progress` (no `undefined` values on the wire). */
export const toProgress = (progress: Replay.Progress): ReplayProgress => {
  const { etaMs, ...rest } = progress
  return etaMs === undefined ? rest : { ...rest, etaMs }
}

/** A job with its progress at `now`. */
export const view = (job: Replay.Job, now: number): ReplayJob => new ReplayJob({ job, progress: toProgress(Replay.progressOf(job, now)) })

const viewNow = (job: Replay.Job) => Effect.map(Clock.currentTimeMillis, (now) => view(job, now))

const unavailable = (error: Replay.ReplayError) => new Unavailable({ message: error.message })

// Which request field an `InvalidReplay` is about.
const fieldOf = (error: Replay.InvalidReplay): string => {
  switch (error.reason) {
    case "Range":
      return "from"
    case "UnknownType":
      return "types"
    case "UnknownGroup":
      return "group"
    case "Target":
      return "target"
    case "Option":
      return error.detail.startsWith("rate") ? "rate" : "batchSize"
    case "Topology":
      // The server's stream layout, not the request, is what the replay cannot handle.
      return "topology"
  }
}

const invalid = (error: Replay.InvalidReplay | EventError.InvalidPattern) =>
  error._tag === "InvalidPattern"
    ? new InvalidRequest({ field: "pattern", message: error.message })
    : new InvalidRequest({ field: fieldOf(error), message: error.message })

const notFound = (error: Replay.JobNotFound) => new NotFound({ message: error.message, id: error.jobId })

/** A job the principal may see: 404 when there is none, 403 when it is another tenant's (or every tenant's). */
const visibleJob = (replay: Replay.Replay["Service"], principal: PrincipalInfo, jobId: string) =>
  replay.get(jobId).pipe(
    Effect.catchTags({
      JobNotFound: (error) => Effect.fail(notFound(error)),
      RedisStreamError: (error) => Effect.fail(unavailable(error)),
      EventStoreError: (error) => Effect.fail(unavailable(error))
    }),
    Effect.flatMap((job) =>
      Auth.sees(principal, job.tenantId)
        ? Effect.succeed(job)
        : Effect.fail(new Forbidden({ message: `replay job ${jobId} is outside this token's tenant` }))
    )
  )

/**
 * The `replay` group's handlers. Progress events are read every 250 ms and sent when they change.
 */
export const layer = HttpApiBuilder.group(AdminApi, "replay", (handlers) =>
  Effect.gen(function*() {
    const replay = yield* Replay.Replay
    const settings = yield* BusConfig.BusConfig
    const audit = yield* Audit.Audit
    const storeErrors = {
      RedisStreamError: (error: Replay.ReplayError) => Effect.fail(unavailable(error)),
      EventStoreError: (error: Replay.ReplayError) => Effect.fail(unavailable(error))
    }
    return handlers
      .handle("start", ({ payload }) =>
        Effect.gen(function*() {
          const principal = yield* Auth.requireMutate
          const tenantId = yield* Auth.scopeTenant(payload.tenant)
          const filters = { ...payload, ...(tenantId === undefined ? {} : { tenant: tenantId }) }
          const jobId = yield* Audit.audited(
            audit,
            { principal, action: "replay.start", target: payload.group ?? "(matching groups)", filters },
            replay.start({
              from: payload.from,
              to: payload.to,
              types: payload.types,
              pattern: payload.pattern,
              tenantId,
              target: payload.group === undefined ? Replay.matching : Replay.group(payload.group),
              batchSize: payload.batchSize,
              rate: payload.rate,
              actor: principal.id,
              catalog: settings.catalog
            }).pipe(
              Effect.catchTags({
                InvalidReplay: (error) => Effect.fail(invalid(error)),
                InvalidPattern: (error) => Effect.fail(invalid(error)),
                ...storeErrors
              })
            ),
            (jobId) => ({ detail: `started ${jobId}` })
          )
          return yield* replay.get(jobId).pipe(
            Effect.catchTags({ JobNotFound: (error) => Effect.fail(notFound(error)), ...storeErrors }),
            Effect.flatMap(viewNow),
            // The job was started: a failure to read it back must not read as a failed start.
            Effect.catch((error) => Effect.fail(new Unavailable({ message: `replay ${jobId} started; reading it failed: ${error.message}` })))
          )
        }))
      .handle("list", ({ query }) =>
        Effect.gen(function*() {
          const principal = yield* Principal
          const jobs = yield* replay.list(query.limit ?? 50).pipe(Effect.mapError(unavailable))
          return yield* Effect.forEach(jobs.filter((job) => Auth.sees(principal, job.tenantId)), viewNow)
        }))
      .handle("get", ({ params }) => Effect.flatMap(Principal, (principal) => Effect.flatMap(visibleJob(replay, principal, params.jobId), viewNow)))
      .handle("progress", ({ params }) =>
        Effect.gen(function*() {
          yield* visibleJob(replay, yield* Principal, params.jobId)
          // Ends with the job's final status; a store or Redis failure mid-way ends the stream.
          return replay.progress(params.jobId, { interval: "250 millis" }).pipe(
            Stream.map(toProgress),
            Stream.catchCause(() => Stream.empty)
          )
        }))
      .handle("cancel", ({ params }) =>
        Effect.gen(function*() {
          const principal = yield* Auth.requireMutate
          yield* visibleJob(replay, principal, params.jobId)
          const job = yield* Audit.audited(
            audit,
            { principal, action: "replay.cancel", target: params.jobId },
            replay.cancel(params.jobId, { actor: principal.id }).pipe(
              Effect.catchTags({ JobNotFound: (error) => Effect.fail(notFound(error)), ...storeErrors })
            ),
            (job) => ({ detail: `${job.status} at ${job.cursor}`, count: job.replayed })
          )
          return yield* viewNow(job)
        }))
      .handle("resume", ({ params }) =>
        Effect.gen(function*() {
          const principal = yield* Auth.requireMutate
          yield* visibleJob(replay, principal, params.jobId)
          yield* Audit.audited(
            audit,
            { principal, action: "replay.resume", target: params.jobId },
            replay.resume(params.jobId, { actor: principal.id }).pipe(
              Effect.catchTags({
                JobNotFound: (error) => Effect.fail(notFound(error)),
                JobAlreadyRunning: (error) => Effect.fail(new Conflict({ message: error.message })),
                JobFinished: (error) => Effect.fail(new Conflict({ message: error.message })),
                InvalidReplay: (error) => Effect.fail(invalid(error)),
                ...storeErrors
              })
            ),
            () => ({ detail: "resumed" })
          )
          return yield* visibleJob(replay, principal, params.jobId).pipe(Effect.flatMap(viewNow))
        }))
  }))
