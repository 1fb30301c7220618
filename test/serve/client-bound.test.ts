// serve-bench's note on a closed-loop worker held short of its bench rate outside the server's queue
// (src/serve-bench/vs-bench.ts clientBoundNotes): served well under the bench with almost nothing queued in the server.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ServeRun } from '../../src/formats/index.ts'
import { clientBoundNotes } from '../../src/serve-bench/vs-bench.ts'

const worker = (name: string, servedVsBench: number | null, queueUs: number | null, meanUs: number) => ({
  name,
  servedVsBench,
  serverQueueUs: queueUs,
  latencyUs: { mean: meanUs },
})
const run = (workers: ReturnType<typeof worker>[]) => ({ concurrency: 4, workers }) as unknown as ServeRun

describe('serve-bench: a worker held short of its bench rate outside the server’s queue', () => {
  it('is named when it served under 0.9 of its bench with under a tenth of its time queued in the server', () => {
    const notes = clientBoundNotes(
      run([
        worker('alexnet#0', 0.31, 65, 12_000), // the clients' round trip: a note
        worker('resnet152#0', 2.4, 6_900, 35_000), // above its bench
        worker('vgg19#0', 0.7, 4_000, 20_000), // short, but its requests waited in the server: the server's limit
        worker('albert#0', 0.5, null, 9_000), // no server times (an external server): nothing to say
      ]),
    )
    assert.equal(notes.length, 1)
    assert.match(
      notes[0] ?? '',
      /^alexnet#0: 0\.31 of its bench rate, its requests queued in the server 65 µs of their 12000 µs at the client: .* more than 4 clients per model \(--concurrency\) raise it, without them the host path is the bound$/,
    )
  })

  it('says nothing for a worker at 0.9 of its bench or more, or without a bench rate', () => {
    assert.deepEqual(clientBoundNotes(run([worker('a', 0.9, 10, 10_000), worker('b', null, 10, 10_000)])), [])
  })
})
