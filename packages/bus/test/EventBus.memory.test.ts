/**
 * The bus contract on the in-memory backend: `TestClock` drives every delay, claim and retry.
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import { memoryBackend } from "./fixtures/Harness.ts"

EventBusTest.suite("memory", memoryBackend, { realTime: false })
