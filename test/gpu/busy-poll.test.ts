import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BusyPoll } from '../../src/execute/gpu/busy-poll.ts'

const turn = () => new Promise<void>((r) => setImmediate(r))

test('BusyPoll spins every turn while busy and stops at the first turn it is not', async () => {
  let busy = true
  let asked = 0
  const poll = new BusyPoll(() => {
    asked++
    return busy
  })
  assert.equal(poll.active, false)
  poll.kick()
  poll.kick() // a second kick while spinning starts no second spin
  for (let i = 0; i < 5; i++) await turn()
  assert.equal(poll.active, true)
  // one question per turn: a doubled spin would ask twice as often
  assert.ok(asked >= 4 && asked <= 6, `asked ${asked} times in 5 turns`)
  busy = false
  await turn()
  await turn()
  assert.equal(poll.active, false)
  const after = asked
  await turn()
  assert.equal(asked, after, 'no polling once idle')
})

test('BusyPoll does not keep an idle process alive and starts again on the next kick', async () => {
  let busy = false
  const poll = new BusyPoll(() => busy)
  poll.kick()
  await turn()
  await turn()
  assert.equal(poll.active, false)
  busy = true
  poll.kick()
  await turn()
  assert.equal(poll.active, true)
  busy = false
  await turn()
  await turn()
  assert.equal(poll.active, false)
})
