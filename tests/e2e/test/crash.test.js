'use strict'
// Scenario 4: an ack means durable. Leo's sends are all acknowledged, the server is
// killed with SIGKILL and restarted on the same data dir; Roy then gets every message,
// in order, exactly once.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, assertStillServes } = require('../lib/harness')

const ctx = useServer({ label: 'crash' })
const N_MESSAGES = 50

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test(`${N_MESSAGES} acknowledged messages survive kill -9 and restart`, { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const sends = []
            for (let msgIdx = 0; msgIdx < N_MESSAGES; msgIdx++) sends.push(leoClient.sendText(roy.username, `durable #${msgIdx}`))
            const sentIds = (await Promise.all(sends)).map((r) => String(r.serverMsgId))

            // Kill the moment the last ack is in; Leo is still connected.
            await server.kill()
            await leoClient.close() // stop the SDK's reconnect attempts to the dead port
            await server.serve()

            const royClient = await loggedIn(server, sdkName, roy)
            await royClient.waitForCount('onTextMessage', N_MESSAGES, { timeout: 30000 })
            await sleep(1000)
            const received = royClient.all('onTextMessage')
            assert.equal(received.length, N_MESSAGES)
            assert.deepEqual(received.map((m) => m.msg), sentIds.map((_, msgIdx) => `durable #${msgIdx}`))
            assert.deepEqual(received.map((m) => m.id), sentIds)
            await royClient.close()
        }))

        test('users and credentials survive kill -9 and restart; the server serves afterwards', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            await server.killAndRestart()
            // Password login needs the user and password hash from disk.
            const leoClient = await loggedIn(server, sdkName, leo, { mode: 'pwd' })
            await leoClient.close()
            await assertStillServes(server, sdkName)
        }))
    })
}
