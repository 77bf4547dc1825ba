'use strict'
// Browser globals for running the SDK web builds in Node 20. Only the platform is
// shimmed (WebSocket, XMLHttpRequest, localStorage, document, navigator, self/window);
// the SDK bundles themselves are loaded unmodified. Must be installed before the SDK
// is required, because the bundles detect their platform at load time.
//
// Every URL that is not loopback is refused and recorded in `disallowedUrls`; each
// test asserts that list stays empty (the SDK must not phone home when isHttpDNS:false).

const NodeWebSocket = require('ws')

const disallowedUrls = []

function isLoopbackUrl(url) {
    let parsed
    try {
        parsed = new URL(String(url))
    } catch (e) {
        return false
    }
    return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(parsed.hostname)
}

function refuse(kind, url) {
    disallowedUrls.push({ kind, url: String(url), at: new Date().toISOString() })
}

// A refused WebSocket dials this instead: a port nothing listens on, so the SDK sees
// an ordinary connection failure, as a browser would show it.
const DEAD_WEBSOCKET_URL = 'ws://127.0.0.1:9/'

const openSockets = new Set()

class BrowserWebSocket extends NodeWebSocket {
    constructor(url, protocols) {
        let target = url
        if (!isLoopbackUrl(url)) {
            refuse('websocket', url)
            target = DEAD_WEBSOCKET_URL
        }
        super(target, protocols)
        // A browser reports a failed connection as error + close and never throws;
        // `ws` is an EventEmitter that crashes the process on an unhandled 'error'.
        this.on('error', () => {})
        this.binaryType = 'arraybuffer'
        openSockets.add(this)
        this.on('close', () => openSockets.delete(this))
    }
}

// XMLHttpRequest on top of fetch: what the SDK's ajax, upload and download code uses.
class ShimXMLHttpRequest {
    constructor() {
        this.readyState = 0
        this.status = 0
        this.statusText = ''
        this.responseText = ''
        this.response = null
        this.responseType = ''
        this.responseURL = ''
        this.timeout = 0
        this.withCredentials = false
        this._listeners = {}
        this._requestHeaders = {}
        this._responseHeaders = new Headers()
        this._abortController = null
        this._timer = null
        this._done = false
        this.upload = { addEventListener() {}, removeEventListener() {} }
    }

    open(method, url) {
        this._method = String(method).toUpperCase()
        this._url = String(url)
        this._setReadyState(1)
    }

    setRequestHeader(name, value) {
        this._requestHeaders[name] = String(value)
    }

    overrideMimeType() {}

    getResponseHeader(name) {
        return this._responseHeaders.get(name)
    }

    getAllResponseHeaders() {
        let text = ''
        this._responseHeaders.forEach((value, name) => { text += `${name}: ${value}\r\n` })
        return text
    }

    addEventListener(type, listener) {
        (this._listeners[type] = this._listeners[type] || []).push(listener)
    }

    removeEventListener(type, listener) {
        const list = this._listeners[type] || []
        const index = list.indexOf(listener)
        if (index >= 0) list.splice(index, 1)
    }

    send(body) {
        if (!isLoopbackUrl(this._url)) {
            refuse('xhr', this._url)
            setImmediate(() => this._fail('error'))
            return
        }
        const headers = { ...this._requestHeaders }
        if (typeof FormData !== 'undefined' && body instanceof FormData) {
            // fetch must write the multipart boundary itself.
            for (const name of Object.keys(headers)) {
                if (name.toLowerCase() === 'content-type') delete headers[name]
            }
        }
        this._abortController = new AbortController()
        let timedOut = false
        if (this.timeout > 0) {
            this._timer = setTimeout(() => {
                timedOut = true
                this._abortController.abort()
            }, this.timeout)
        }
        const hasBody = !['GET', 'HEAD'].includes(this._method) && body !== undefined && body !== null
        fetch(this._url, {
            method: this._method,
            headers,
            body: hasBody ? body : undefined,
            signal: this._abortController.signal,
        }).then(async (res) => {
            this.status = res.status
            this.statusText = res.statusText
            this.responseURL = res.url
            this._responseHeaders = res.headers
            this._setReadyState(2)
            const bytes = Buffer.from(await res.arrayBuffer())
            clearTimeout(this._timer)
            if (this._done) return
            this._done = true
            if (this.responseType === 'blob') {
                this.response = new Blob([bytes], { type: res.headers.get('content-type') || '' })
            } else if (this.responseType === 'arraybuffer') {
                this.response = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
            } else {
                this.responseText = bytes.toString('utf8')
                this.response = this.responseText
            }
            this._setReadyState(4)
            this._emit('load')
            this._emit('loadend')
        }).catch(() => {
            clearTimeout(this._timer)
            if (this._done) return
            this._fail(timedOut ? 'timeout' : this._aborted ? 'abort' : 'error')
        })
    }

    abort() {
        this._aborted = true
        if (this._abortController) this._abortController.abort()
    }

    _fail(kind) {
        this._done = true
        this.status = 0
        this._setReadyState(4)
        this._emit(kind)
        this._emit('loadend')
    }

    _setReadyState(state) {
        this.readyState = state
        this._emit('readystatechange')
    }

    _emit(type) {
        const event = { type, target: this, currentTarget: this, loaded: 0, total: 0 }
        const handler = this['on' + type]
        if (typeof handler === 'function') handler.call(this, event)
        for (const listener of (this._listeners[type] || []).slice()) listener.call(this, event)
    }
}
ShimXMLHttpRequest.UNSENT = 0
ShimXMLHttpRequest.OPENED = 1
ShimXMLHttpRequest.HEADERS_RECEIVED = 2
ShimXMLHttpRequest.LOADING = 3
ShimXMLHttpRequest.DONE = 4

class MemoryStorage {
    constructor() { this._map = new Map() }
    get length() { return this._map.size }
    key(index) { return Array.from(this._map.keys())[index] ?? null }
    getItem(key) { return this._map.has(String(key)) ? this._map.get(String(key)) : null }
    setItem(key, value) { this._map.set(String(key), String(value)) }
    removeItem(key) { this._map.delete(String(key)) }
    clear() { this._map.clear() }
}

// FileReader over Blob.arrayBuffer()/text(): the SDK reads a file before a multipart upload
// and a JSON error body after a failed download. Events: load, error, loadend (+ on*).
class ShimFileReader {
    constructor() {
        this.readyState = 0
        this.result = null
        this.error = null
        this._listeners = {}
    }

    addEventListener(type, listener) {
        (this._listeners[type] = this._listeners[type] || []).push(listener)
    }

    removeEventListener(type, listener) {
        const list = this._listeners[type] || []
        const index = list.indexOf(listener)
        if (index >= 0) list.splice(index, 1)
    }

    readAsArrayBuffer(blob) { this._read(blob.arrayBuffer()) }
    readAsText(blob) { this._read(blob.text()) }
    abort() {}

    _read(promise) {
        this.readyState = 1
        promise.then((result) => {
            this.readyState = 2
            this.result = result
            this._emit('load')
            this._emit('loadend')
        }, (error) => {
            this.readyState = 2
            this.error = error
            this._emit('error')
            this._emit('loadend')
        })
    }

    _emit(type) {
        const event = { type, target: this, currentTarget: this }
        const handler = this['on' + type]
        if (typeof handler === 'function') handler.call(this, event)
        for (const listener of (this._listeners[type] || []).slice()) listener.call(this, event)
    }
}

let installed = false

function install() {
    if (installed) return
    installed = true
    const g = globalThis
    g.self = g
    g.window = g
    g.WebSocket = BrowserWebSocket
    g.XMLHttpRequest = ShimXMLHttpRequest
    g.localStorage = new MemoryStorage()
    if (typeof g.FileReader === 'undefined') g.FileReader = ShimFileReader
    g.document = { hidden: false, visibilityState: 'visible', addEventListener() {}, removeEventListener() {} }
    if (typeof g.navigator === 'undefined') {
        g.navigator = { userAgent: 'Node.js confab-e2e', onLine: true, language: 'en-US' }
    }
    // Refuse non-loopback fetches too, in case a build uses fetch directly.
    const realFetch = g.fetch
    g.fetch = function guardedFetch(input, init) {
        const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url
        if (!isLoopbackUrl(url)) {
            refuse('fetch', url)
            return Promise.reject(new TypeError('fetch failed: non-loopback URL refused by the test harness'))
        }
        return realFetch(input, init)
    }
}

module.exports = { install, disallowedUrls, openSockets, isLoopbackUrl, BrowserWebSocket, ShimXMLHttpRequest }
