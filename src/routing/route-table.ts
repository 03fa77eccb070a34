/**
 * Routes this node has learned: for each destination, the path from this node to it (this node
 * first). Learned from discovery and successful routed calls, forgotten on failure, on expiry
 * (routes through gateways age out so a better one is looked for) and when the table is full
 * (least recently used first). Pure: no I/O. A lookup is one Map access.
 */
export class RouteTable {
  readonly #routes = new Map<string, { path: string[], expires: number }>()
  readonly #maxEntries: number
  readonly #ttl: number

  constructor (maxEntries: number, ttl: number) {
    this.#maxEntries = maxEntries
    this.#ttl = ttl
  }

  get (destination: string, now = Date.now()): string[] | undefined {
    const entry = this.#routes.get(destination)
    if (entry === undefined) return undefined
    if (entry.expires <= now) {
      this.#routes.delete(destination)
      return undefined
    }
    return entry.path
  }

  set (destination: string, path: string[], now = Date.now()): void {
    this.#routes.delete(destination)
    this.#routes.set(destination, { path, expires: now + this.#ttl })
    if (this.#routes.size > this.#maxEntries) {
      const oldest = this.#routes.keys().next().value
      if (oldest !== undefined) this.#routes.delete(oldest)
    }
  }

  delete (destination: string): void {
    this.#routes.delete(destination)
  }

  entries (): Array<{ destination: string, path: string[], expires: number }> {
    return [...this.#routes].map(([destination, e]) => ({ destination, path: e.path, expires: e.expires }))
  }
}
