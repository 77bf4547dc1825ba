'use strict'
// A raw msync client (the `ws` package + protobufjs on the server's own
// crates/confab-proto/proto/msync.proto, so there is one schema) for inputs the
// SDK never sends: malformed, truncated, text and oversized frames, unknown commands.

const path = require('node:path')
const protobuf = require('protobufjs')
const WebSocket = require('ws')

const root = protobuf.loadSync(path.resolve(__dirname, '../../../crates/confab-proto/proto/msync.proto'))
const T = (name) => root.lookupType(`easemob.pb.${name}`)
const MSync = T('MSync')
const Provision = T('Provision')
const CommUnreadDL = T('CommUnreadDL')
const CommSyncDL = T('CommSyncDL')
const CommSyncUL = T('CommSyncUL')
const CommNotice = T('CommNotice')
const MessageBody = T('MessageBody')

const COMMAND = { SYNC: 0, UNREAD: 1, NOTICE: 2, PROVISION: 3, LOGOUT: 4 }
const PAYLOAD_TYPE = { 0: CommSyncDL, 1: CommUnreadDL, 2: CommNotice, 3: Provision }

function encodeFrame(fields) {
    return Buffer.from(MSync.encode(MSync.fromObject(fields)).finish())
}

function encodeProvisionFrame({ appKey, user, token, resource }) {
    const provision = Provision.encode(Provision.fromObject({
        osType: 16, version: 'raw-e2e', compressType: [0], encryptType: [0],
        deviceName: 'webim', deviceUuid: resource, resource,
        authToken: JSON.stringify({ token: `$t$${token}` }), sessionId: `${Date.now()}:`, actionVersion: 'v5.1',
    })).finish()
    return encodeFrame({
        version: 0, command: COMMAND.PROVISION, deviceId: 0, encryptType: [0],
        guid: { appKey, name: user, domain: 'easemob.com', clientResource: resource },
        auth: `$t$${token}`, payload: provision,
    })
}

// Decodes a server frame; `payload` is decoded by command when the command is known.
function decodeFrame(bytes) {
    const frame = MSync.toObject(MSync.decode(bytes), { longs: String, enums: Number, bytes: Buffer, defaults: false })
    const type = PAYLOAD_TYPE[frame.command]
    if (type && frame.payload) {
        try {
            frame.decoded = type.toObject(type.decode(frame.payload), { longs: String, enums: Number, defaults: false })
        } catch (e) {
            frame.decodeError = e.message
        }
    }
    return frame
}

// One raw WebSocket; records every inbound message and the close.
class RawSocket {
    constructor(url) {
        this.url = url
        this.messages = []
        this.closed = null
        this.errors = []
        this._waiters = []
        this.ws = new WebSocket(url)
        this.ws.binaryType = 'nodebuffer'
        this.ws.on('error', (e) => { this.errors.push(e.message); this._wake() })
        this.ws.on('message', (data, isBinary) => { this.messages.push({ data, isBinary, at: Date.now() }); this._wake() })
        this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString(), at: Date.now() }; this._wake() })
        this.opened = new Promise((resolve, reject) => {
            this.ws.once('open', resolve)
            this.ws.once('close', () => reject(new Error(`raw socket closed before open (${url})`)))
        })
        this.opened.catch(() => {})
    }

    _wake() { for (const w of this._waiters.slice()) w() }

    // Resolves when `check()` returns a truthy value, or rejects after `timeout` ms.
    until(check, timeout, what) {
        const first = check()
        if (first) return Promise.resolve(first)
        return new Promise((resolve, reject) => {
            const waiter = () => {
                const value = check()
                if (value) { done(); resolve(value) }
            }
            const timer = setTimeout(() => { done(); reject(new Error(`raw socket: timed out after ${timeout} ms waiting for ${what}`)) }, timeout)
            const done = () => {
                clearTimeout(timer)
                this._waiters.splice(this._waiters.indexOf(waiter), 1)
            }
            this._waiters.push(waiter)
        })
    }

    // Resolves with {code, reason} once the server has closed the socket.
    closedWith(timeout = 5000) {
        return this.until(() => this.closed, timeout, 'the server to close the socket')
    }

    // Resolves with the next decoded frame of `command` after index `since`.
    async nextFrame(command, since, timeout = 5000) {
        let seen = since
        return this.until(() => {
            for (; seen < this.messages.length; seen++) {
                const m = this.messages[seen]
                if (!m.isBinary) continue
                let frame
                try { frame = decodeFrame(m.data) } catch (e) { continue }
                if (frame.command === command) return frame
            }
            return null
        }, timeout, `a frame with command ${command}`)
    }

    send(data, options) {
        return new Promise((resolve) => this.ws.send(data, options, () => resolve()))
    }

    async close() {
        if (this.closed) return
        if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) {
            try { this.ws.close() } catch (e) { /* already closing */ }
        }
        try {
            await this.until(() => this.closed, 3000, 'close')
        } catch (e) {
            this.ws.terminate()
        }
    }
}

module.exports = {
    root, MSync, Provision, CommUnreadDL, CommSyncDL, CommSyncUL, CommNotice, MessageBody,
    COMMAND, encodeFrame, encodeProvisionFrame, decodeFrame, RawSocket,
}
