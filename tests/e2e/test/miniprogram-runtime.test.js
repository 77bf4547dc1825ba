'use strict'
// The mini-program runtime itself (lib/miniprogram-runtime.js) keeps the platform's rules
// that the SDK and page tests rely on: https/wss only, legal domains only (recorded
// otherwise), DNS via `hosts` with TLS verified against the original name, `request`
// success for every status, SocketTask details, storage, setData. Against a small local
// https + wss server with the test CA; no Confab needed.

const assert = require('node:assert/strict')
const https = require('node:https')
const fs = require('node:fs')
const path = require('node:path')
const { before, after, describe, test } = require('node:test')
const { WebSocketServer } = require('ws')
const { createTestCa } = require('../lib/test-ca')
const { createRuntime, addQueryStringToUrl, ERR } = require('../lib/miniprogram-runtime')

let ca
let server
let port
const seen = []

before(async () => {
    ca = createTestCa()
    server = https.createServer({ cert: ca.cert, key: ca.key }, (req, res) => {
        const chunks = []
        req.on('data', (c) => chunks.push(c))
        req.on('end', () => {
            const body = Buffer.concat(chunks)
            seen.push({ method: req.method, url: req.url, headers: req.headers, body })
            if (req.url.startsWith('/json')) {
                res.writeHead(200, { 'Content-Type': 'application/json' })
                res.end(JSON.stringify({ ok: true, url: req.url }))
            } else if (req.url.startsWith('/missing')) {
                res.writeHead(404, { 'Content-Type': 'application/json' })
                res.end(JSON.stringify({ error: 'not_found' }))
            } else if (req.url.startsWith('/file.bin')) {
                res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
                res.end(Buffer.from([1, 2, 3, 4, 5]))
            } else if (req.url.startsWith('/upload')) {
                res.writeHead(200, { 'Content-Type': 'text/plain' })
                res.end(`got ${body.length} bytes; ${req.headers['content-type'].split(';')[0]}`)
            } else {
                res.writeHead(200, { 'Content-Type': 'text/plain' })
                res.end('plain text')
            }
        })
    })
    const wss = new WebSocketServer({ server })
    wss.on('connection', (socket, req) => {
        socket.upgradeHeaders = req.headers
        socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
    })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = server.address().port
})

after(() => {
    server.closeAllConnections()
    server.close()
    ca.cleanup()
})

function phone(platform = 'wx', options = {}) {
    return createRuntime({ platform, ca: ca.ca, hosts: { 'im.confab.test': `127.0.0.1:${port}`, 'evil.example': `127.0.0.1:${port}` }, ...options })
}

function call(api, name, options = {}) {
    return new Promise((resolve) => {
        api[name]({ ...options, success: (res) => resolve({ ok: true, res }), fail: (res) => resolve({ ok: false, res }) })
    })
}

describe('network rules', () => {
    test('request: https to a mapped name, TLS checked against the name; every status is success; JSON parsed', async () => {
        const rt = phone()
        const ok = await call(rt.api, 'request', { url: 'https://im.confab.test/json', method: 'POST', data: { a: 1 } })
        assert.equal(ok.ok, true, JSON.stringify(ok.res))
        assert.equal(ok.res.statusCode, 200)
        assert.deepEqual(ok.res.data, { ok: true, url: '/json' })
        assert.equal(ok.res.errMsg, 'request:ok')
        const last = seen[seen.length - 1]
        assert.equal(last.headers.host, 'im.confab.test')
        assert.equal(last.headers['content-type'], 'application/json')
        assert.match(last.headers.referer, /^https:\/\/servicewechat\.com\//)
        assert.equal(last.body.toString(), '{"a":1}')
        const missing = await call(rt.api, 'request', { url: 'https://im.confab.test/missing' })
        assert.equal(missing.ok, true)
        assert.equal(missing.res.statusCode, 404)
        assert.deepEqual(missing.res.data, { error: 'not_found' })
        const text = await call(rt.api, 'request', { url: 'https://localhost:' + port + '/text' })
        assert.equal(text.res.data, 'plain text')
        assert.deepEqual(rt.control.refused, [])
        rt.dispose()
    })

    test('GET data goes into the query the way the base library merges it', async () => {
        assert.equal(addQueryStringToUrl('https://h/p?app_key=org#app&_v=1', { app_key: 'org#app' }), 'https://h/p?app_key=org%23app&_v=1')
        const rt = phone()
        await call(rt.api, 'request', { url: 'https://im.confab.test/json?x=1', data: { y: 'a b', x: '2' } })
        assert.equal(seen[seen.length - 1].url, '/json?x=2&y=a%20b')
        rt.dispose()
    })

    test('http://, ws:// and hosts outside the domain list fail like the platform and are recorded', async () => {
        const rt = phone()
        const plain = await call(rt.api, 'request', { url: `http://127.0.0.1:${port}/json` })
        assert.deepEqual(plain, { ok: false, res: { errMsg: ERR.notInDomainList('request') } })
        const elsewhere = await call(rt.api, 'request', { url: 'https://data-reporting.agora.io/report' })
        assert.equal(elsewhere.ok, false)
        const socket = await call(rt.api, 'connectSocket', { url: `ws://127.0.0.1:${port}/websocket` })
        assert.deepEqual(socket, { ok: false, res: { errMsg: ERR.notInDomainList('connectSocket') } })
        assert.deepEqual(rt.control.refused.map((r) => `${r.api} ${r.url}`), [
            `request http://127.0.0.1:${port}/json`,
            'request https://data-reporting.agora.io/report',
            `connectSocket ws://127.0.0.1:${port}/websocket`,
        ])
        rt.dispose()
    })

    test('a mapped name the certificate does not cover fails TLS verification', async () => {
        const rt = phone()
        const res = await call(rt.api, 'request', { url: 'https://evil.example/json' })
        assert.equal(res.ok, false)
        assert.match(res.res.errMsg, /^request:fail ERR_TLS_CERT_ALTNAME_INVALID/)
        const untrusting = phone('wx', { ca: undefined })
        const res2 = await call(untrusting.api, 'request', { url: 'https://im.confab.test/json' })
        assert.equal(res2.ok, false, 'an unknown CA is refused')
        rt.dispose()
        untrusting.dispose()
    })

    test('uploadFile and downloadFile through the file system manager', async () => {
        const rt = phone('qq')
        const fsm = rt.api.getFileSystemManager()
        const file = `${rt.api.env.USER_DATA_PATH}/hello.txt`
        assert.equal(file, 'qqfile://usr/hello.txt')
        fsm.writeFileSync(file, 'hello world', 'utf8')
        const up = await call(rt.api, 'uploadFile', { url: 'https://im.confab.test/upload', filePath: file, name: 'file', formData: { k: 'v' } })
        assert.equal(up.ok, true, JSON.stringify(up.res))
        assert.match(up.res.data, /^got \d+ bytes; multipart\/form-data$/)
        const down = await call(rt.api, 'downloadFile', { url: 'https://im.confab.test/file.bin' })
        assert.equal(down.ok, true)
        assert.match(down.res.tempFilePath, /^qqfile:\/\/tmp\/[0-9a-f]+\.bin$/)
        const read = await call(fsm, 'readFile', { filePath: down.res.tempFilePath })
        assert.deepEqual(Array.from(new Uint8Array(read.res.data)), [1, 2, 3, 4, 5])
        rt.dispose()
    })
})

describe('SocketTask', () => {
    test('binary frames as ArrayBuffer; detached send/close; the errMsgs the SDK matches', async () => {
        const rt = phone()
        const task = rt.api.connectSocket({ url: 'wss://im.confab.test/websocket', header: { 'content-type': 'application/json' } })
        assert.equal(task.readyState, undefined, 'no readyState by default')
        const events = []
        task.onError((e) => events.push(['error', e]))
        task.onClose((e) => events.push(['close', e]))
        const early = await new Promise((resolve) => task.send({ data: new ArrayBuffer(1), fail: resolve }))
        assert.equal(early.errMsg, ERR.sendNotOpen)
        await new Promise((resolve) => task.onOpen(resolve))
        const message = new Promise((resolve) => task.onMessage(resolve))
        const { send, close } = { ...task } // the SDK copies the methods onto a plain object
        send({ data: new Uint8Array([7, 8, 9]).buffer })
        const got = await message
        assert.equal(Object.prototype.toString.call(got.data), '[object ArrayBuffer]')
        assert.deepEqual(Array.from(new Uint8Array(got.data)), [7, 8, 9])
        const typed = await new Promise((resolve) => send({ data: new Uint8Array([1]), fail: resolve }))
        assert.equal(typed.errMsg, ERR.sendBadData)
        close()
        await new Promise((resolve) => task.onClose(resolve))
        assert.deepEqual(events, [['close', { code: 1000, reason: '' }]])
        const late = await new Promise((resolve) => send({ data: new ArrayBuffer(1), fail: resolve }))
        assert.equal(late.errMsg, ERR.sendNoTask)
        rt.dispose()
    })

    test('hideApp drops sockets (error + abnormal close) and suspends the network until showApp', async () => {
        const rt = phone('qq')
        const hooks = []
        rt.api.onAppHide(() => hooks.push('hide'))
        rt.api.onAppShow(() => hooks.push('show'))
        const task = rt.api.connectSocket({ url: 'wss://im.confab.test/websocket' })
        await new Promise((resolve) => task.onOpen(resolve))
        const events = []
        task.onError((e) => events.push(['error', typeof e.errMsg]))
        const closed = new Promise((resolve) => task.onClose(resolve))
        await rt.control.hideApp()
        assert.deepEqual(await closed, { code: 1006, reason: 'abnormal closure' })
        assert.deepEqual(events, [['error', 'string']])
        const again = rt.api.connectSocket({ url: 'wss://im.confab.test/websocket' })
        const failed = await new Promise((resolve) => again.onClose(resolve))
        assert.equal(failed.code, 1006)
        rt.control.showApp()
        const third = rt.api.connectSocket({ url: 'wss://im.confab.test/websocket' })
        await new Promise((resolve) => third.onOpen(resolve))
        assert.deepEqual(hooks, ['hide', 'show'])
        rt.dispose()
    })
})

describe('app, page, storage', () => {
    test('App/Page/getApp, setData paths, template bindings, storage and toasts', async () => {
        const root = fs.mkdtempSync(path.join(ca.dir, 'mp-'))
        fs.mkdirSync(path.join(root, 'pages', 'home'), { recursive: true })
        fs.writeFileSync(path.join(root, 'app.json'), JSON.stringify({ pages: ['pages/home/home'] }))
        fs.writeFileSync(path.join(root, 'app.js'), "const c = require('./lib/c'); App({ globalData: { c, t: typeof window + typeof process + typeof wx + typeof qq } })")
        fs.mkdirSync(path.join(root, 'lib'))
        fs.writeFileSync(path.join(root, 'lib', 'c.js'), 'module.exports = 42')
        fs.writeFileSync(path.join(root, 'pages', 'home', 'home.js'), [
            'Page({',
            '  data: { a: { b: 1 }, list: [] },',
            '  onLoad() { this.setData({ "a.c": getApp().globalData.c, "list[1].x": "y" }) },',
            '  onName(e) { this.setData({ name: e.detail.value }) },',
            '  save() { wx.setStorageSync("k", { v: this.data.name }); wx.showToast({ title: "saved " + this.data.name, icon: "none" }); return "done" },',
            '})',
        ].join('\n'))
        fs.writeFileSync(path.join(root, 'pages', 'home', 'home.wxml'),
            '<input placeholder="Name" bindinput="onName" />\n<button bindtap="save">Save</button>\n<button bindtap="nowhere">Broken</button>')
        const rt = phone()
        const page = rt.launch({ root })
        assert.equal(rt.app.globalData.t, 'undefinedundefinedobjectundefined')
        assert.deepEqual(page.data.a, { b: 1, c: 42 })
        assert.equal(page.data.list.length, 2)
        assert.deepEqual(page.data.list[1], { x: 'y' })
        assert.deepEqual(rt.unboundHandlers(), ['nowhere'])
        rt.type('Name', 'leo')
        assert.equal(rt.tap('Save'), 'done')
        assert.deepEqual(rt.api.getStorageSync('k'), { v: 'leo' })
        assert.equal(rt.api.getStorageSync('missing'), '')
        assert.deepEqual(rt.control.toasts.map((t) => [t.title, t.icon]), [['saved leo', 'none']])
        assert.throws(() => rt.tap('Broken'), /nowhere, which the page does not define/)
        assert.equal(rt.api.canIUse('getFileSystemManager'), true)
        assert.equal(rt.api.canIUse('createCanvas'), false)
        rt.dispose()
    })
})
