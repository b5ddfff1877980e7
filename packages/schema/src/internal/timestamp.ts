// RFC 3339 profile of ISO 8601: a full date, a time with optional fraction, and `Z` or a numeric offset.
export const pattern =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/u

/**
 * Returns `true` when the date part of a pattern-valid timestamp names a real calendar day (no 30 February).
 * Reads the digits in place: it runs for every event consumed, and slicing allocated three strings each time.
 */
export const isCalendarDate = (s: string): boolean => {
  const year = digits(s, 0, 4)
  const month = digits(s, 5, 2)
  const day = digits(s, 8, 2)
  return day <= daysInMonth(year, month)
}

/** The number written by the `length` ASCII digits of `s` from `at` (the pattern has checked they are digits). */
const digits = (s: string, at: number, length: number): number => {
  let n = 0
  for (let i = at; i < at + length; i++) n = n * 10 + s.charCodeAt(i) - 48
  return n
}

const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeapYear(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31

const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
