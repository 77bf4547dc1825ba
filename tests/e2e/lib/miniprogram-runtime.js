'use strict'
// A mini-program runtime on Node: the `wx` (WeChat) or `qq` (QQ) object, `App()`/`Page()`,
// a mini-program module system, and the platform's rules for the network. The SDK's
// mini-program build and the example pages run on it unmodified; only the platform is
// provided here.
//
// Each runtime is one phone: its own storage, sockets, app and page, and its own copy of
// every module it loads (the SDK detects its platform at module load, so every runtime
// evaluates the bundle afresh). Modules are compiled as functions whose parameters are the
// mini-program globals (`wx` or `qq`, `App`, `Page`, `getApp`, …), so several runtimes of
// either platform can live in one process and nothing is installed on `globalThis`.
// Browser/Node globals a mini program does not have (`window`, `document`, `navigator`,
// `localStorage`, `WebSocket`, `XMLHttpRequest`, `process`) are shadowed as undefined.
//
// Network, as on the device:
// - only `https://` (request, uploadFile, downloadFile) and `wss://` (connectSocket) URLs;
// - only "legal domains": loopback names and the names in the `hosts` map, which acts as
//   DNS (name → 127.0.0.1:port) while TLS is still verified against the original name
//   (SNI + certificate check) with the `ca` given. Everything else fails like the
//   platform's domain check and is recorded in `control.refused` (tests assert it is empty);
// - `request` succeeds for every HTTP status and fails only on network errors; GET `data`
//   is merged into the query string the way the WeChat base library does it
//   (`addQueryStringToUrl`: existing keys parsed, `data` values URI-encoded and overriding);
// - SocketTask: `onOpen/onMessage/onClose/onError/send/close`, binary frames in and out as
//   `ArrayBuffer`, methods that work when called detached from the task (the SDK copies
//   them onto a plain object), no `readyState` unless `socketTaskReadyState: true`, the
//   send errMsgs the SDK matches (`SocketTast.send:fail SocketTask.readyState is not OPEN`,
//   sic, and `sendSocketMessage:fail taskID not exist`), at most 5 sockets at a time.
//
// Control (`runtime.control`): `hideApp()` (the app goes to the background: hide hooks,
// then the platform drops every socket and suspends the network until `showApp()`),
// `showApp()`, `setNetwork(bool)`, and the records `calls`, `refused`, `toasts`, `errors`
// (exceptions thrown by app code in callbacks), `logs` (the mini program's console).
//
// The texts of platform errors the SDK does not look at (socket abort, suspended network)
// are this runtime's; only their presence matters to the code under test.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const vm = require('node:vm')
const net = require('node:net')
const tls = require('node:tls')
const https = require('node:https')
const crypto = require('node:crypto')
const util = require('node:util')
const WebSocket = require('ws')

const PLATFORMS = {
    wx: {
        global: 'wx',
        fileScheme: 'wxfile',
        template: '.wxml',
        style: '.wxss',
        referer: (appId) => `https://servicewechat.com/${appId}/devtools/page-frame.html`,
        userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40(0x18002831) NetType/WIFI Language/zh_CN miniProgram',
        systemInfo: { brand: 'devtools', model: 'iPhone 14', version: '8.0.40', SDKVersion: '3.3.4', platform: 'devtools' },
    },
    qq: {
        global: 'qq',
        fileScheme: 'qqfile',
        template: '.qml',
        style: '.qss',
        referer: (appId) => `https://appservice.qq.com/${appId}/devtools/page-frame.html`,
        userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 QQ/8.9.80.614 V1_IPH_SQ_8.9.80_1_APP_A Pixel/1170 MiniAppEnable SimpleUISwitch/0 StudyMode/0 CurrentMode/0 CurrentFontScale/1.000000 QQTheme/1000 Core/WKWebView Device/Apple(iPhone 14) NetType/WIFI QBWebViewType/1 WKType/1 miniProgram',
        systemInfo: { brand: 'devtools', model: 'iPhone 14', version: '8.9.80', SDKVersion: '1.60.0', platform: 'devtools' },
    },
}

const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3
const MAX_SOCKETS = 5

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

// Globals of a browser or of Node that a mini program does not have.
const SHADOWED_GLOBALS = ['window', 'self', 'document', 'navigator', 'localStorage', 'WebSocket', 'XMLHttpRequest', 'process']

const ERR = {
    notInDomainList: (api) => `${api}:fail url not in domain list`,
    invalidUrl: (api, url) => `${api}:fail invalid url "${url}"`,
    sendNotOpen: 'SocketTast.send:fail SocketTask.readyState is not OPEN',
    sendNoTask: 'sendSocketMessage:fail taskID not exist',
    sendBadData: 'sendSocketMessage:fail parameter error: parameter.data should be String/ArrayBuffer',
    closeBadCode: 'closeSocket:fail The code must be either 1000, or between 3000 and 4999',
    tooManySockets: 'connectSocket:fail exceed max task count',
    socketAborted: 'connection aborted by the platform (app in background or network lost)',
    suspended: (api) => `${api}:fail network suspended (app in background)`,
    offline: (api) => `${api}:fail network unavailable`,
    timeout: (api) => `${api}:fail timeout`,
    aborted: (api) => `${api}:fail abort`,
}

function isArrayBuffer(value) {
    return Object.prototype.toString.call(value) === '[object ArrayBuffer]'
}

function toArrayBuffer(buffer) {
    if (isArrayBuffer(buffer)) return buffer
    return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
}

function clone(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value))
}

// The WeChat base library's query merging for GET `data` (the logic of its
// `addQueryStringToUrl`): the URL's own query is parsed into a map, `data`'s keys and values
// are URI-encoded and override it, and the map is written back in insertion order.
function addQueryStringToUrl(url, data) {
    if (typeof url !== 'string' || !data || typeof data !== 'object' || Object.keys(data).length === 0) return url
    const parts = url.split('?')
    const query = {}
    for (const pair of (parts[1] || '').split('&')) {
        if (pair.length === 0) continue
        const [key, value] = pair.split('=')
        query[key] = value
    }
    for (const [key, value] of Object.entries(data)) {
        query[encodeURIComponent(key)] = encodeURIComponent(typeof value === 'object' ? JSON.stringify(value) : value)
    }
    return `${parts[0]}?${Object.entries(query).map(([k, v]) => `${k}=${v}`).join('&')}`
}

// 'a.b[0].c' → ['a', 'b', 0, 'c']
function parseDataPath(key) {
    const out = []
    const re = /([^.[\]]+)|\[(\d+)\]/g
    let match
    while ((match = re.exec(key)) !== null) {
        out.push(match[2] !== undefined ? Number(match[2]) : match[1])
    }
    return out
}

function setDataPath(target, segments, value) {
    let node = target
    for (let i = 0; i < segments.length - 1; i += 1) {
        const key = segments[i]
        if (node[key] === null || typeof node[key] !== 'object') node[key] = typeof segments[i + 1] === 'number' ? [] : {}
        node = node[key]
    }
    node[segments[segments.length - 1]] = value
}

// The elements of a .wxml/.qml template that carry attributes: [{tag, attrs, text}].
function parseTemplate(source) {
    const elements = []
    const tagRe = /<([a-zA-Z][\w-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*)\s*(\/?)>/g
    const attrRe = /([^\s=>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'))?/g
    const src = source.replace(/<!--[\s\S]*?-->/g, '')
    let match
    while ((match = tagRe.exec(src)) !== null) {
        const attrs = {}
        let a
        while ((a = attrRe.exec(match[2])) !== null) attrs[a[1]] = a[2] !== undefined ? a[2] : (a[3] !== undefined ? a[3] : '')
        let text = ''
        if (!match[3]) {
            const close = src.indexOf(`</${match[1]}>`, tagRe.lastIndex)
            if (close >= 0) text = src.slice(tagRe.lastIndex, close).replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim()
        }
        elements.push({ tag: match[1], attrs, text })
    }
    return elements
}

function bindingOf(attrs, event) {
    for (const prefix of ['bind', 'bind:', 'catch', 'catch:', 'capture-bind:', 'capture-catch:', 'mut-bind:']) {
        if (attrs[prefix + event]) return attrs[prefix + event]
    }
    return null
}

function datasetOf(attrs) {
    const dataset = {}
    for (const [name, value] of Object.entries(attrs)) {
        if (name.startsWith('data-')) dataset[name.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value
    }
    return dataset
}

class MiniProgramRuntime {
    constructor({ platform = 'wx', ca, hosts = {}, appId = 'touristappid', label, socketTaskReadyState = false, logLimit = 3000 } = {}) {
        if (!PLATFORMS[platform]) throw new Error(`unknown platform ${platform}`)
        this.platform = platform
        this.spec = PLATFORMS[platform]
        this.ca = ca
        this.appId = appId
        this.label = label || platform
        this.socketTaskReadyState = socketTaskReadyState
        this.logLimit = logLimit
        this.hosts = {}
        for (const [name, target] of Object.entries(hosts)) {
            const { hostname, port } = new URL(`tcp://${typeof target === 'number' ? `127.0.0.1:${target}` : target}`)
            if (!LOOPBACK_HOSTS.has(hostname)) throw new Error(`hosts: ${name} must map to a loopback address, not ${target}`)
            this.hosts[name.toLowerCase()] = { host: hostname.replace(/^\[|\]$/g, ''), port: port ? Number(port) : null }
        }
        this.fsRoot = fs.mkdtempSync(path.join(os.tmpdir(), `confab-mp-${platform}-`))
        fs.mkdirSync(path.join(this.fsRoot, 'usr'))
        fs.mkdirSync(path.join(this.fsRoot, 'tmp'))
        this.storage = new Map()
        this.sockets = new Set()
        this.networkConnected = true
        this.suspended = false
        this.hidden = false
        this.listeners = { appShow: new Set(), appHide: new Set(), networkStatus: new Set() }
        this.modules = new Map()
        this.overrides = {}
        this.pageDefs = new Map()
        this.pages = []
        this.app = null
        this.root = null
        this.loadingRoute = null
        this.disposed = false
        const control = {
            calls: [],
            refused: [],
            toasts: [],
            errors: [],
            logs: [],
            hideApp: (options) => this.hideApp(options),
            showApp: (options) => this.showApp(options),
            setNetwork: (connected) => this.setNetwork(connected),
            openSockets: () => Array.from(this.sockets, (s) => ({ url: s.url, state: s.state })),
            callsTo: (apiName) => control.calls.filter((c) => c.api === apiName),
        }
        this.control = control
        this.console = this._makeConsole()
        this.api = this._makeApi()
    }

    // ---------------------------------------------------------------- records and helpers

    _record(apiName, options) {
        const entry = { api: apiName, at: Date.now() }
        if (options && typeof options === 'object') {
            if (typeof options.url === 'string') entry.url = options.url
            if (typeof options.method === 'string') entry.method = options.method
            if (typeof options.key === 'string') entry.key = options.key
        } else if (typeof options === 'string') {
            entry.key = options
        }
        this.control.calls.push(entry)
        this.lastCall = entry
    }

    _refuse(apiName, url, reason) {
        this.control.refused.push({ api: apiName, url: String(url), reason, at: new Date().toISOString() })
    }

    _makeConsole() {
        const logs = this.control.logs
        const label = this.label
        const out = {}
        for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
            out[level] = (...args) => {
                logs.push({ level, args, at: Date.now() })
                if (logs.length > this.logLimit) logs.splice(0, logs.length - this.logLimit)
                if (process.env.MP_LOG) process.stderr.write(`[mp ${label}] ${level}: ${util.format(...args)}\n`)
            }
        }
        for (const name of ['time', 'timeEnd', 'group', 'groupEnd', 'groupCollapsed', 'table', 'dir', 'assert', 'count']) out[name] = () => {}
        return out
    }

    // The mini program's console output, formatted (for failure reports).
    logText(lastN = 200) {
        return this.control.logs.slice(-lastN).map((l) => `${new Date(l.at).toISOString()} ${l.level}: ${util.format(...l.args)}`).join('\n')
    }

    // Runs app code from a platform callback: like the platform, an exception is reported
    // (App.onError, console) and does not escape into the platform.
    _guard(fn, ...args) {
        try {
            return fn(...args)
        } catch (error) {
            this.control.errors.push(error)
            this.console.error(error)
            if (this.app && typeof this.app.onError === 'function') {
                try { this.app.onError(String(error && error.stack || error)) } catch (e) { /* ignore */ }
            }
            return undefined
        }
    }

    _later(fn) {
        setImmediate(fn)
    }

    // Callback-style delivery for the APIs that return a task (never a Promise).
    _settleTask(options, promise) {
        this._settle({ ...options, complete: typeof options.complete === 'function' ? options.complete : () => {} }, promise)
    }

    // Delivers an async API result to success/fail/complete; returns a Promise when the
    // caller passed no callback (the platform's promise style).
    _settle(options, promise) {
        const opts = options || {}
        const hasCallback = ['success', 'fail', 'complete'].some((k) => typeof opts[k] === 'function')
        const settled = promise.then(
            (result) => {
                if (typeof opts.success === 'function') this._guard(opts.success, result)
                if (typeof opts.complete === 'function') this._guard(opts.complete, result)
                return result
            },
            (error) => {
                const result = error && error.errMsg ? error : { errMsg: String(error && error.message || error) }
                if (typeof opts.fail === 'function') this._guard(opts.fail, result)
                if (typeof opts.complete === 'function') this._guard(opts.complete, result)
                throw result
            })
        if (hasCallback) {
            settled.catch(() => {})
            return undefined
        }
        return settled
    }

    // Where a URL really goes: {url, host, port, servername, path}; throws {errMsg}.
    _resolve(apiName, rawUrl, schemes) {
        let url
        try {
            url = new URL(String(rawUrl))
        } catch (e) {
            this._refuse(apiName, rawUrl, 'invalid url')
            throw { errMsg: ERR.invalidUrl(apiName, rawUrl) }
        }
        if (!schemes.includes(url.protocol)) {
            this._refuse(apiName, rawUrl, `scheme ${url.protocol} not allowed`)
            throw { errMsg: ERR.notInDomainList(apiName) }
        }
        const hostname = url.hostname.toLowerCase()
        const defaultPort = 443
        let host
        let port
        if (this.hosts[hostname]) {
            host = this.hosts[hostname].host
            port = this.hosts[hostname].port || Number(url.port || defaultPort)
        } else if (LOOPBACK_HOSTS.has(hostname)) {
            host = hostname.replace(/^\[|\]$/g, '')
            port = Number(url.port || defaultPort)
        } else {
            this._refuse(apiName, rawUrl, 'host not in the domain list')
            throw { errMsg: ERR.notInDomainList(apiName) }
        }
        if (!this.networkConnected || this.disposed) throw { errMsg: ERR.offline(apiName) }
        if (this.suspended) throw { errMsg: ERR.suspended(apiName) }
        const bare = hostname.replace(/^\[|\]$/g, '')
        return { url, host, port, servername: net.isIP(bare) ? undefined : bare, path: `${url.pathname}${url.search}` }
    }

    _headers(header) {
        const headers = {}
        for (const [name, value] of Object.entries(header || {})) {
            if (name.toLowerCase() === 'referer') continue // the platform sets it; apps cannot
            if (value === undefined || value === null) continue
            headers[name] = String(value)
        }
        headers.Referer = this.spec.referer(this.appId)
        if (!Object.keys(headers).some((n) => n.toLowerCase() === 'user-agent')) headers['User-Agent'] = this.spec.userAgent
        return headers
    }

    // One HTTPS exchange: resolves {statusCode, headers, body: Buffer}; rejects {errMsg}.
    _https(apiName, rawUrl, { method = 'GET', headers = {}, body, timeout = 60000, onAbort } = {}) {
        return new Promise((resolve, reject) => {
            let target
            try {
                target = this._resolve(apiName, rawUrl, ['https:'])
            } catch (error) {
                reject(error)
                return
            }
            const req = https.request({
                host: target.host,
                port: target.port,
                servername: target.servername,
                ca: this.ca,
                method,
                path: target.path,
                // With a body, always its length: Node sends a DELETE body without one, and the
                // server then reads none (the platforms' own request sends it with one).
                headers: { Host: target.url.host, ...this._headers(headers), ...(body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) }) },
                agent: false,
            })
            const timer = setTimeout(() => {
                req.destroy()
                reject({ errMsg: ERR.timeout(apiName) })
            }, timeout)
            if (onAbort) onAbort(() => { clearTimeout(timer); req.destroy(); reject({ errMsg: ERR.aborted(apiName) }) })
            const inflight = { abort: () => req.destroy(new Error('aborted')) }
            this._inflight = this._inflight || new Set()
            this._inflight.add(inflight)
            req.on('response', (res) => {
                const chunks = []
                res.on('data', (c) => chunks.push(c))
                res.on('end', () => {
                    clearTimeout(timer)
                    this._inflight.delete(inflight)
                    resolve({ statusCode: res.statusCode, headers: { ...res.headers }, body: Buffer.concat(chunks) })
                })
                res.on('error', (e) => { clearTimeout(timer); this._inflight.delete(inflight); reject({ errMsg: `${apiName}:fail ${e.code || e.message}` }) })
            })
            req.on('error', (e) => {
                clearTimeout(timer)
                this._inflight.delete(inflight)
                reject({ errMsg: `${apiName}:fail ${e.code || e.message}` })
            })
            req.end(body)
        })
    }

    // wxfile://usr/…, wxfile://tmp/… (qqfile:// on QQ) → a path on disk.
    _diskPath(virtualPath) {
        const scheme = `${this.spec.fileScheme}://`
        const p = String(virtualPath)
        if (!p.startsWith(scheme)) throw { errMsg: `no such file or directory ${p}` }
        const rel = path.posix.normalize(p.slice(scheme.length))
        if (rel.startsWith('..')) throw { errMsg: `permission denied ${p}` }
        const top = rel.split('/')[0]
        if (top !== 'usr' && top !== 'tmp') throw { errMsg: `no such file or directory ${p}` }
        return path.join(this.fsRoot, rel)
    }

    _tempPath(ext = '') {
        return `${this.spec.fileScheme}://tmp/${crypto.randomBytes(8).toString('hex')}${ext}`
    }

    // ---------------------------------------------------------------- the wx / qq object

    _makeApi() {
        const rt = this
        const impl = {}

        // -- environment
        impl.canIUse = (schema) => {
            const first = String(schema || '').split('.')[0]
            return Object.prototype.hasOwnProperty.call(impl, first) || first === 'env'
        }
        const systemInfo = () => ({
            ...rt.spec.systemInfo,
            pixelRatio: 3, screenWidth: 390, screenHeight: 844, windowWidth: 390, windowHeight: 844,
            statusBarHeight: 47, language: 'zh_CN', system: 'iOS 16.0', fontSizeSetting: 16,
        })
        impl.getSystemInfoSync = () => systemInfo()
        impl.getSystemInfo = (options) => rt._settle(options, Promise.resolve({ ...systemInfo(), errMsg: 'getSystemInfo:ok' }))
        impl.getNetworkType = (options) => rt._settle(options, Promise.resolve({ networkType: rt.networkConnected ? 'wifi' : 'none', errMsg: 'getNetworkType:ok' }))

        // -- storage (values are copied, as the platform serialises them; a missing key reads as '')
        impl.getStorageSync = (key) => (rt.storage.has(String(key)) ? clone(rt.storage.get(String(key))) : '')
        impl.setStorageSync = (key, data) => { rt.storage.set(String(key), clone(data)) }
        impl.removeStorageSync = (key) => { rt.storage.delete(String(key)) }
        impl.clearStorageSync = () => { rt.storage.clear() }
        impl.getStorageInfoSync = () => ({ keys: Array.from(rt.storage.keys()), currentSize: 0, limitSize: 10240 })
        impl.setStorage = (options = {}) => rt._settle(options, new Promise((resolve) => {
            rt.storage.set(String(options.key), clone(options.data))
            rt._later(() => resolve({ errMsg: 'setStorage:ok' }))
        }))
        impl.getStorage = (options = {}) => rt._settle(options, new Promise((resolve, reject) => {
            rt._later(() => (rt.storage.has(String(options.key))
                ? resolve({ data: clone(rt.storage.get(String(options.key))), errMsg: 'getStorage:ok' })
                : reject({ errMsg: 'getStorage:fail data not found' })))
        }))
        impl.removeStorage = (options = {}) => rt._settle(options, new Promise((resolve) => {
            rt.storage.delete(String(options.key))
            rt._later(() => resolve({ errMsg: 'removeStorage:ok' }))
        }))

        // -- UI
        impl.showToast = (options = {}) => {
            rt.control.toasts.push({ title: options.title, icon: options.icon === undefined ? 'success' : options.icon, duration: options.duration === undefined ? 1500 : options.duration, at: Date.now() })
            return rt._settle(options, Promise.resolve({ errMsg: 'showToast:ok' }))
        }
        impl.hideToast = (options) => rt._settle(options, Promise.resolve({ errMsg: 'hideToast:ok' }))
        impl.showLoading = (options) => rt._settle(options, Promise.resolve({ errMsg: 'showLoading:ok' }))
        impl.hideLoading = (options) => rt._settle(options, Promise.resolve({ errMsg: 'hideLoading:ok' }))
        impl.showModal = (options = {}) => {
            rt.control.toasts.push({ modal: true, title: options.title, content: options.content, at: Date.now() })
            return rt._settle(options, Promise.resolve({ confirm: true, cancel: false, errMsg: 'showModal:ok' }))
        }

        // -- lifecycle and network events
        impl.onAppShow = (cb) => { if (typeof cb === 'function') rt.listeners.appShow.add(cb) }
        impl.offAppShow = (cb) => { if (cb) rt.listeners.appShow.delete(cb); else rt.listeners.appShow.clear() }
        impl.onAppHide = (cb) => { if (typeof cb === 'function') rt.listeners.appHide.add(cb) }
        impl.offAppHide = (cb) => { if (cb) rt.listeners.appHide.delete(cb); else rt.listeners.appHide.clear() }
        impl.onNetworkStatusChange = (cb) => { if (typeof cb === 'function') rt.listeners.networkStatus.add(cb) }
        impl.offNetworkStatusChange = (cb) => { if (cb) rt.listeners.networkStatus.delete(cb); else rt.listeners.networkStatus.clear() }

        // -- network
        impl.request = (options = {}) => rt._request(options)
        impl.connectSocket = (options = {}) => rt._connectSocket(options)
        impl.uploadFile = (options = {}) => rt._uploadFile(options)
        impl.downloadFile = (options = {}) => rt._downloadFile(options)

        // -- files
        impl.getFileSystemManager = () => rt._fileSystemManager()

        const api = {}
        for (const [name, fn] of Object.entries(impl)) {
            api[name] = function platformApi(...args) {
                rt._record(name, args[0])
                return fn(...args)
            }
        }
        api.env = { USER_DATA_PATH: `${this.spec.fileScheme}://usr` }
        return api
    }

    _request(options) {
        const apiName = 'request'
        let abort = null
        const task = {
            abort: () => { if (abort) abort() },
            onHeadersReceived() {},
            offHeadersReceived() {},
            onChunkReceived() {},
            offChunkReceived() {},
        }
        const method = String(options.method || 'GET').toUpperCase()
        const header = { ...(options.header || {}) }
        const contentTypeKey = Object.keys(header).find((k) => k.toLowerCase() === 'content-type')
        if (!contentTypeKey) header['content-type'] = 'application/json'
        const contentType = String(header[contentTypeKey || 'content-type'])
        let url = String(options.url)
        let body
        const data = options.data
        if (method === 'GET') {
            url = addQueryStringToUrl(url, data)
        } else if (data !== undefined && data !== null) {
            if (typeof data === 'string') body = data
            else if (isArrayBuffer(data)) body = Buffer.from(data)
            else if (/application\/x-www-form-urlencoded/i.test(contentType)) {
                body = Object.entries(data).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(typeof v === 'object' ? JSON.stringify(v) : v)}`).join('&')
            } else body = JSON.stringify(data)
        }
        if (this.lastCall && this.lastCall.api === apiName) this.lastCall.requestedUrl = url
        const dataType = options.dataType === undefined ? 'json' : options.dataType
        const responseType = options.responseType || 'text'
        const promise = this._https(apiName, url, {
            method,
            headers: header,
            body,
            timeout: options.timeout || 60000,
            onAbort: (fn) => { abort = fn },
        }).then((res) => {
            let resData
            if (responseType === 'arraybuffer') {
                resData = toArrayBuffer(res.body)
            } else {
                resData = res.body.toString('utf8')
                if (dataType === 'json') {
                    try { resData = JSON.parse(resData) } catch (e) { /* not JSON: the text, as the platform gives it */ }
                }
            }
            return { data: resData, statusCode: res.statusCode, header: res.headers, cookies: [], errMsg: 'request:ok' }
        })
        this._settleTask(options, promise)
        return task
    }

    _uploadFile(options) {
        const apiName = 'uploadFile'
        let abort = null
        const task = { abort: () => { if (abort) abort() }, onProgressUpdate() {}, offProgressUpdate() {}, onHeadersReceived() {}, offHeadersReceived() {} }
        const promise = new Promise((resolve, reject) => {
            let file
            try {
                file = fs.readFileSync(this._diskPath(options.filePath))
            } catch (e) {
                reject({ errMsg: `${apiName}:fail file not found ${options.filePath}` })
                return
            }
            const boundary = `----ConfabMiniProgram${crypto.randomBytes(12).toString('hex')}`
            const parts = []
            for (const [k, v] of Object.entries(options.formData || {})) {
                parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${typeof v === 'object' ? JSON.stringify(v) : v}\r\n`))
            }
            const filename = path.posix.basename(String(options.filePath))
            parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${options.name || 'file'}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`))
            parts.push(file)
            parts.push(Buffer.from(`\r\n--${boundary}--\r\n`))
            const body = Buffer.concat(parts)
            const headers = {}
            for (const [k, v] of Object.entries(options.header || {})) if (k.toLowerCase() !== 'content-type') headers[k] = v
            headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`
            headers['Content-Length'] = String(body.length)
            this._https(apiName, options.url, { method: 'POST', headers, body, timeout: options.timeout || 60000, onAbort: (fn) => { abort = fn } })
                .then((res) => resolve({ data: res.body.toString('utf8'), statusCode: res.statusCode, header: res.headers, errMsg: 'uploadFile:ok' }), reject)
        })
        this._settleTask(options, promise)
        return task
    }

    _downloadFile(options) {
        const apiName = 'downloadFile'
        let abort = null
        const task = { abort: () => { if (abort) abort() }, onProgressUpdate() {}, offProgressUpdate() {}, onHeadersReceived() {}, offHeadersReceived() {} }
        const promise = this._https(apiName, options.url, { method: 'GET', headers: options.header, timeout: options.timeout || 60000, onAbort: (fn) => { abort = fn } })
            .then((res) => {
                const ext = path.posix.extname(new URL(String(options.url)).pathname).slice(0, 10)
                const virtual = options.filePath || this._tempPath(ext)
                fs.writeFileSync(this._diskPath(virtual), res.body)
                const result = { statusCode: res.statusCode, header: res.headers, errMsg: 'downloadFile:ok' }
                if (options.filePath) result.filePath = virtual
                else result.tempFilePath = virtual
                return result
            })
        this._settleTask(options, promise)
        return task
    }

    _fileSystemManager() {
        const rt = this
        const read = (filePath, encoding) => {
            const buf = fs.readFileSync(rt._diskPath(filePath))
            return encoding ? buf.toString(encoding === 'utf-8' ? 'utf8' : encoding) : toArrayBuffer(buf)
        }
        const write = (filePath, data, encoding) => {
            const buf = isArrayBuffer(data) ? Buffer.from(data) : Buffer.from(String(data), encoding === 'base64' ? 'base64' : 'utf8')
            fs.writeFileSync(rt._diskPath(filePath), buf)
        }
        const wrap = (name, fn) => (options = {}) => rt._settle(options, new Promise((resolve, reject) => {
            rt._later(() => {
                try {
                    resolve({ ...fn(options), errMsg: `${name}:ok` })
                } catch (e) {
                    reject({ errMsg: `${name}:fail ${e.errMsg || (e.code === 'ENOENT' ? 'no such file or directory' : e.message)}` })
                }
            })
        }))
        return {
            readFile: wrap('readFile', (o) => ({ data: read(o.filePath, o.encoding) })),
            readFileSync: (filePath, encoding) => read(filePath, encoding),
            writeFile: wrap('writeFile', (o) => { write(o.filePath, o.data, o.encoding); return {} }),
            writeFileSync: (filePath, data, encoding) => write(filePath, data, encoding),
            access: wrap('access', (o) => { fs.accessSync(rt._diskPath(o.path)); return {} }),
            accessSync: (p) => { fs.accessSync(rt._diskPath(p)) },
            unlink: wrap('unlink', (o) => { fs.unlinkSync(rt._diskPath(o.filePath)); return {} }),
            unlinkSync: (p) => { fs.unlinkSync(rt._diskPath(p)) },
            mkdir: wrap('mkdir', (o) => { fs.mkdirSync(rt._diskPath(o.dirPath), { recursive: Boolean(o.recursive) }); return {} }),
            mkdirSync: (p, recursive) => { fs.mkdirSync(rt._diskPath(p), { recursive: Boolean(recursive) }) },
        }
    }

    _connectSocket(options) {
        const rt = this
        const apiName = 'connectSocket'
        const url = String(options.url)
        const listeners = { open: [], message: [], close: [], error: [] }
        const entry = { url, state: CONNECTING, kill: null }
        let ws = null
        let closeRequested = null
        let closeFired = false
        const emit = (type, payload) => {
            if (rt.disposed) return
            for (const cb of listeners[type].slice()) rt._guard(cb, payload)
        }
        const fireClose = (code, reason) => {
            if (closeFired) return
            closeFired = true
            entry.state = CLOSED
            rt.sockets.delete(entry)
            emit('close', { code, reason })
        }
        const task = {
            onOpen: (cb) => { if (typeof cb === 'function') listeners.open.push(cb) },
            onMessage: (cb) => { if (typeof cb === 'function') listeners.message.push(cb) },
            onClose: (cb) => { if (typeof cb === 'function') listeners.close.push(cb) },
            onError: (cb) => { if (typeof cb === 'function') listeners.error.push(cb) },
            send: (o = {}) => {
                const fail = (errMsg) => rt._settleTask(o, Promise.reject({ errMsg }))
                if (entry.state === CONNECTING) return fail(ERR.sendNotOpen)
                if (entry.state !== OPEN) return fail(ERR.sendNoTask)
                const data = o.data
                const binary = isArrayBuffer(data)
                if (!binary && typeof data !== 'string') return fail(ERR.sendBadData)
                return rt._settleTask(o, new Promise((resolve, reject) => {
                    ws.send(binary ? Buffer.from(data) : data, { binary }, (err) => {
                        if (err) reject({ errMsg: `sendSocketMessage:fail ${err.message}` })
                        else resolve({ errMsg: 'sendSocketMessage:ok' })
                    })
                }))
            },
            close: (o = {}) => {
                const code = o.code === undefined ? 1000 : o.code
                const reason = o.reason === undefined ? '' : String(o.reason)
                if (code !== 1000 && !(code >= 3000 && code <= 4999)) return rt._settleTask(o, Promise.reject({ errMsg: ERR.closeBadCode }))
                if (entry.state === CLOSED || entry.state === CLOSING || !ws) {
                    return rt._settleTask(o, Promise.resolve({ errMsg: 'closeSocket:ok' }))
                }
                closeRequested = { code, reason }
                const wasConnecting = entry.state === CONNECTING
                entry.state = CLOSING
                if (wasConnecting) ws.terminate()
                else ws.close(code, reason)
                return rt._settleTask(o, Promise.resolve({ errMsg: 'closeSocket:ok' }))
            },
        }
        if (this.socketTaskReadyState) {
            Object.defineProperty(task, 'readyState', { enumerable: true, get: () => entry.state })
        }
        const openCount = Array.from(this.sockets).filter((s) => s.state === CONNECTING || s.state === OPEN).length
        let target
        try {
            if (openCount >= MAX_SOCKETS) throw { errMsg: ERR.tooManySockets }
            target = this._resolve(apiName, url, ['wss:'])
        } catch (error) {
            entry.state = CLOSED
            if (error.errMsg && (error.errMsg === ERR.suspended(apiName) || error.errMsg === ERR.offline(apiName))) {
                // A connection attempt without a network: the task reports an error and a close.
                this._settleTask(options, Promise.resolve({ errMsg: 'connectSocket:ok' }))
                this._later(() => {
                    emit('error', { errMsg: error.errMsg })
                    fireClose(1006, 'abnormal closure')
                })
            } else {
                this._settleTask(options, Promise.reject(error))
            }
            return task
        }
        this.sockets.add(entry)
        ws = new WebSocket(url, options.protocols || [], {
            headers: this._headers(options.header),
            perMessageDeflate: Boolean(options.perMessageDeflate),
            handshakeTimeout: options.timeout || 60000,
            followRedirects: false,
            createConnection: (o) => tls.connect({ ...o, path: undefined, host: target.host, port: target.port, servername: target.servername, ca: this.ca }),
        })
        ws.binaryType = 'arraybuffer'
        ws.on('open', () => {
            if (entry.state === CONNECTING) entry.state = OPEN
            emit('open', { header: {}, profile: {} })
        })
        ws.on('upgrade', (res) => { entry.responseHeaders = res.headers })
        ws.on('message', (data, isBinary) => {
            emit('message', { data: isBinary ? toArrayBuffer(data) : Buffer.from(data).toString('utf8') })
        })
        ws.on('error', (err) => {
            if (closeRequested) return
            emit('error', { errMsg: err.message })
        })
        ws.on('close', (code, reason) => {
            if (closeRequested) fireClose(closeRequested.code, closeRequested.reason)
            else fireClose(code, reason ? reason.toString() : '')
        })
        // The platform drops the connection (app in background, network lost): no closing
        // handshake; the task gets an error and an abnormal close.
        entry.kill = (errMsg) => {
            if (entry.state === CLOSED) return
            entry.state = CLOSED
            ws.removeAllListeners()
            ws.on('error', () => {})
            ws.terminate()
            rt.sockets.delete(entry)
            setTimeout(() => {
                emit('error', { errMsg })
                fireClose(1006, 'abnormal closure')
            }, 0)
        }
        this._settleTask(options, Promise.resolve({ errMsg: 'connectSocket:ok' }))
        return task
    }

    _killSockets(errMsg = ERR.socketAborted) {
        for (const entry of Array.from(this.sockets)) if (entry.kill) entry.kill(errMsg)
    }

    // ---------------------------------------------------------------- lifecycle control

    // The app goes to the background: hide hooks run, then (after `dropAfterMs`) the platform
    // drops every socket and the network stays suspended until `showApp()`.
    async hideApp({ dropAfterMs = 0 } = {}) {
        if (this.hidden) return
        this.hidden = true
        const page = this.pages[this.pages.length - 1]
        if (page && typeof page.onHide === 'function') this._guard(() => page.onHide())
        if (this.app && typeof this.app.onHide === 'function') this._guard(() => this.app.onHide())
        for (const cb of Array.from(this.listeners.appHide)) this._guard(cb, {})
        if (dropAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, dropAfterMs))
        if (!this.hidden) return
        this.suspended = true
        this._killSockets()
    }

    showApp({ scene = 1001, query = {} } = {}) {
        if (!this.hidden) return
        this.hidden = false
        this.suspended = false
        const options = { path: this.appJson ? this.appJson.pages[0] : '', query, scene, referrerInfo: {} }
        if (this.app && typeof this.app.onShow === 'function') this._guard(() => this.app.onShow(options))
        for (const cb of Array.from(this.listeners.appShow)) this._guard(cb, options)
        const page = this.pages[this.pages.length - 1]
        if (page && typeof page.onShow === 'function') this._guard(() => page.onShow())
    }

    setNetwork(connected) {
        const was = this.networkConnected
        this.networkConnected = Boolean(connected)
        if (was === this.networkConnected) return
        if (!this.networkConnected) this._killSockets()
        for (const cb of Array.from(this.listeners.networkStatus)) {
            this._guard(cb, { isConnected: this.networkConnected, networkType: this.networkConnected ? 'wifi' : 'none' })
        }
    }

    // ---------------------------------------------------------------- modules, App, Page

    _globals(modulePath) {
        const rt = this
        return {
            [this.spec.global]: this.api,
            App: (options) => {
                if (rt.app) throw new Error('App() may only be called once')
                rt.app = options || {}
                return rt.app
            },
            Page: (options) => {
                const route = rt.loadingRoute
                if (!route || `${route}.js` !== modulePath) throw new Error(`Page() called outside a page module (${modulePath})`)
                rt.pageDefs.set(route, options || {})
            },
            Component: () => { throw new Error('Component() is not supported by this runtime') },
            Behavior: (options) => options,
            getApp: () => rt.app,
            getCurrentPages: () => rt.pages.slice(),
            console: this.console,
        }
    }

    // A module path inside the mini program: root-relative, posix, with `.js`.
    _resolveModule(fromDir, spec) {
        let p = spec.startsWith('/') ? spec.slice(1) : path.posix.join(fromDir, spec)
        p = path.posix.normalize(p)
        if (p.startsWith('..')) throw new Error(`module "${spec}" is outside the mini program`)
        const candidates = p.endsWith('.js') ? [p] : [`${p}.js`, `${p}/index.js`, p]
        for (const c of candidates) {
            if (this.overrides[c]) return c
            if (this.root && fs.existsSync(path.join(this.root, c)) && fs.statSync(path.join(this.root, c)).isFile()) return c
        }
        throw new Error(`module "${p}" is not defined`)
    }

    _requireModule(modulePath) {
        const cached = this.modules.get(modulePath)
        if (cached) return cached.exports
        const module = { id: modulePath, exports: {} }
        this.modules.set(modulePath, module)
        const override = this.overrides[modulePath]
        if (override && Object.prototype.hasOwnProperty.call(override, 'exports')) {
            module.exports = override.exports
            return module.exports
        }
        const file = override && override.file ? override.file : path.join(this.root, modulePath)
        this._evaluate(file, modulePath, module)
        return module.exports
    }

    _evaluate(file, modulePath, module) {
        const source = fs.readFileSync(file, 'utf8')
        const dir = path.posix.dirname(modulePath)
        const globals = this._globals(modulePath)
        const params = ['exports', 'require', 'module', ...Object.keys(globals), ...SHADOWED_GLOBALS]
        const fn = vm.compileFunction(source, params, { filename: file })
        const requireFn = (spec) => this._requireModule(this._resolveModule(dir, String(spec)))
        fn.call(module.exports, module.exports, requireFn, module, ...Object.values(globals), ...SHADOWED_GLOBALS.map(() => undefined))
    }

    // Evaluates one file (e.g. the SDK bundle) as a module of this runtime; returns its exports.
    loadModule(file) {
        const key = `<file>${path.resolve(file)}`
        const cached = this.modules.get(key)
        if (cached) return cached.exports
        const module = { id: key, exports: {} }
        this.modules.set(key, module)
        this._evaluate(path.resolve(file), 'index.js', module)
        return module.exports
    }

    // Starts the mini program in `root`: app.js, every page module of app.json, App.onLaunch
    // and onShow, then the first page (onLoad, onShow, onReady). `modules` overrides files:
    // {'config.js': {exports: {...}}, 'utils/Easemob-chat.js': {file: '/abs/path'}}.
    launch({ root, modules = {}, query = {}, scene = 1001 } = {}) {
        if (this.app) throw new Error('already launched')
        this.root = path.resolve(root)
        this.overrides = {}
        for (const [key, value] of Object.entries(modules)) this.overrides[path.posix.normalize(key.replace(/^\//, ''))] = value
        this.appJson = JSON.parse(fs.readFileSync(path.join(this.root, 'app.json'), 'utf8'))
        if (!Array.isArray(this.appJson.pages) || this.appJson.pages.length === 0) throw new Error('app.json has no pages')
        this._requireModule('app.js')
        if (!this.app) throw new Error('app.js did not call App()')
        for (const route of this.appJson.pages) {
            this.loadingRoute = route
            this._requireModule(`${route}.js`)
            this.loadingRoute = null
            if (!this.pageDefs.has(route)) throw new Error(`${route}.js did not call Page()`)
        }
        const launchOptions = { path: this.appJson.pages[0], query, scene, referrerInfo: {} }
        if (typeof this.app.onLaunch === 'function') this._guard(() => this.app.onLaunch(launchOptions))
        if (typeof this.app.onShow === 'function') this._guard(() => this.app.onShow(launchOptions))
        return this.openPage(this.appJson.pages[0], query)
    }

    openPage(route, query = {}) {
        const def = this.pageDefs.get(route)
        if (!def) throw new Error(`no page ${route}`)
        const page = {}
        for (const [key, value] of Object.entries(def)) {
            if (key === 'data') continue
            page[key] = typeof value === 'function' ? value : clone(value)
        }
        page.data = clone(def.data || {})
        page.route = route
        page.__route__ = route
        page.options = query
        page.setData = (data, callback) => this._setData(page, data, callback)
        this.pages.push(page)
        if (typeof page.onLoad === 'function') this._guard(() => page.onLoad(query))
        if (typeof page.onShow === 'function') this._guard(() => page.onShow())
        if (typeof page.onReady === 'function') this._guard(() => page.onReady())
        return page
    }

    get page() {
        return this.pages[this.pages.length - 1]
    }

    _setData(page, data, callback) {
        if (!data || typeof data !== 'object') throw new Error('setData: data must be an object')
        for (const [key, value] of Object.entries(data)) {
            if (value === undefined) {
                this.console.warn(`setData: the value of "${key}" is undefined and is ignored`)
                continue
            }
            // The view layer receives JSON; a value that does not serialise is an app bug.
            JSON.stringify(value)
            const segments = parseDataPath(key)
            if (segments.length === 0) continue
            setDataPath(page.data, segments, value)
        }
        page.__renders = (page.__renders || 0) + 1
        if (typeof callback === 'function') setTimeout(() => this._guard(callback), 0)
    }

    // ---------------------------------------------------------------- driving the page

    template(route = this.page.route) {
        return parseTemplate(fs.readFileSync(path.join(this.root, `${route}${this.spec.template}`), 'utf8'))
    }

    // Handler names the page's template binds that the page does not define.
    unboundHandlers(route = this.page.route) {
        const page = this.pages.find((p) => p.route === route)
        const missing = []
        for (const el of this.template(route)) {
            for (const [name, value] of Object.entries(el.attrs)) {
                if (/^(bind|catch|capture-bind|capture-catch|mut-bind)(:)?[a-z]+$/.test(name) && typeof page[value] !== 'function') missing.push(value)
            }
        }
        return missing
    }

    _event(type, el, detail) {
        const target = { id: el.attrs.id || '', dataset: datasetOf(el.attrs) }
        return { type, timeStamp: Date.now(), detail, target, currentTarget: target, mark: {} }
    }

    // Types `value` into the input whose placeholder, id or name is `field`, the way the
    // platform reports it: one `input` event with the whole value.
    type(field, value) {
        const el = this.template().find((e) => (e.tag === 'input' || e.tag === 'textarea')
            && (e.attrs.placeholder === field || e.attrs.id === field || e.attrs.name === field))
        if (!el) throw new Error(`no input "${field}" in ${this.page.route}${this.spec.template}`)
        const handler = bindingOf(el.attrs, 'input')
        if (!handler) throw new Error(`input "${field}" has no bindinput`)
        if (typeof this.page[handler] !== 'function') throw new Error(`input "${field}" is bound to ${handler}, which the page does not define`)
        const v = String(value)
        return this.page[handler](this._event('input', el, { value: v, cursor: v.length, keyCode: v.length ? v.charCodeAt(v.length - 1) : 8 }))
    }

    // Taps the button (or other tappable element) labelled `label` (its text or id); returns
    // whatever the handler returns (a Promise for the quickstart's async handlers).
    tap(label) {
        const el = this.template().find((e) => bindingOf(e.attrs, 'tap') && (e.text === label || e.attrs.id === label))
        if (!el) throw new Error(`nothing tappable labelled "${label}" in ${this.page.route}${this.spec.template}`)
        const handler = bindingOf(el.attrs, 'tap')
        if (typeof this.page[handler] !== 'function') throw new Error(`"${label}" is bound to ${handler}, which the page does not define`)
        return this.page[handler](this._event('tap', el, { x: 10, y: 10 }))
    }

    // ---------------------------------------------------------------- teardown

    dispose() {
        this.disposed = true
        for (const entry of Array.from(this.sockets)) if (entry.kill) entry.kill(ERR.socketAborted)
        for (const inflight of this._inflight || []) inflight.abort()
        fs.rmSync(this.fsRoot, { recursive: true, force: true })
    }
}

function createRuntime(options) {
    return new MiniProgramRuntime(options)
}

module.exports = { createRuntime, MiniProgramRuntime, addQueryStringToUrl, parseTemplate, ERR, PLATFORMS }
