'use strict'
// Scenario 6: a second login on the same resource replaces the first session. Both
// connections use isFixedDeviceId:true, so they share the resource kept in this
// process's localStorage. The first is told 206 (USER_LOGIN_ANOTHER_DEVICE) and does not
// reconnect; the second keeps working in both directions.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'kick' })
const LOGIN_ANOTHER_DEVICE = 206

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('second login on the same resource kicks the first with 206; no reconnect; the second stays usable', { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)

            const first = await Client.create({ sdkName, server, user: leo.username, fixedDevice: true })
            await first.login(await credentials(server, 'agoraToken', leo))
            const second = await Client.create({ sdkName, server, user: leo.username, fixedDevice: true })
            await second.login(await credentials(server, 'agoraToken', leo))
            assert.equal(first.conn.clientResource, second.conn.clientResource, 'both connections use the same resource')

            const disconnected = await first.waitFor('onDisconnected', { timeout: 10000 })
            const errors = first.all('onError')
            t.diagnostic(`first: onDisconnected ${describeError(disconnected)}; onError ${errors.map(describeError).join(', ') || 'none'}`)
            const types = [disconnected && disconnected.type, ...errors.map((e) => e && e.type)]
            assert.ok(types.includes(LOGIN_ANOTHER_DEVICE),
                `the kicked connection reports 206; got onDisconnected ${describeError(disconnected)}, onError ${errors.map(describeError).join(', ')}`)

            await sleep(3000) // the SDK's first reconnect would come after 1–2 s
            assert.equal(first.count('onReconnecting'), 0, 'the kicked connection does not reconnect')
            assert.equal(first.count('onConnected'), 1, 'the kicked connection does not log in again')
            assert.equal(second.count('onDisconnected'), 0, 'the new connection was not disconnected')

            const out = await second.sendText(roy.username, 'from the new device')
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(got.id, String(out.serverMsgId))
            const back = await royClient.sendText(leo.username, 'hello new device')
            const received = await second.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(received.id, String(back.serverMsgId))
            assert.equal(first.count('onTextMessage'), 0, 'the kicked connection receives nothing')

            await first.close()
            await second.close()
            await royClient.close()
        }))
    })
}
