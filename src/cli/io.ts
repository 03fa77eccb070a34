/** What a CLI command may touch of its process, passed in so commands stay testable. */
export interface Io {
  /** Writes one line to standard output. */
  out: (line: string) => void
  /** Writes one line to standard error. */
  err: (line: string) => void
  env: NodeJS.ProcessEnv
  /** Directory relative paths (key files, modules) are resolved against. */
  cwd: string
  /** Resolves with the name of the first SIGINT or SIGTERM the process gets. */
  stopSignal: () => Promise<string>
}
