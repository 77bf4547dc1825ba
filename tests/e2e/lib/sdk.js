'use strict'
// Loads the two published SDK web builds, unmodified, after the browser shims, and
// wraps a connection in a small recorder (`Client`) so tests can await SDK events.

const env = require('./browser-env')
env.install()

function loadBuild(id) {
    const mod = require(id)
    const sdk = mod.default || mod
    if (sdk.logger && typeof sdk.logger.disableAll === 'function' && !process.env.SDK_LOG) {
        sdk.logger.disableAll()
    }
    return sdk
}

// name -> { sdk, version } for every build under test.
const BUILDS = {
    'agora-chat': { sdk: loadBuild('agora-chat'), version: require('agora-chat/package.json').version },
    'easemob-websdk': { sdk: loadBuild('easemob-websdk/Easemob-chat.js'), version: require('easemob-websdk/package.json').version },
}
const SDK_NAMES = Object.keys(BUILDS)

// Every event a Client records.
const EVENT_NAMES = [
    'onConnected', 'onDisconnected', 'onReconnecting', 'onError',
    'onTokenWillExpire', 'onTokenExpired',
    'onTextMessage', 'onMessage', 'onReceivedMessage',
    'onOfflineMessageSyncStart', 'onOfflineMessageSyncFinish', 'onStatisticMessage',
    // Message kinds, receipts, recall and edit (message-kinds / receipts-recall-edit tests).
    'onImageMessage', 'onAudioMessage', 'onVideoMessage', 'onFileMessage', 'onLocationMessage',
    'onCmdMessage', 'onCustomMessage', 'onCombineMessage',
    'onDeliveredMessage', 'onReadMessage', 'onChannelMessage', 'onRecallMessage', 'onModifiedMessage',
    // Reactions and pinned messages (reactions test).
    'onReactionChange', 'onMessagePinEvent',
    // Contacts (contacts test).
    'onContactInvited', 'onContactAgreed', 'onContactAdded', 'onContactRefuse', 'onContactDeleted',
    // Multi-device events (multidevice and silent-mode tests).
    'onMultiDeviceEvent',
    // Presence (presence test).
    'onPresenceStatusChange',
]

const liveClients = new Set()
let lastCreatedAt = 0

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms))
}

// Rejects with a readable error when `promise` does not settle within `ms`; always
// clears its timer.
function withTimeout(promise, ms, what) {
    let timer
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    })
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Settles a promise into {ok, value} | {ok:false, error}, with a timeout.
async function settle(promise, ms, what) {
    try {
        return { ok: true, value: await withTimeout(promise, ms, what) }
    } catch (error) {
        return { ok: false, error }
    }
}

class Client {
    // options: { sdkName, server, user, appId (instead of appKey), fixedDevice, app, connectionOptions }
    constructor(options) {
        this.sdkName = options.sdkName
        this.sdk = BUILDS[this.sdkName].sdk
        this.user = options.user
        this.events = []
        this._waiters = []
        const server = options.server
        const app = options.app || server.app
        const connectionOptions = {
            isHttpDNS: false,
            url: server.wsUrl,
            apiUrl: server.httpUrl,
            isFixedDeviceId: Boolean(options.fixedDevice),
            ...options.connectionOptions,
        }
        if (options.appId) connectionOptions.appId = app.appId
        else connectionOptions.appKey = app.appKey
        this.conn = new this.sdk.connection(connectionOptions)
        const handlers = {}
        for (const name of EVENT_NAMES) {
            handlers[name] = (payload) => this._record(name, payload)
        }
        this.conn.addEventHandler('e2e', handlers)
        liveClients.add(this)
    }

    // Creates a client; random resources are `..._<ms>`, so two clients created in the
    // same millisecond would share one. Wait for the clock to move on first.
    static async create(options) {
        while (Date.now() <= lastCreatedAt) await sleep(1)
        lastCreatedAt = Date.now()
        return new Client(options)
    }

    _record(name, payload) {
        const event = { name, payload, at: Date.now() }
        this.events.push(event)
        for (const waiter of this._waiters.slice()) waiter()
    }

    count(name) {
        return this.events.filter((e) => e.name === name).length
    }

    all(name) {
        return this.events.filter((e) => e.name === name).map((e) => e.payload)
    }

    // Resolves with the first recorded (past or future) `name` event matching `predicate`.
    waitFor(name, { predicate = () => true, timeout = 10000 } = {}) {
        return this._waitUntil(() => {
            const event = this.events.find((e) => e.name === name && predicate(e.payload))
            return event ? { value: event } : null
        }, timeout, `${this.user}: ${name}`).then((e) => e.payload)
    }

    // Resolves with the recorded event object ({name, payload, at}).
    waitForEvent(name, { predicate = () => true, timeout = 10000 } = {}) {
        return this._waitUntil(() => {
            const event = this.events.find((e) => e.name === name && predicate(e.payload))
            return event ? { value: event } : null
        }, timeout, `${this.user}: ${name}`)
    }

    // Resolves with the payloads once at least `n` `name` events were recorded.
    waitForCount(name, n, { timeout = 20000 } = {}) {
        return this._waitUntil(() => {
            const list = this.all(name)
            return list.length >= n ? { value: list } : null
        }, timeout, `${this.user}: ${n} x ${name} (have ${this.count(name)})`)
    }

    _waitUntil(check, timeout, what) {
        const first = check()
        if (first) return Promise.resolve(first.value)
        return new Promise((resolve, reject) => {
            const waiter = () => {
                const result = check()
                if (result) {
                    cleanup()
                    resolve(result.value)
                }
            }
            const timer = setTimeout(() => {
                cleanup()
                reject(new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`))
            }, timeout)
            const cleanup = () => {
                clearTimeout(timer)
                const index = this._waiters.indexOf(waiter)
                if (index >= 0) this._waiters.splice(index, 1)
            }
            this._waiters.push(waiter)
        })
    }

    // credentials: { agoraToken } | { accessToken } | { pwd }
    open(credentials, { timeout = 15000 } = {}) {
        return withTimeout(Promise.resolve(this.conn.open({ user: this.user, ...credentials })), timeout, `${this.user}: open()`)
    }

    // Opens and waits for onConnected.
    async login(credentials, options) {
        const result = await this.open(credentials, options)
        await this.waitFor('onConnected', { timeout: 5000 })
        return result
    }

    textMessage(to, msg, extra = {}) {
        return this.sdk.message.create({ chatType: 'singleChat', type: 'txt', to, msg, ...extra })
    }

    sendText(to, msg, { timeout = 20000 } = {}) {
        const message = this.textMessage(to, msg)
        return withTimeout(Promise.resolve(this.conn.send(message)), timeout, `${this.user}: send() to ${to}`)
    }

    isOpened() {
        return typeof this.conn.isOpened === 'function' ? this.conn.isOpened() : undefined
    }

    // Closes the connection and waits until its socket is gone, so its heartbeat and
    // reconnect timers are stopped before the test moves on.
    async close({ timeout = 5000 } = {}) {
        liveClients.delete(this)
        try {
            this.conn.close()
        } catch (e) {
            // close() on a never-opened connection may throw inside the SDK; nothing to clean.
        }
        const deadline = Date.now() + timeout
        while (Date.now() < deadline) {
            const sock = this.conn.sock
            if (!sock || sock.readyState === 3 /* CLOSED */) break
            await sleep(20)
        }
    }
}

async function closeAllClients() {
    const clients = Array.from(liveClients)
    await Promise.all(clients.map((c) => c.close()))
}

module.exports = {
    BUILDS,
    SDK_NAMES,
    Client,
    closeAllClients,
    liveClients,
    sleep,
    withTimeout,
    settle,
    disallowedUrls: env.disallowedUrls,
    openSockets: env.openSockets,
}
