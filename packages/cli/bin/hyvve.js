#!/usr/bin/env node
// The package's own entry: its TypeScript source inside the workspace (the "@hyvve/source"
// condition), the build once installed.
import "@hyvve/cli/main"
