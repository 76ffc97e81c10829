import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createStorefront } from '../../examples/node-storefront.mjs'

test('the example storefront serves recommendations and chat', async () => {
  const server = await createStorefront()
  await new Promise((r) => server.listen(0, r))
  const base = `http://127.0.0.1:${server.address().port}`
  try {
    const recs = await (await fetch(`${base}/recommendations/17850?k=5`)).json()
    assert.equal(recs.length, 5)
    assert.equal((await fetch(`${base}/recommendations/17850?k=0`)).status, 400)
    const chat = await fetch(`${base}/chat`, { method: 'POST', body: JSON.stringify({ conversation: 'c', customer: 17850, text: 'where is my order?' }) })
    assert.equal((await chat.json()).action.kind, 'ask_slot')
    assert.equal((await fetch(`${base}/chat`, { method: 'POST', body: '{' })).status, 400)
  } finally {
    server.close()
  }
})
