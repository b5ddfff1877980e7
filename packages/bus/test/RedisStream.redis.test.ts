/**
 * The `RedisStream` contract on a real Redis (REDIS_URL, default redis://127.0.0.1:6379), on
 * wall-clock time. Keys live under a per-run unique prefix and are deleted by each scenario.
 */
import * as IoRedisStream from "../src/IoRedisStream.ts"
import * as RedisStream from "../src/RedisStream.ts"
import * as RedisStreamTest from "./contract/RedisStreamTest.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

RedisStreamTest.suite("redis", IoRedisStream.layer(RedisStream.options(redisUrl, uniquePrefix("redis-stream"))), {
  realTime: true
})
