'use strict'
// Scenario 3: 200 messages from Leo reach Roy in order, each exactly once — Roy online
// (NOTICE-driven pulls) and Roy offline (UNREAD + paged pulls at login). Exactly once
// also means a later login of the same device gets nothing again.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'ordering' })
const N_MESSAGES = 200

// Sends N numbered texts; the SDK writes them in call order, all in flight at once.
async function sendNumbered(leoClient, to, n) {
    const sends = []
    for (let msgIdx = 0; msgIdx < n; msgIdx++) sends.push(leoClient.sendText(to, `msg #${msgIdx}`, { timeout: 30000 }))
    const results = await Promise.all(sends)
    const ids = results.map((r) => String(r.serverMsgId))
    assert.equal(new Set(ids).size, n, 'every send() got its own serverMsgId')
    return ids
}

function assertInOrderOnce(received, sentIds) {
    const texts = received.map((m) => m.msg)
    const expected = sentIds.map((_, msgIdx) => `msg #${msgIdx}`)
    assert.equal(received.length, sentIds.length, `received ${received.length} messages, expected ${sentIds.length}`)
    assert.deepEqual(texts, expected, 'texts arrive in send order')
    assert.deepEqual(received.map((m) => m.id), sentIds, 'ids arrive in send order and match serverMsgId')
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test(`${N_MESSAGES} messages, Roy online: in order, exactly once`, { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)
            const sentIds = await sendNumbered(leoClient, roy.username, N_MESSAGES)
            await royClient.waitForCount('onTextMessage', N_MESSAGES, { timeout: 30000 })
            await sleep(1000) // room for a duplicate to show up
            assertInOrderOnce(royClient.all('onTextMessage'), sentIds)
            await leoClient.close()
            await royClient.close()
        }))

        test(`${N_MESSAGES} messages, Roy offline then logs in: in order, exactly once, not again on the next login`, { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const sentIds = await sendNumbered(leoClient, roy.username, N_MESSAGES)
            await leoClient.close()

            // A fixed deviceId gives the same resource on both logins.
            const device = { connectionOptions: { deviceId: `roy-${Date.now()}` } }
            const royClient = await loggedIn(server, sdkName, roy, device)
            await royClient.waitForCount('onTextMessage', N_MESSAGES, { timeout: 30000 })
            await royClient.waitFor('onOfflineMessageSyncFinish', { timeout: 10000 })
            await sleep(1000)
            assertInOrderOnce(royClient.all('onTextMessage'), sentIds)
            await royClient.close()

            const again = await loggedIn(server, sdkName, roy, device)
            await sleep(2000)
            assert.equal(again.count('onTextMessage'), 0, 'acknowledged messages are not delivered again to the same device')
            await again.close()
        }))
    })
}
