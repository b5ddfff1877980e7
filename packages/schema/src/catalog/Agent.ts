/**
 * Agent run events: a run starts, then completes or fails, and may stop to ask a human for confirmation. The NestJS
 * bus's names are aliases: `agent.run.completed`, `agent.confirmation.requested`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as EventType from "../EventType.ts"
import { Id } from "../internal/fields.ts"

/**
 * Validates the payload of `agent.started`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const AgentRunStartedPayload = Schema.Struct({
  runId: Id("The agent run"),
  agentId: Id("The agent"),
  workspaceId: Id("Workspace the run works in"),
  trigger: Schema.Literals(["manual", "event", "schedule"]).annotate({ description: "What started the run" }),
  triggerEventId: Schema.optionalKey(Id("Event that started the run, when trigger is \"event\""))
}).annotate({ title: "AgentRunStartedPayload", description: "An agent run started" })

/**
 * Represents the payload of `agent.started`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type AgentRunStartedPayload = typeof AgentRunStartedPayload.Type

/**
 * Validates the payload of `agent.completed`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const AgentRunCompletedPayload = Schema.Struct({
  runId: Id("The agent run"),
  agentId: Id("The agent"),
  durationMs: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
    description: "Wall time of the run in milliseconds"
  }),
  outcome: Schema.Literals(["success", "partial", "no_op"]).annotate({
    description: `"partial" when some steps were skipped, "no_op" when there was nothing to do`
  }),
  tokensUsed: Schema.optionalKey(
    Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({ description: "Model tokens spent by the run" })
  )
}).annotate({ title: "AgentRunCompletedPayload", description: "An agent run finished" })

/**
 * Represents the payload of `agent.completed`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type AgentRunCompletedPayload = typeof AgentRunCompletedPayload.Type

/**
 * Validates the payload of `agent.error`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const AgentRunErrorPayload = Schema.Struct({
  runId: Id("The agent run"),
  agentId: Id("The agent"),
  errorCode: Schema.NonEmptyString.annotate({ description: `Machine-readable error code, e.g. "tool_timeout"` }),
  retryable: Schema.Boolean.annotate({ description: "Whether running the agent again may succeed" }),
  durationMs: Schema.optionalKey(
    Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
      description: "Wall time until the failure in milliseconds"
    })
  )
}).annotate({ title: "AgentRunErrorPayload", description: "An agent run failed" })

/**
 * Represents the payload of `agent.error`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type AgentRunErrorPayload = typeof AgentRunErrorPayload.Type

/**
 * Validates the payload of `agent.confirmation_requested`.
 *
 * @category payloads
 * @since 0.1.0
 */
export const AgentConfirmationPayload = Schema.Struct({
  runId: Id("The waiting agent run"),
  agentId: Id("The agent"),
  confirmationId: Id("The confirmation request"),
  action: Schema.NonEmptyString.annotate({
    description: `What the agent wants to do, e.g. "send_campaign"`
  }),
  approvalId: Schema.optionalKey(Id("Approval item opened for the confirmation, if any"))
}).annotate({ title: "AgentConfirmationPayload", description: "An agent paused for a human to confirm an action" })

/**
 * Represents the payload of `agent.confirmation_requested`.
 *
 * @category payloads
 * @since 0.1.0
 */
export type AgentConfirmationPayload = typeof AgentConfirmationPayload.Type

/**
 * Defines `agent.started`: an agent run started.
 *
 * @category events
 * @since 0.1.0
 */
export const AgentStarted = EventType.make("agent.started", AgentRunStartedPayload, {
  description: "An agent run started"
})

/**
 * Defines `agent.completed`: an agent run finished. Also read under the NestJS name `agent.run.completed`.
 *
 * @category events
 * @since 0.1.0
 */
export const AgentCompleted = EventType.make("agent.completed", AgentRunCompletedPayload, {
  description: "An agent run finished",
  // The NestJS bus's name (tech spec `EventTypes.AGENT_RUN_COMPLETED`).
  aliases: ["agent.run.completed"]
})

/**
 * Defines `agent.error`: an agent run failed.
 *
 * @category events
 * @since 0.1.0
 */
export const AgentError = EventType.make("agent.error", AgentRunErrorPayload, {
  description: "An agent run failed"
})

/**
 * Defines `agent.confirmation_requested`: an agent paused for a human to confirm an action. Also read under the
 * NestJS name `agent.confirmation.requested`.
 *
 * @category events
 * @since 0.1.0
 */
export const AgentConfirmationRequested = EventType.make("agent.confirmation_requested", AgentConfirmationPayload, {
  description: "An agent paused for a human to confirm an action",
  // The NestJS bus's name (tech spec `EventTypes.AGENT_CONFIRMATION_REQUESTED`).
  aliases: ["agent.confirmation.requested"]
})
