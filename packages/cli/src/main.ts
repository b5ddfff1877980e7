/**
 * The `hyvve` executable: runs `Cli.command` with the process's arguments on Node. The Node
 * modules are imported one by one (not the package index) to keep the start-up short.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { command } from "./Cli.ts"

command.pipe(Command.run({ version: "0.1.0" }), Effect.provide(NodeServices.layer), NodeRuntime.runMain)
