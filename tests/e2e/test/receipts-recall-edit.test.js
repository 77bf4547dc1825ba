'use strict'
// Receipts, recall and edit of single-chat messages (PROTOCOL.md §4.9): what the other user's
// callbacks receive, field by field, and the SDK's exact error for each refused request.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test, after } = require('node:test')
const { sleep } = require('../lib/sdk')
const { ConfabServer } = require('../lib/server')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'receipts' })

// A second server whose recall window is one second, for the window test.
const shortWindow = { server: null }
after(async () => { if (shortWindow.server) await shortWindow.server.cleanup() })
async function shortWindowServer() {
    if (!shortWindow.server) {
        const config = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-recall-')), 'confab.toml')
        fs.writeFileSync(config, 'recall_window_secs = 1\n')
        shortWindow.server = await ConfabServer.start({ label: 'recall-window', flags: ['--config', config] })
    }
    return shortWindow.server
}

// Leo and Roy online; Leo has sent Roy one text, which Roy has received.
async function conversation(server, sdkName, royOptions = {}) {
    const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
    const royClient = await loggedIn(server, sdkName, roy, royOptions)
    const leoClient = await loggedIn(server, sdkName, leo)
    const sent = await leoClient.sendText(roy.username, 'hello roy')
    const received = await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === sent.serverMsgId })
    return { leo, roy, leoClient, royClient, sent, received }
}

async function rejection(promise) {
    return Promise.resolve(promise).then((value) => assert.fail(`expected a rejection, got ${JSON.stringify(value)}`), (e) => e)
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('delivery, read and channel acks reach the sender with their fields', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy, leoClient, royClient, sent } = await conversation(server, sdkName)
            const { message } = royClient.sdk

            const delivery = await royClient.conn.send(message.create({ type: 'delivery', chatType: 'singleChat', to: leo.username, ackId: sent.serverMsgId }))
            assert.ok(delivery.serverMsgId, 'the delivery ack is acknowledged with a server id')
            const delivered = await leoClient.waitFor('onDeliveredMessage', { predicate: (m) => m.mid === sent.serverMsgId })
            assert.equal(delivered.type, 'delivery')
            assert.equal(delivered.from, roy.username)
            assert.equal(delivered.to, leo.username)
            assert.equal(delivered.id, delivery.serverMsgId)

            const read = await royClient.conn.send(message.create({ type: 'read', chatType: 'singleChat', to: leo.username, id: sent.serverMsgId }))
            const gotRead = await leoClient.waitFor('onReadMessage', { predicate: (m) => m.mid === sent.serverMsgId })
            assert.equal(gotRead.type, 'read')
            assert.equal(gotRead.from, roy.username)
            assert.equal(gotRead.to, leo.username)
            assert.equal(gotRead.id, read.serverMsgId)

            const channel = await royClient.conn.send(message.create({ type: 'channel', chatType: 'singleChat', to: leo.username }))
            const gotChannel = await leoClient.waitFor('onChannelMessage')
            assert.equal(gotChannel.type, 'channel')
            assert.equal(gotChannel.chatType, 'singleChat')
            assert.equal(gotChannel.from, roy.username)
            assert.equal(gotChannel.to, leo.username)
            assert.equal(gotChannel.id, channel.serverMsgId)
            assert.equal(typeof gotChannel.time, 'number')

            // Bad input: a receipt to nobody is refused like a message to nobody.
            const error = await rejection(royClient.conn.send(message.create({ type: 'read', chatType: 'singleChat', to: 'nobody_here', id: sent.serverMsgId })))
            assert.equal(error.type, 204, describeError(error))

            // Receipts are not messages: Leo's text callbacks saw none of them.
            assert.equal(leoClient.count('onTextMessage'), 0)
            await leoClient.close()
            await royClient.close()
        }))

        test('the `delivery: true` option acknowledges every received message by itself', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { roy, leoClient, royClient, sent } = await conversation(server, sdkName, { connectionOptions: { delivery: true } })
            const delivered = await leoClient.waitFor('onDeliveredMessage', { predicate: (m) => m.mid === sent.serverMsgId })
            assert.equal(delivered.from, roy.username)
            await leoClient.close()
            await royClient.close()
        }))

        test('acks to a user who is offline wait in their queue', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, leoClient, royClient, sent } = await conversation(server, sdkName)
            await leoClient.close()
            await royClient.conn.send(royClient.sdk.message.create({ type: 'read', chatType: 'singleChat', to: leo.username, id: sent.serverMsgId }))
            const again = await loggedIn(server, sdkName, leo)
            const read = await again.waitFor('onReadMessage', { predicate: (m) => m.mid === sent.serverMsgId })
            assert.equal(read.type, 'read')
            await again.close()
            await royClient.close()
        }))

        test('recall: Roy gets onRecallMessage with mid and ext', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy, leoClient, royClient, sent } = await conversation(server, sdkName)
            const recalled = await leoClient.conn.recallMessage({ mid: sent.serverMsgId, to: roy.username, chatType: 'singleChat', ext: 'typo' })
            assert.ok(recalled.serverMsgId)
            const got = await royClient.waitFor('onRecallMessage', { predicate: (m) => m.mid === sent.serverMsgId })
            assert.equal(got.from, leo.username)
            assert.equal(got.to, roy.username)
            assert.equal(got.ext, 'typo')
            assert.equal(got.id, recalled.serverMsgId)
            await leoClient.close()
            await royClient.close()
        }))

        test('recall of a message Roy has not pulled yet: he never gets the message', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const kept = await leoClient.sendText(roy.username, 'kept')
            const sent = await leoClient.sendText(roy.username, 'oops')
            await leoClient.conn.recallMessage({ mid: sent.serverMsgId, to: roy.username, chatType: 'singleChat' })
            await leoClient.close()

            const royClient = await loggedIn(server, sdkName, roy)
            await royClient.waitFor('onOfflineMessageSyncFinish')
            const recall = await royClient.waitFor('onRecallMessage', { predicate: (m) => m.mid === sent.serverMsgId })
            assert.equal(recall.from, leo.username)
            await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === kept.serverMsgId })
            await sleep(300)
            assert.deepEqual(royClient.all('onTextMessage').map((m) => m.msg), ['kept'], 'the recalled text never arrives')
            await royClient.close()
        }))

        test('bad input: recall of someone else\'s message, of no message, and after the window', { timeout: 40000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy, leoClient, royClient, sent } = await conversation(server, sdkName)
            let error = await rejection(royClient.conn.recallMessage({ mid: sent.serverMsgId, to: leo.username, chatType: 'singleChat' }))
            // Only the sender may recall; Roy's recall names Leo's conversation, which does not hold it as Roy's.
            assert.equal(error.type, 603, describeError(error))
            assert.equal(error.message, 'You do not have the modified permission.')
            error = await rejection(leoClient.conn.recallMessage({ mid: '1234567890123', to: roy.username, chatType: 'singleChat' }))
            assert.equal(error.type, 1302, describeError(error))
            assert.equal(error.message, 'The message does not exist.')
            await leoClient.close()
            await royClient.close()

            const short = await shortWindowServer()
            const users = await freshUsers(short, ['leo', 'roy'])
            const leoShort = await loggedIn(short, sdkName, users.leo)
            const old = await leoShort.sendText(users.roy.username, 'too late to take back')
            await sleep(1500)
            error = await rejection(leoShort.conn.recallMessage({ mid: old.serverMsgId, to: users.roy.username, chatType: 'singleChat' }))
            assert.equal(error.type, 504, describeError(error))
            assert.equal(error.message, 'exceed recall time limit')
            await leoShort.close()
        }))

        test('edit: Roy gets onModifiedMessage; Leo\'s send() resolves with modifiedInfo', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy, leoClient, royClient, sent, received } = await conversation(server, sdkName)
            const edited = leoClient.sdk.message.create({ type: 'txt', chatType: 'singleChat', to: roy.username, msg: 'hello, Roy!', ext: { edited: true } })
            const result = await leoClient.conn.modifyMessage({ messageId: sent.serverMsgId, modifiedMessage: edited })
            assert.equal(result.modifiedInfo.operatorId, leo.username, JSON.stringify(result))
            assert.equal(result.modifiedInfo.operationCount, 1)
            assert.equal(typeof result.modifiedInfo.operationTime, 'number')
            assert.equal(result.message.msg, 'hello, Roy!')
            assert.equal(result.message.id, sent.serverMsgId)
            assert.equal(result.message.from, leo.username)

            const got = await royClient.waitFor('onModifiedMessage', { predicate: (m) => m.id === sent.serverMsgId })
            assert.equal(got.type, 'txt')
            assert.equal(got.msg, 'hello, Roy!')
            assert.equal(got.from, leo.username)
            assert.equal(got.to, roy.username)
            assert.equal(got.chatType, 'singleChat')
            assert.equal(got.time, received.time, 'the original send time')
            assert.deepEqual(got.ext, { edited: true })
            assert.equal(got.modifiedInfo.operatorId, leo.username)
            assert.equal(got.modifiedInfo.operationCount, 1)

            // A second edit counts on.
            const again = await leoClient.conn.modifyMessage({ messageId: sent.serverMsgId, modifiedMessage: leoClient.sdk.message.create({ type: 'txt', chatType: 'singleChat', to: roy.username, msg: 'hi Roy' }) })
            assert.equal(again.modifiedInfo.operationCount, 2)
            await leoClient.close()
            await royClient.close()
        }))

        test('edit before Roy pulls: he gets the edited text', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const sent = await leoClient.sendText(roy.username, 'v1')
            const edit = leoClient.sdk.message.create({ type: 'txt', chatType: 'singleChat', to: roy.username, msg: 'v2' })
            await leoClient.conn.modifyMessage({ messageId: sent.serverMsgId, modifiedMessage: edit })
            await leoClient.close()
            const royClient = await loggedIn(server, sdkName, roy)
            const got = await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === sent.serverMsgId })
            assert.equal(got.msg, 'v2')
            assert.equal(got.from, leo.username)
            assert.equal(got.modifiedInfo.operationCount, 1)
            assert.equal(got.modifiedInfo.operatorId, leo.username)
            await royClient.close()
        }))

        test('bad input: edit of someone else\'s message and of a message of another kind', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy, leoClient, royClient, sent } = await conversation(server, sdkName)
            const text = (client, to) => client.sdk.message.create({ type: 'txt', chatType: 'singleChat', to, msg: 'mine now' })
            let error = await rejection(royClient.conn.modifyMessage({ messageId: sent.serverMsgId, modifiedMessage: text(royClient, leo.username) }))
            assert.equal(error.type, 603, describeError(error))
            assert.equal(error.message, 'You do not have the modified permission.')
            const location = await leoClient.conn.send(leoClient.sdk.message.create({ type: 'loc', chatType: 'singleChat', to: roy.username, lat: 1, lng: 2, addr: 'here' }))
            error = await rejection(leoClient.conn.modifyMessage({ messageId: location.serverMsgId, modifiedMessage: text(leoClient, roy.username) }))
            assert.equal(error.type, 1303, describeError(error))
            assert.equal(error.message, 'The modify messaged format error.')
            await leoClient.close()
            await royClient.close()
        }))
    })
}
