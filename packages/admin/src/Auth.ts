/**
 * Who may call the admin API. A `Verifier` turns a bearer token into a principal (a role and an
 * optional tenant scope): `layerTokens` from configured tokens (`HYVVE_ADMIN_TOKENS`), or any
 * verifier of your own (a JWT check against your identity provider is one `Layer.succeed(Verifier,
 * ...)`). `layer` is the server side of the API's `Authorization` middleware; `layerClient` is the
 * client side (the CLI, tests).
 *
 * Roles: `admin` and `owner` read and mutate, `viewer` reads. `require*` helpers decide per call:
 * 403 without the role, 403 outside the principal's tenant.
 *
 * @since 0.1.0
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { HttpClientRequest } from "effect/http"
import { HttpApiMiddleware } from "effect/http-api"
import { Authorization, canMutate, Forbidden, Principal, PrincipalInfo, type Role, Unauthorized } from "./AdminApi.ts"

/**
 * Turns a bearer token into a principal; `None` rejects it (401).
 *
 * @category services
 * @since 0.1.0
 */
export class Verifier extends Context.Service<Verifier, {
  readonly verify: (token: Redacted.Redacted<string>) => Effect.Effect<Option.Option<PrincipalInfo>>
}>()("@hyvve/admin/Auth/Verifier") {}

/**
 * A configured token and the principal it stands for.
 *
 * @category models
 * @since 0.1.0
 */
export interface TokenGrant {
  readonly token: Redacted.Redacted<string>
  readonly role: Role
  readonly tenantId?: string | undefined
  /** A name for logs and the audit trail; defaults to the role and the token's hash prefix. */
  readonly id?: string | undefined
}

const digest = (value: string) => createHash("sha256").update(value).digest()

/**
 * A verifier over a fixed set of tokens (compared in constant time, by their SHA-256).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromTokens = (grants: ReadonlyArray<TokenGrant>): Verifier["Service"] => {
  const table = grants.map((grant) => {
    const hash = digest(Redacted.value(grant.token))
    const id = grant.id ?? `${grant.role}:${hash.toString("hex").slice(0, 8)}`
    return {
      hash,
      principal: new PrincipalInfo({
        id,
        role: grant.role,
        ...(grant.tenantId === undefined ? {} : { tenantId: grant.tenantId })
      })
    }
  })
  return Verifier.of({
    verify: (token) =>
      Effect.sync(() => {
        const hash = digest(Redacted.value(token))
        let found: PrincipalInfo | undefined
        for (const row of table) if (timingSafeEqual(row.hash, hash)) found = row.principal
        return Option.fromUndefinedOr(found)
      })
  })
}

/**
 * Parses `HYVVE_ADMIN_TOKENS`-style text: comma-separated `token:role` or `token:role:tenant`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parseTokens = (text: string): Array<TokenGrant> | string => {
  const grants: Array<TokenGrant> = []
  for (const [index, item] of text.split(",").map((s) => s.trim()).filter((s) => s.length > 0).entries()) {
    const [token, role, tenantId, ...rest] = item.split(":")
    if (token === undefined || token.length < 8 || rest.length > 0) {
      return `item ${index + 1}: expected token:role or token:role:tenant with a token of at least 8 characters`
    }
    if (role !== "admin" && role !== "owner" && role !== "viewer") {
      return `item ${index + 1}: role must be admin, owner or viewer`
    }
    grants.push({ token: Redacted.make(token), role, tenantId: tenantId === "" ? undefined : tenantId })
  }
  return grants
}

/**
 * The verifier over the given tokens.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTokens = (grants: ReadonlyArray<TokenGrant>): Layer.Layer<Verifier> =>
  Layer.succeed(Verifier, fromTokens(grants))

/**
 * `HYVVE_ADMIN_TOKENS` does not parse; the message names the item and what was expected.
 *
 * @category errors
 * @since 0.1.0
 */
export class TokensInvalid extends Schema.TaggedError<TokensInvalid>("@hyvve/admin/Auth/TokensInvalid")(
  "TokensInvalid",
  { message: Schema.String }
) {}

/**
 * The verifier over `HYVVE_ADMIN_TOKENS` (see `parseTokens`); fails with a `ConfigError` naming
 * the variable when it is missing or malformed.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTokensFromEnv: Layer.Layer<Verifier, Config.ConfigError | TokensInvalid> = Layer.effect(
  Verifier,
  Effect.gen(function*() {
    const text = yield* Config.Redacted("HYVVE_ADMIN_TOKENS")
    const grants = parseTokens(Redacted.value(text))
    if (typeof grants === "string") {
      return yield* new TokensInvalid({ message: `HYVVE_ADMIN_TOKENS is invalid: ${grants}` })
    }
    return fromTokens(grants)
  })
)

/**
 * The server side of the `Authorization` middleware: a token the verifier rejects is 401.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Authorization, never, Verifier> = Layer.effect(
  Authorization,
  Effect.gen(function*() {
    const verifier = yield* Verifier
    return Authorization.of({
      bearer: Effect.fn(function*(httpEffect, { credential }) {
        const principal = yield* verifier.verify(credential)
        if (Option.isNone(principal)) return yield* new Unauthorized({ message: "missing or invalid bearer token" })
        return yield* Effect.provideService(httpEffect, Principal, principal.value)
      })
    })
  })
)

/**
 * The client side: sends `token` as the bearer token.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (token: string) =>
  HttpApiMiddleware.layerClient(Authorization, ({ next, request }) => next(HttpClientRequest.bearerToken(request, token)))

/**
 * Fails with 403 unless the principal may mutate (admin, owner).
 *
 * @category guards
 * @since 0.1.0
 */
export const requireMutate: Effect.Effect<PrincipalInfo, Forbidden, Principal> = Effect.flatMap(
  Principal,
  (principal) =>
    canMutate(principal.role)
      ? Effect.succeed(principal)
      : Effect.fail(new Forbidden({ message: `role ${principal.role} may not change state (admin or owner required)` }))
)

/**
 * The tenant a principal's request is confined to: its own scope. Asking for another tenant is
 * 403; an unscoped principal may ask for any tenant (or none: all of them).
 *
 * @category guards
 * @since 0.1.0
 */
export const scopeTenant = (requested: string | undefined): Effect.Effect<string | undefined, Forbidden, Principal> =>
  Effect.flatMap(Principal, (principal) => {
    if (principal.tenantId === undefined) return Effect.succeed(requested)
    if (requested !== undefined && requested !== principal.tenantId) {
      return Effect.fail(new Forbidden({ message: `outside tenant scope: this token is limited to its own tenant` }))
    }
    return Effect.succeed(principal.tenantId)
  })

/**
 * Whether the principal may see something belonging to `tenantId`.
 *
 * @category guards
 * @since 0.1.0
 */
export const sees = (principal: PrincipalInfo, tenantId: string | undefined): boolean =>
  principal.tenantId === undefined || principal.tenantId === tenantId
