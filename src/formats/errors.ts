// Errors a user can fix (a bad file, a bad flag) are shown as one line and exit 2, with no stack trace.
export class UserError extends Error {
  override name = 'UserError'
  readonly exitCode: number = 2
}

/** A file that does not match its format: names the file, the field path and the reason. */
export class FormatError extends UserError {
  override name = 'FormatError'
  constructor(
    readonly file: string,
    readonly problems: { path: string; reason: string }[],
  ) {
    const shown = problems.slice(0, 5).map((p) => `  ${p.path || '/'}: ${p.reason}`)
    const more = problems.length > 5 ? [`  … and ${problems.length - 5} more`] : []
    super([`${file}: not a valid file`, ...shown, ...more].join('\n'))
  }
}
