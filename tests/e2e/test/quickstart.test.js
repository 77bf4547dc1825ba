'use strict'
// Scenarios 1, 2 and 7: the SDK quickstart (offline delivery after the sender closed),
// online delivery via NOTICE, and appId-only initialisation — for both SDK builds and,
// for the quickstart, all three login modes.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client } = require('../lib/sdk')
const { SDK_NAMES, LOGIN_MODES, useServer, scenario, freshUsers, credentials, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'quickstart' })
const TEXT = 'Hi, how are you doing?'

function assertTextMessage(got, { id, from, to, msg }) {
    assert.equal(got.id, id, 'received id = sender serverMsgId')
    assert.equal(got.from, from)
    assert.equal(got.to, to)
    assert.equal(got.msg, msg)
    assert.equal(got.chatType, 'singleChat')
    assert.equal(got.type, 'txt')
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        for (const mode of LOGIN_MODES) {
            test(`quickstart: Leo sends, closes; Roy logs in and receives (${mode})`, { timeout: 60000 }, scenario(ctx, async () => {
                const { server } = ctx
                const { leo, roy } = await freshUsers(server, ['leo', 'roy'])

                const leoClient = await Client.create({ sdkName, server, user: leo.username })
                const opened = await leoClient.open(await credentials(server, mode, leo))
                assert.equal(typeof opened.accessToken, 'string', 'open() resolves with {accessToken}')
                await leoClient.waitFor('onConnected', { timeout: 5000 })

                const sent = await leoClient.sendText(roy.username, TEXT)
                assert.match(String(sent.serverMsgId), /^\d+$/, `serverMsgId in ${JSON.stringify(sent)}`)
                assert.notEqual(String(sent.serverMsgId), '0')
                assert.equal(typeof sent.localMsgId, 'string')
                await leoClient.close()

                const royClient = await loggedIn(server, sdkName, roy, { mode })
                const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
                assertTextMessage(got, { id: String(sent.serverMsgId), from: leo.username, to: roy.username, msg: TEXT })
                await royClient.close()
            }))
        }

        test('online delivery: Roy connected before Leo sends (NOTICE + pull)', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)
            const sent = await leoClient.sendText(roy.username, TEXT)
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assertTextMessage(got, { id: String(sent.serverMsgId), from: leo.username, to: roy.username, msg: TEXT })
            // And back, so both directions go through live sessions.
            const reply = await royClient.sendText(leo.username, 'Fine, thanks!')
            const back = await leoClient.waitFor('onTextMessage', { timeout: 10000 })
            assertTextMessage(back, { id: String(reply.serverMsgId), from: roy.username, to: leo.username, msg: 'Fine, thanks!' })
            await leoClient.close()
            await royClient.close()
        }))

        test('appId-only initialisation (QQ quickstart style) with agoraToken login', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await Client.create({ sdkName, server, user: leo.username, appId: true })
            assert.equal(leoClient.conn.appKey || '', '', 'the SDK knows no app key')
            await leoClient.login(await credentials(server, 'agoraToken', leo))
            const sent = await leoClient.sendText(roy.username, TEXT)
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assertTextMessage(got, { id: String(sent.serverMsgId), from: leo.username, to: roy.username, msg: TEXT })
            await leoClient.close()
            await royClient.close()
        }))
    })
}
