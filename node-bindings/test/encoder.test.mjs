import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { Encoder, EncoderIntentClassifier } = require('../index.js')

// all-MiniLM-L6-v2 from scripts/fetch-minilm (scripts/test runs it); fails loudly without it
const encoder = Encoder.load()

test('embed gives one unit Float32Array per text that ranks paraphrases', () => {
  const v = encoder.embed(['where is my order?', 'track my package', 'the weather is lovely'])
  assert.equal(v.length, 3)
  assert.ok(v[0] instanceof Float32Array)
  assert.equal(v[0].length, encoder.dim)
  assert.equal(encoder.dim, 384)
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0)
  assert.ok(Math.abs(dot(v[0], v[0]) - 1) < 1e-4)
  assert.ok(dot(v[0], v[1]) > dot(v[0], v[2]) + 0.2)
  assert.deepEqual(encoder.embed([]), [])
  assert.throws(() => encoder.embed('one string'), (e) => e instanceof Error)
  assert.throws(() => Encoder.load(mkdtempSync(join(tmpdir(), 'enc-'))), /config\.json/)
})

test('the encoder intent classifier trains off the loop, classifies and round-trips', async () => {
  const texts = ['where is my order', 'has my parcel shipped', 'when will my order arrive',
    'i want my money back', 'please refund me', 'how do i get a refund', 'hello', 'hi there', 'good morning']
  const labels = ['track', 'track', 'track', 'refund', 'refund', 'refund', 'greeting', 'greeting', 'greeting']
  const clf = await EncoderIntentClassifier.train(encoder, texts, labels, {
    valTexts: ["where's my package", 'refund my payment', 'hey'],
    valLabels: ['track', 'refund', 'greeting'],
    tuneLayers: 1,
    epochs: 2
  })
  assert.deepEqual(clf.labels, ['greeting', 'refund', 'track'])
  const r = clf.classify('reimburse the payment')
  assert.equal(r.label, 'refund')
  const path = join(mkdtempSync(join(tmpdir(), 'enc-')), 'intent.model')
  clf.save(path)
  assert.deepEqual(EncoderIntentClassifier.load(path, encoder).classify('reimburse the payment'), r)
  assert.throws(() => EncoderIntentClassifier.train(encoder, ['a'], ['x', 'y']), /InvalidInput/)
})
