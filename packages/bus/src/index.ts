/**
 * @hyvve/bus: a typed, schema-first event bus for Effect over Redis Streams.
 *
 * @since 0.1.0
 */
export * as BusConfig from "./BusConfig.ts"
export * as Consumer from "./Consumer.ts"
export * as Correlation from "./Correlation.ts"
export * as Delivery from "./Delivery.ts"
export * as DeliveryLog from "./DeliveryLog.ts"
export * as Dlq from "./Dlq.ts"
export * as EventBus from "./EventBus.ts"
export * as EventStore from "./EventStore.ts"
export * as Groups from "./Groups.ts"
export * as Health from "./Health.ts"
export * as History from "./History.ts"
export * as IoRedisClusterStream from "./IoRedisClusterStream.ts"
export * as IoRedisStream from "./IoRedisStream.ts"
export * as Keys from "./Keys.ts"
export * as Metrics from "./Metrics.ts"
export * as Publisher from "./Publisher.ts"
export * as RedisStream from "./RedisStream.ts"
export * as Replay from "./Replay.ts"
export * as Retry from "./Retry.ts"
export * as Testing from "./Testing.ts"
export * as Topology from "./Topology.ts"

export { EventBusLive } from "./EventBus.ts"
