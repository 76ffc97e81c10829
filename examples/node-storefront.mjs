// A tiny storefront on plain node:http serving recommendations and chat from the shopml binding.
//
//   cd node-bindings && npm install && npm run build && cd ..
//   node examples/node-storefront.mjs            # http://localhost:8080
//   curl localhost:8080/recommendations/17850
//   curl -XPOST localhost:8080/chat -d '{"conversation":"c1","customer":"17850","text":"where is my order?"}'
//
// Training (ALS on the shipped Online Retail data) and the assistant's setup run off the event loop;
// each request is a synchronous call of a few microseconds.
import http from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const { Recommender, Assistant } = require('../node-bindings/index.js')
const datasets = join(dirname(fileURLToPath(import.meta.url)), '..', 'datasets')

export async function createStorefront() {
  const [model, bot] = await Promise.all([
    Recommender.train(join(datasets, 'online-retail', 'online_retail.csv.gz'), { model: 'als' }, 'online-retail'),
    Assistant.create({ datasets }),
  ])
  const send = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  return http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost')
    const reco = url.pathname.match(/^\/recommendations\/([^/]+)$/)
    if (req.method === 'GET' && reco) {
      try {
        const k = Number(url.searchParams.get('k') ?? 10)
        const { ids, scores } = model.recommend(decodeURIComponent(reco[1]), k)
        return send(res, 200, ids.map((id, i) => ({ id, score: scores[i] })))
      } catch (e) {
        return send(res, e.code === 'InvalidArg' ? 400 : 500, { error: e.message })
      }
    }
    if (req.method === 'POST' && url.pathname === '/chat') {
      let body = ''
      req.on('data', (c) => { body += c; if (body.length > 1e6) req.destroy() })
      req.on('end', () => {
        try {
          const { conversation, text, customer } = JSON.parse(body)
          if (typeof conversation !== 'string' || typeof text !== 'string') {
            return send(res, 400, { error: 'conversation and text must be strings' })
          }
          return send(res, 200, bot.reply(conversation, text, customer == null ? undefined : String(customer)))
        } catch (e) {
          return send(res, 400, { error: e.message })
        }
      })
      return
    }
    send(res, 404, { error: 'not found' })
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080)
  const server = await createStorefront()
  server.listen(port, () => console.log(`shopml storefront on http://localhost:${port}`))
}
