import * as Schema from "effect/Schema"

/** A reference to another entity by its id: a non-empty string, never the entity itself. */
export const Id = (description: string) => Schema.NonEmptyString.annotate({ description })

/** A confidence score from 0 to 100, inclusive. */
export const Confidence = (description: string) =>
  Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 100 })).annotate({ description })
