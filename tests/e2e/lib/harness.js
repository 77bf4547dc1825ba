'use strict'
// Per-test-file wiring: one Confab server per file, fresh users per test, the
// login-mode table, the end-of-test checks (no non-loopback URL, every client closed)
// and the server log printed when a test fails.

const assert = require('node:assert/strict')
const { before, after } = require('node:test')
const { Client, closeAllClients, disallowedUrls, liveClients, SDK_NAMES } = require('./sdk')
const { ConfabServer } = require('./server')

const LOGIN_MODES = ['agoraToken', 'accessToken', 'pwd']

let userCounter = 0

// Registers a file-level server; returns a context whose fields are filled in `before`.
function useServer(options = {}) {
    const ctx = { server: null }
    before(async () => {
        ctx.server = await ConfabServer.start(options)
    }, { timeout: 60000 })
    after(async () => {
        await closeAllClients()
        if (ctx.server) await ctx.server.cleanup()
    }, { timeout: 30000 })
    return ctx
}

// Wraps a test body: on failure prints the server log; always closes every client the
// body created and checks that no non-loopback URL was touched.
function scenario(ctx, body) {
    return async (t) => {
        const urlsBefore = disallowedUrls.length
        let failed = false
        try {
            await body(t)
        } catch (e) {
            failed = true
            throw e
        } finally {
            await closeAllClients()
            if (failed && ctx.server) {
                process.stderr.write(`\n[${t.name}] failed; ${ctx.server.logTail(12000)}\n`)
            }
        }
        assert.deepEqual(disallowedUrls.slice(urlsBefore), [], 'the SDK must touch loopback URLs only')
        assert.equal(liveClients.size, 0)
    }
}

// Registers fresh users named `<name>_<n>` (one REST call); returns {name: {username, password}}.
async function freshUsers(server, names, app) {
    userCounter += 1
    const suffix = `${process.pid % 10000}x${userCounter}`
    const users = {}
    for (const name of names) users[name] = { username: `${name}_${suffix}`, password: `${name}-secret-${suffix}` }
    await server.registerUsers(Object.values(users).map((u) => ({ username: u.username, password: u.password })), app)
    return users
}

// Credentials for `Client.open()` in a login mode.
async function credentials(server, mode, user, { app, tokenSeconds = 3600 } = {}) {
    switch (mode) {
        case 'agoraToken':
            return { agoraToken: server.userToken(user.username, tokenSeconds, app) }
        case 'accessToken':
            return { accessToken: (await server.passwordGrant(user.username, user.password, app)).access_token }
        case 'pwd':
            return { pwd: user.password }
        default:
            throw new Error(`unknown login mode ${mode}`)
    }
}

// Creates a client for `user` and logs it in (open() resolved and onConnected seen).
async function loggedIn(server, sdkName, user, { mode = 'agoraToken', ...clientOptions } = {}) {
    const client = await Client.create({ sdkName, server, user: user.username, ...clientOptions })
    await client.login(await credentials(server, mode, user, { app: clientOptions.app }))
    return client
}

// The last check of a file: a Leo→Roy message still goes through.
async function assertStillServes(server, sdkName) {
    const users = await freshUsers(server, ['leo', 'roy'])
    const roy = await loggedIn(server, sdkName, users.roy)
    const leo = await loggedIn(server, sdkName, users.leo)
    const sent = await leo.sendText(users.roy.username, 'still there?')
    const got = await roy.waitFor('onTextMessage', { predicate: (m) => m.id === sent.serverMsgId, timeout: 10000 })
    assert.equal(got.msg, 'still there?')
    await leo.close()
    await roy.close()
}

// A compact, JSON-safe view of an SDK error object for assertion messages.
function describeError(error) {
    if (!error || typeof error !== 'object') return String(error)
    const { type, message, reason } = error
    let data = error.data
    if (data && typeof data === 'object') {
        data = { type: data.type, message: data.message, errorType: data.errorType, status: data.xhr && data.xhr.status, responseText: data.xhr && data.xhr.responseText }
    }
    return JSON.stringify({ type, message, reason, data })
}

module.exports = { SDK_NAMES, LOGIN_MODES, useServer, scenario, freshUsers, credentials, loggedIn, assertStillServes, describeError }
