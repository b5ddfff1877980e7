/**
 * The bus contract in application mode on a real Redis: every subscription reads its inbox
 * behind the application router.
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import * as Harness from "./fixtures/Harness.ts"

EventBusTest.suite("redis, routed", Harness.redisBackend(), { realTime: true, routed: true })
