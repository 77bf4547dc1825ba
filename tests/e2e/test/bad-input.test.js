'use strict'
// Scenario 8: bad input through the SDK (and raw HTTP for bodies the SDK never sends).
// Each case pins the exact error object the SDK surfaces; the file ends by checking
// that the server still serves a Leo→Roy message.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { describe, test } = require('node:test')
const { Client, sleep, settle } = require('../lib/sdk')
const { userTokenIssuedAt } = require('../lib/server')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials, loggedIn, assertStillServes, describeError } = require('../lib/harness')

const ctx = useServer({
    label: 'bad-input',
    apps: [{ org: 'e2eorg', name: 'e2eapp' }, { org: 'e2eorg', name: 'otherapp' }],
})
const MAX_TEXT_BYTES = 5120 // confab serve default (--max-text-bytes)

// SDK error types (PROTOCOL.md Appendix B).
const TYPE = {
    OPEN_ERROR: 1,
    TOKEN_NOT_ASSIGN: 28,
    TOKEN_EXPIRED: 56,
    USER_NOT_FOUND: 204,
    MESSAGE_SIZE_LIMIT: 511,
}
// What the SDK surfaces for a message to a user that does not exist: Confab answers the
// send with Status FAIL "username <to> doesn't exist!", which the SDK maps to 204.
const UNKNOWN_RECIPIENT_TYPE = TYPE.USER_NOT_FOUND

function hex32() {
    return crypto.randomBytes(16).toString('hex')
}

// Opens with `credentials` and expects open() to reject; returns {error, client}.
async function expectOpenRejected(sdkName, user, creds) {
    const client = await Client.create({ sdkName, server: ctx.server, user })
    const result = await settle(client.open(creds, { timeout: 20000 }), 20000, 'open()')
    assert.equal(result.ok, false, `open() must reject; resolved with ${JSON.stringify(result.value)}`)
    assert.ok(!(result.error instanceof Error && /timed out/.test(result.error.message)), result.error && result.error.message)
    return { error: result.error, client }
}

// A token failure: open() rejects with `type`, onError reports the same, no retry.
async function expectTokenLoginFails(t, sdkName, user, token, type) {
    const { error, client } = await expectOpenRejected(sdkName, user, { agoraToken: token })
    t.diagnostic(`open() rejected with ${describeError(error)}`)
    assert.equal(error.type, type, `open() rejection ${describeError(error)}`)
    const onError = await client.waitFor('onError', { timeout: 3000 })
    assert.equal(onError.type, type, `onError ${describeError(onError)}`)
    await sleep(2500) // the SDK would retry after 1–2 s for a retryable error
    assert.equal(client.count('onConnected'), 0)
    assert.equal(client.count('onError'), 1, 'no retries: exactly one onError')
    await client.close()
    return error
}

function assertErrorBody(res, status) {
    assert.equal(res.status, status, `status ${res.status} body ${res.text}`)
    assert.ok(res.json && typeof res.json === 'object', `JSON body, got ${res.text}`)
    assert.equal(typeof res.json.error, 'string', `"error" in ${res.text}`)
    assert.equal(typeof res.json.error_description, 'string', `"error_description" in ${res.text}`)
    assert.equal(typeof res.json.timestamp, 'number', `"timestamp" in ${res.text}`)
    assert.equal(typeof res.json.duration, 'number', `"duration" in ${res.text}`)
    assert.match(res.headers.get('content-type') || '', /application\/json/)
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('token signed with the wrong certificate → 28', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const forged = userTokenIssuedAt({ appId: server.app.appId, appCertificate: hex32() }, leo.username, Math.floor(Date.now() / 1000), 3600)
            const error = await expectTokenLoginFails(t, sdkName, leo.username, forged, TYPE.TOKEN_NOT_ASSIGN)
            assert.equal(error.message, 'INVALID_TOKEN')
        }))

        test('a token that is not a token → 28', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            await expectTokenLoginFails(t, sdkName, leo.username, 'not-a-token', TYPE.TOKEN_NOT_ASSIGN)
        }))

        test('expired token → 56', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const expired = userTokenIssuedAt(server.app, leo.username, Math.floor(Date.now() / 1000) - 7200, 3600)
            const error = await expectTokenLoginFails(t, sdkName, leo.username, expired, TYPE.TOKEN_EXPIRED)
            assert.equal(error.message, 'Sorry, token expired')
        }))

        test('token of another app → 28', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const otherApp = server.apps[1]
            assert.notEqual(otherApp.appId, server.app.appId)
            const token = server.userToken(leo.username, 3600, otherApp)
            await expectTokenLoginFails(t, sdkName, leo.username, token, TYPE.TOKEN_NOT_ASSIGN)
        }))

        test('unknown user with a valid token → 204', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const ghost = `ghost_${Date.now()}`
            const error = await expectTokenLoginFails(t, sdkName, ghost, server.userToken(ghost, 3600), TYPE.USER_NOT_FOUND)
            assert.equal(error.message, 'User not found')
        }))

        test('pwd login, wrong password → open() rejects {type 1, message "invalid password"}', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const { error, client } = await expectOpenRejected(sdkName, leo.username, { pwd: 'wrong-password' })
            t.diagnostic(`open() rejected with ${describeError(error)}`)
            assert.equal(error.type, TYPE.OPEN_ERROR, describeError(error))
            assert.equal(error.message, 'invalid password', describeError(error))
            assert.equal(client.count('onConnected'), 0)
            await client.close()
        }))

        test('pwd login, unknown user → open() rejects {type 1, message "user not found"}', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { error, client } = await expectOpenRejected(sdkName, `ghost_${Date.now()}`, { pwd: 'whatever' })
            t.diagnostic(`open() rejected with ${describeError(error)}`)
            assert.equal(error.type, TYPE.OPEN_ERROR, describeError(error))
            assert.equal(error.message, 'user not found', describeError(error))
            await client.close()
        }))

        test(`text over ${MAX_TEXT_BYTES} bytes → send() rejects 511; at the limit it goes through`, { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)

            for (const [label, text] of [
                ['ASCII, limit + 1 bytes', 'x'.repeat(MAX_TEXT_BYTES + 1)],
                ['2000 CJK characters = 6000 UTF-8 bytes', '你'.repeat(2000)],
            ]) {
                const result = await settle(leoClient.sendText(roy.username, text), 20000, 'send()')
                assert.equal(result.ok, false, `${label}: send() must reject`)
                t.diagnostic(`${label}: send() rejected with ${describeError(result.error)}`)
                assert.equal(result.error.type, TYPE.MESSAGE_SIZE_LIMIT, `${label}: ${describeError(result.error)}`)
            }
            assert.equal(leoClient.count('onReconnecting'), 0, 'a rejected send does not cost the session')

            const atLimit = 'y'.repeat(MAX_TEXT_BYTES)
            const sent = await leoClient.sendText(roy.username, atLimit)
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(got.id, String(sent.serverMsgId))
            assert.equal(got.msg, atLimit)
            assert.equal(royClient.count('onTextMessage'), 1, 'oversized texts were not delivered')
            await leoClient.close()
            await royClient.close()
        }))

        test('message to a user that does not exist → send() rejects', { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const result = await settle(leoClient.sendText(`nobody_${Date.now()}`, 'hello?'), 20000, 'send()')
            assert.equal(result.ok, false, `send() must reject; resolved with ${JSON.stringify(result.value)}`)
            t.diagnostic(`send() to an unknown user rejected with ${describeError(result.error)}`)
            assert.equal(result.error.type, UNKNOWN_RECIPIENT_TYPE, describeError(result.error))
            // The session is unharmed.
            assert.equal(leoClient.count('onReconnecting'), 0)
            const royClient = await loggedIn(server, sdkName, roy)
            const sent = await leoClient.sendText(roy.username, 'after the bad one')
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(got.id, String(sent.serverMsgId))
            await leoClient.close()
            await royClient.close()
        }))
    })
}

describe('REST bodies that do not parse', () => {
    test('POST /token with broken JSON → 400 with the JSON error shape', { timeout: 10000 }, scenario(ctx, async () => {
        const res = await ctx.server.rest('POST', '/token', { rawBody: '{"grant_type":"password","username":' })
        assertErrorBody(res, 400)
    }))

    test('POST /token with a JSON body of the wrong shape → 400 with the JSON error shape', { timeout: 10000 }, scenario(ctx, async () => {
        const res = await ctx.server.rest('POST', '/token', { rawBody: '[1,2,3]' })
        assertErrorBody(res, 400)
    }))

    test('POST /users with broken JSON → 400 with the JSON error shape', { timeout: 10000 }, scenario(ctx, async () => {
        const token = await ctx.server.appToken()
        const res = await ctx.server.rest('POST', '/users', { token, rawBody: '{"username":"x", "password":' })
        assertErrorBody(res, 400)
    }))

    test('POST /users with a non-JSON body → 400 with the JSON error shape', { timeout: 10000 }, scenario(ctx, async () => {
        const token = await ctx.server.appToken()
        const res = await ctx.server.rest('POST', '/users', { token, rawBody: '\u0000\u00ff garbage' })
        assertErrorBody(res, 400)
    }))
})

for (const sdkName of SDK_NAMES) {
    test(`${sdkName}: after all of the above the server still serves a Leo→Roy message`, { timeout: 30000 }, scenario(ctx, async () => {
        await assertStillServes(ctx.server, sdkName)
    }))
}
