/**
 * The bus contract in application mode on the in-memory backend: every subscription reads its
 * inbox behind the application router (`TestClock` drives every delay, claim and retry).
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import { memoryBackend } from "./fixtures/Harness.ts"

EventBusTest.suite("memory, routed", memoryBackend, { realTime: false, routed: true })
