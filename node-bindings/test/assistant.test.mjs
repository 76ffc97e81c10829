import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Assistant } = require('../index.js')

test('the assistant answers over the demo store, bad messages included', async () => {
  const bot = await Assistant.create()
  let r = bot.reply('n1', 'do you have a hart shaped t-light holder under 5 pounds?', '17850')
  assert.equal(r.intent, 'search_product')
  assert.match(r.text.toUpperCase(), /HEART/)
  r = bot.reply('n1', 'where is my order?', '17850')
  assert.equal(r.action.kind, 'ask_slot')
  for (const text of ['', '   ', 'x'.repeat(100000), '🙂', '¿dónde está mi pedido?', 'a\u0000b']) {
    assert.ok(bot.reply('n2', text).text.length > 0)
  }
  assert.throws(() => bot.reply('n2', 42), (e) => e instanceof Error && typeof e.code === 'string')
})
