/**
 * The `RedisStream` contract on the in-memory engine, with `TestClock` driving time.
 */
import * as RedisStream from "../src/RedisStream.ts"
import * as RedisStreamTest from "./contract/RedisStreamTest.ts"

RedisStreamTest.suite("memory", RedisStream.layerMemory, { realTime: false })
