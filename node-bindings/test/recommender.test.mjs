import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Recommender } = require('../index.js')
const here = dirname(fileURLToPath(import.meta.url))
const fixtures = join(here, '..', '..', 'reco-core', 'tests', 'fixtures')

// Three tea shoppers (items 0-5), three garden shoppers (items 6-11).
const baskets = { 100: [0, 1, 2, 3], 101: [1, 2, 3, 4], 102: [0, 2, 4, 5], 200: [6, 7, 8, 9], 201: [7, 8, 9, 10], 202: [6, 8, 10, 11] }
const users = Object.entries(baskets).flatMap(([u, items]) => items.map(() => Number(u)))
const items = Object.values(baskets).flat()
const info = Array.from({ length: 12 }, (_, i) => ({ id: i, category: i < 6 ? 'tea' : 'garden', price: i + 1 }))

test('train runs off the event loop', async () => {
  // 60k interactions: the fit takes far longer than one turn of the event loop.
  const n = 60000
  const bigUsers = Array.from({ length: n }, (_, i) => (i * 7919) % 3000)
  const bigItems = Array.from({ length: n }, (_, i) => (i * 104729) % 2000)
  let settled = false
  const pending = Recommender.train({ users: bigUsers, items: bigItems }, { model: 'als', params: { iterations: 5 } })
  pending.then(() => { settled = true })
  await new Promise((r) => setImmediate(r))
  assert.equal(settled, false, 'the event loop turned while the model trained')
  const model = await pending
  assert.ok(model.nItems > 0)
})

test('train recommends with filters', async () => {
  const model = await Recommender.train({ users, items }, { model: 'itemknn', items: info })
  const { ids, scores } = model.recommend(100, 2)
  assert.ok(scores instanceof Float32Array)
  assert.equal(ids.length, 2)
  assert.ok(ids.every((id) => Number(id) < 6 && !baskets[100].includes(Number(id))))
  const garden = model.recommend('100', 12, { categories: ['garden'], exclude: [6], outOfStock: ['7'] })
  assert.ok(garden.ids.length > 0 && garden.ids.every((id) => Number(id) >= 8))
  const priced = model.recommend(100, 12, { excludeSeen: false, minPrice: 2.5, maxPrice: 4.5 })
  assert.deepEqual([...priced.ids].sort(), ['2', '3'])
  assert.ok(model.similarItems(0, 3).ids.every((id) => Number(id) < 6))
  assert.ok(model.recommendItems([6, 7], 3).ids.every((id) => Number(id) >= 6))
  assert.equal(model.nItems, 12)
})

test('save and load give identical lists; parity with Rust and Python', async () => {
  const model = await Recommender.train({ users, items }, { model: 'als', params: { factors: 8, iterations: 5 } })
  const dir = mkdtempSync(join(tmpdir(), 'shopml-'))
  model.save(join(dir, 'm.shopml'))
  const back = Recommender.load(join(dir, 'm.shopml'))
  for (const u of Object.keys(baskets)) {
    const a = model.recommend(u, 5)
    const b = back.recommend(u, 5)
    assert.deepEqual(a.ids, b.ids)
    assert.deepEqual([...a.scores], [...b.scores])
  }
  const expected = JSON.parse(readFileSync(join(fixtures, 'parity-top10.json'), 'utf8'))
  for (const [name, lists] of Object.entries(expected)) {
    const m = Recommender.load(join(fixtures, `shop-${name}-v1.shopml`))
    for (const [user, want] of Object.entries(lists)) {
      const got = m.recommend(user, 10)
      assert.deepEqual(got.ids, want.map(([id]) => id), `${name} ${user}`)
      want.forEach(([, s], i) => assert.ok(Math.abs(got.scores[i] - s) <= 1e-6 * Math.max(1, Math.abs(s))))
    }
  }
})

test('evaluate resolves metrics', async () => {
  const r = await Recommender.evaluate({ users, items }, { model: 'itemknn' }, 'loo-full', 5)
  assert.equal(r.users, 6)
  assert.ok(r.hr >= r.ndcg && r.hr <= 1)
})

test('bad input throws JS errors with a code, never crashes', async () => {
  const model = await Recommender.train({ users, items }, { model: 'itemknn' })
  const throwsCode = (fn, code, re) => assert.throws(fn, (e) => e instanceof Error && e.code === code && re.test(e.message))
  throwsCode(() => model.recommend(100, 0), 'InvalidArg', /k: must be a positive integer/)
  throwsCode(() => model.recommend(100, -3), 'InvalidArg', /k/)
  throwsCode(() => model.recommend(100, NaN), 'InvalidArg', /k/)
  throwsCode(() => model.recommend(-1), 'InvalidArg', /non-negative integer/)
  throwsCode(() => model.recommend(1.5), 'InvalidArg', /non-negative integer/)
  assert.throws(() => model.recommend({ not: 'an id' }), (e) => e instanceof Error && typeof e.code === 'string')
  assert.throws(() => model.recommend(null), (e) => e instanceof Error && typeof e.code === 'string')
  assert.equal(model.recommend(100, 1e15).ids.length, 8) // huge k: everything that passes the filter
  throwsCode(() => model.similarItems(999), 'InvalidArg', /UnknownId: unknown item/)
  throwsCode(() => model.recommend(100, 5, { minPrice: 5, maxPrice: 1 }), 'InvalidArg', /max_price/)
  await assert.rejects(Recommender.train({ users: [1, 2], items: [1] }), (e) => e.code === 'InvalidArg' && /entries/.test(e.message))
  await assert.rejects(Recommender.train({ users: [1], items: [1], weights: [NaN] }), (e) => e.code === 'InvalidArg' && /weight/.test(e.message))
  await assert.rejects(Recommender.train({ users: [], items: [] }), (e) => e.code === 'InvalidArg' && /empty/.test(e.message))
  await assert.rejects(Recommender.train({ users: ['a', ''], items: ['x', 'y'] }), (e) => e.code === 'InvalidArg' && /must not be empty/.test(e.message))
  await assert.rejects(Recommender.train({ users: ['a'], items: ['x'] }, { items: [{ id: 'x', price: -1 }] }), (e) => e.code === 'InvalidArg' && /items\[0\].*price/.test(e.message))
  await assert.rejects(Recommender.train({ users, items }, { model: 'svd' }), (e) => e.code === 'InvalidArg')
  await assert.rejects(Recommender.train({ users, items }, { params: { factorz: 3 } }), (e) => /valid: factors/.test(e.message))
  throwsCode(() => Recommender.load('/no/such/model.shopml'), 'GenericFailure', /^Io: \/no\/such/)
  const dir = mkdtempSync(join(tmpdir(), 'shopml-'))
  writeFileSync(join(dir, 'bad.shopml'), 'SHOPMLRC garbage')
  throwsCode(() => Recommender.load(join(dir, 'bad.shopml')), 'GenericFailure', /^FileFormat:/)
  model.close()
  throwsCode(() => model.recommend(100), 'GenericFailure', /^Closed:/)
})

test('sequential models: recommendNext in order, live events change the next answer', async () => {
  // 48 shoppers walk a ring of 12 products in order.
  const ring = { users: [], items: [], timestamps: [] }
  for (let u = 0; u < 48; u++) {
    for (let t = 0; t < 6; t++) {
      ring.users.push(u)
      ring.items.push((u + t) % 12)
      ring.timestamps.push(t)
    }
  }
  const fusion = { model: 'fusion', params: { a: 'sknn', b: 'transition', weight: 0.5 } }
  for (const options of [{ model: 'transition' }, { model: 'sknn' }, fusion]) {
    const m = await Recommender.train(ring, options)
    assert.deepEqual(m.recommendNext([3, 4], 1).ids, ['5'])
    assert.deepEqual(m.recommendNext([3, 999, 4], 1).ids, ['5'])
    assert.equal(m.recommendNext([], 3).ids.length, 3)
    assert.throws(() => m.recommendNext([3], 0), /InvalidInput/)
    assert.deepEqual(m.recommend(0, 1).ids, ['6'])
    m.recordEvent(0, 9)
    assert.deepEqual(m.liveEvents(0), ['9'])
    assert.deepEqual(m.recommend(0, 1).ids, ['10'])
    m.forget(0)
    assert.deepEqual(m.recommend(0, 1).ids, ['6'])
  }
})
