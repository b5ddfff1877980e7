/**
 * The bus contract on a real Redis (shared server, unique key prefixes, short real durations),
 * then what only a real server can show: an outage the consumer sees.
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import { redisBackend } from "./fixtures/Harness.ts"

EventBusTest.suite("redis", redisBackend(), { realTime: true })
