// Request compression as Triton accepts it (Content-Encoding gzip / deflate, bounded once inflated) and one error
// shape, {"error": …}, for every 4xx/5xx the HTTP layer raises itself; a 414 or 404 does not echo a huge URL back.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib'
import type { EclipServer } from '../../src/serve/server.ts'
import { testServer, visionBody } from './helpers.ts'

const RESNET = '/v2/models/resnet152/infer'
const LIMIT = 2 * 1024 * 1024

describe('compressed bodies and the one error shape', { timeout: 60_000 }, () => {
  let s: EclipServer
  let url = ''
  before(async () => {
    s = await testServer([{ name: 'resnet152', model: 'resnet152', computeUs: 100 }], { maxBodyBytes: LIMIT })
    url = await s.listen(0, '127.0.0.1')
  })
  after(() => s.close())

  const send = (body: Buffer, enc: string) =>
    fetch(url + RESNET, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'content-encoding': enc },
    })
  const json = Buffer.from(JSON.stringify(visionBody(1)))

  for (const [enc, pack] of [
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['deflate', deflateRawSync],
  ] as const)
    it(`accepts a ${enc} body (${pack.name})`, async () => {
      const r = await send(pack(json), enc)
      assert.equal(r.status, 200, await r.text())
    })

  it('a body that inflates past the limit is a 413, however small it came', async () => {
    const bomb = gzipSync(Buffer.alloc(LIMIT * 4, 32))
    assert.ok(bomb.length < LIMIT / 100)
    const r = await send(bomb, 'gzip')
    assert.equal(r.status, 413)
    assert.match(
      ((await r.json()) as { error: string }).error,
      /decompressed request body is larger than the limit of 2097152 bytes/,
    )
  })

  it('bad compressed data is a 400, an unknown encoding a 415', async () => {
    const bad = await send(Buffer.from('not gzip at all'), 'gzip')
    assert.equal(bad.status, 400)
    assert.match(((await bad.json()) as { error: string }).error, /not valid gzip data/)
    const br = await send(json, 'br')
    assert.equal(br.status, 415)
    assert.match(((await br.json()) as { error: string }).error, /unsupported Content-Encoding "br"/)
  })

  it('the HTTP layer’s own errors have the {"error": …} shape and do not echo long URLs', async () => {
    const long = 'a'.repeat(5000)
    const cases: [string, number, RegExp][] = [
      [`/v2/models/${long}/ready`, 414, /URL path is too long/],
      ['/v2/models/%E0%A4%A/ready', 400, /not valid \(bad percent-encoding\)/],
      [`/nope/${long}`, 404, /no route GET \/nope\/a+… \(5006 characters\)/],
    ]
    for (const [path, status, msg] of cases) {
      const r = await fetch(url + path)
      const text = await r.text()
      assert.equal(r.status, status, text)
      const body = JSON.parse(text)
      assert.deepEqual(Object.keys(body), ['error'])
      assert.match(body.error, msg)
      assert.ok(!text.includes(long), 'the URL is not echoed whole')
    }
    const big = await fetch(url + RESNET, {
      method: 'POST',
      body: Buffer.alloc(LIMIT + 1, 32),
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(big.status, 413)
    assert.deepEqual(Object.keys((await big.json()) as object), ['error'])
  })
})
