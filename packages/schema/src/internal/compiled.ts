/**
 * Turns on Effect's JIT schema compiler for the schemas the bus runs for every event: the envelope header and each
 * event type's payload codecs. A compiled parser returns exactly what the interpreter returns (same values, same
 * issues) at about half the cost per envelope; where `new Function` is blocked (a strict CSP, some edge runtimes)
 * Effect keeps the interpreter, so nothing else changes.
 *
 * Scoped to our own ASTs (`SchemaJITCompiler.enable(ast)`), not the global side-effect import: an application's
 * other schemas keep whatever mode it chose. It must run before the parser is built, because a parser captures its
 * compiled or interpreted form when it is created.
 */
import type * as Schema from "effect/Schema"
import { SchemaJITCompiler } from "effect/schema"
import * as SchemaAST from "effect/SchemaAST"

/** Compiles `schema`'s decoding side; returns it unchanged, so it reads inline where the parser is built. */
export const forDecoding = <S extends Schema.Top>(schema: S): S => {
  SchemaJITCompiler.enable(schema.ast)
  return schema
}

/** Compiles `schema`'s encoding side (the flipped AST `Schema.encodeUnknownExit` runs). */
export const forEncoding = <S extends Schema.Top>(schema: S): S => {
  SchemaJITCompiler.enable(SchemaAST.flip(schema.ast))
  return schema
}
