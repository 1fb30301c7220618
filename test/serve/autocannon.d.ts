// The part of autocannon's API the load driver uses (the package ships no types).
declare module 'autocannon' {
  interface Request {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
  }
  interface Options {
    url: string
    connections?: number
    overallRate?: number
    duration?: number
    timeout?: number
    requests?: Request[]
    setupClient?: (client: {
      on: (event: 'response', f: (status: number, bytes: number, ms: number) => void) => void
    }) => void
  }
  interface Result {
    errors: number
    timeouts: number
    non2xx: number
    requests: { average: number; total: number }
    latency: Record<string, number>
  }
  export default function autocannon(opts: Options): Promise<Result>
}
