'use strict'
// Scenario 5: token expiry as the SDK sees it. The timers are client-side and armed from
// the absolute expiry Confab puts in the Provision reply: onTokenWillExpire at 80 % of
// the remaining life, onTokenExpired (and a close) at the deadline. renewToken() asks
// GET /sdk/users/{user}/token/expires for the new deadline and re-arms them.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, sleep, withTimeout } = require('../lib/sdk')
const { decodeToken } = require('../lib/server')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'token-expiry' })
const SHORT_TOKEN_SECONDS = 5
const TOLERANCE_MS = 600

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test(`a ${SHORT_TOKEN_SECONDS} s token: onTokenWillExpire at ~80 %, onTokenExpired at the deadline, then disconnected`, { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const token = server.userToken(leo.username, SHORT_TOKEN_SECONDS)
            const { issueTs, expire } = decodeToken(token)
            const deadlineMs = (issueTs + expire) * 1000

            const leoClient = await Client.create({ sdkName, server, user: leo.username })
            await leoClient.open({ agoraToken: token })
            const loginAt = Date.now()
            const remaining = deadlineMs - loginAt
            assert.ok(remaining > 2000, `the token still has ${remaining} ms left after login`)

            const willExpire = await leoClient.waitForEvent('onTokenWillExpire', { timeout: remaining + 2000 })
            const expired = await leoClient.waitForEvent('onTokenExpired', { timeout: remaining + 2000 })
            await leoClient.waitFor('onDisconnected', { timeout: 3000 })
            t.diagnostic(`remaining at login ${remaining} ms; willExpire after ${willExpire.at - loginAt} ms (expected ~${Math.round(remaining * 0.8)}); expired after ${expired.at - loginAt} ms (expected ~${remaining})`)

            assert.ok(Math.abs(willExpire.at - (loginAt + remaining * 0.8)) <= TOLERANCE_MS,
                `onTokenWillExpire ${willExpire.at - loginAt} ms after login, expected ~${Math.round(remaining * 0.8)} ms`)
            assert.ok(Math.abs(expired.at - deadlineMs) <= TOLERANCE_MS,
                `onTokenExpired ${expired.at - deadlineMs} ms from the token deadline`)
            assert.equal(leoClient.count('onTokenExpired'), 1)
            await leoClient.close()
        }))

        test('renewToken() in onTokenWillExpire resolves with a future expiry; the session outlives the old token', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const token = server.userToken(leo.username, SHORT_TOKEN_SECONDS)
            const { issueTs, expire } = decodeToken(token)
            const deadlineMs = (issueTs + expire) * 1000

            const leoClient = await Client.create({ sdkName, server, user: leo.username })
            await leoClient.open({ agoraToken: token })
            await leoClient.waitFor('onTokenWillExpire', { timeout: deadlineMs - Date.now() + 2000 })

            const newToken = server.userToken(leo.username, 3600)
            const newDeadlineMs = (decodeToken(newToken).issueTs + 3600) * 1000
            const renewed = await withTimeout(Promise.resolve(leoClient.conn.renewToken(newToken)), 10000, 'renewToken()')
            assert.equal(renewed.status, true, JSON.stringify(renewed))
            assert.equal(renewed.token, newToken)
            assert.ok(Number(renewed.expire) > Date.now() + 3000 * 1000, `expire ${renewed.expire} is about an hour ahead`)
            assert.ok(Math.abs(Number(renewed.expire) - newDeadlineMs) <= 2000, `expire ${renewed.expire} ~ the new token's deadline ${newDeadlineMs}`)

            await sleep(Math.max(0, deadlineMs - Date.now()) + 1500)
            assert.equal(leoClient.count('onTokenExpired'), 0, 'no onTokenExpired after renewal')
            assert.equal(leoClient.count('onDisconnected'), 0, 'still connected past the old deadline')
            const sent = await leoClient.sendText(roy.username, 'renewed')
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(got.id, String(sent.serverMsgId))
            await leoClient.close()
            await royClient.close()
        }))
    })
}
