/** Matches one segment of an event name or pattern. */
export const segment = /^[a-z0-9_]+$/

/** Matches an event name: at least two dot-separated segments. */
export const eventName = /^[a-z0-9_]+(?:\.[a-z0-9_]+)+$/
