// A request refused before its body is read (its model's queue full: 429; its JSON over maxJsonBytes: 413) must
// reach clients that write their whole body before reading the answer, as Python's http.client and tritonclient do:
// a server that closes the connection under a body still arriving resets it, and such a client sees a broken pipe
// instead of the answer. Within the body limit the body is read and dropped; only a body over it closes.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { EclipServer } from '../../src/serve/server.ts'
import { albertBody, post, testServer, unreadBody } from './helpers.ts'

const PY = `
import collections, http.client, json, sys
port, path, n, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seen = collections.Counter()
conn = http.client.HTTPConnection('127.0.0.1', port)
for _ in range(count):
    try:
        conn.request('POST', path, body=b' ' * n, headers={'content-type': 'application/json'})
        r = conn.getresponse()
        body = r.read()
        seen[f"{r.status} {json.loads(body)['error'][:20]}"] += 1
    except Exception as e:
        seen[type(e).__name__] += 1
        conn.close()
        conn = http.client.HTTPConnection('127.0.0.1', port)
print(json.dumps(seen))
`
const python = process.env.ECLIP_PYTHON ?? 'python3'
async function wholeBodies(url: URL, path: string, bytes: number, count: number) {
  const { stdout } = await promisify(execFile)(python, [
    '-c',
    PY,
    url.port,
    path,
    String(bytes),
    String(count),
  ])
  return JSON.parse(stdout) as Record<string, number>
}

describe('serve: answers sent before the body is read reach clients that send it whole', () => {
  let s: EclipServer
  let url: URL
  let accepted: Promise<unknown>[]
  before(async () => {
    s = await testServer(
      [
        { name: 'albert', model: 'albert', computeUs: 20_000_000, queueSize: 1, maxDynamicBatch: 1 },
        { name: 'vgg19', model: 'vgg19', computeUs: 100 },
      ],
      { maxJsonBytes: 256 * 1024, maxBodyBytes: 16 * 2 ** 20 },
    )
    url = new URL(await s.listen(0, '127.0.0.1'))
    accepted = [0, 1].map(() => post(s, '/v2/models/albert/infer', albertBody()))
    while (s.workers.get('albert')?.pending() !== 2) await new Promise((r) => setTimeout(r, 5))
  })
  after(async () => {
    await s.close()
    await Promise.allSettled(accepted)
  })

  it('429 for a full queue, 8-MB bodies, five on one kept-alive connection', async () => {
    assert.deepEqual(await wholeBodies(url, '/v2/models/albert/infer', 8 * 2 ** 20, 5), {
      '429 model "albert": queu': 5,
    })
  })

  it('413 for JSON over maxJsonBytes, 8-MB bodies', async () => {
    assert.deepEqual(await wholeBodies(url, '/v2/models/vgg19/infer', 8 * 2 ** 20, 5), {
      "413 the request's JSON i": 5,
    })
  })

  it('a body over the body limit closes the connection', async () => {
    const answer = await unreadBody(url, '/v2/models/albert/infer', 32 * 2 ** 20)
    assert.match(answer, /^HTTP\/1\.1 429/)
    assert.match(answer, /connection: close/i)
  })
})
