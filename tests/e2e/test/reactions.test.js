'use strict'
// Reactions and pinned messages with both web SDKs: addReaction / deleteReaction reach the
// other party's onReactionChange; getReactionList and getReactionDetail (paged) show who
// reacted; pinMessage / unpinMessage reach onMessagePinEvent and getServerPinnedMessages; one
// bad-input case each.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { settle } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'reactions' })

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('addReaction, deleteReaction, onReactionChange, getReactionList, getReactionDetail', { timeout: 40000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)
            const sent = await leoClient.sendText(roy.username, 'react to me')
            const messageId = String(sent.serverMsgId)
            await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === messageId })

            await royClient.conn.addReaction({ messageId, reaction: 'emoji_1' })
            const first = await leoClient.waitFor('onReactionChange', { predicate: (c) => c.messageId === messageId })
            assert.deepEqual(
                { from: first.from, to: first.to, chatType: first.chatType, messageId: first.messageId },
                { from: roy.username, to: leo.username, chatType: 'singleChat', messageId },
            )
            assert.equal(typeof first.ts, 'number')
            assert.deepEqual(first.reactions.map(({ reaction, count, userList, op, isAddedBySelf }) => ({ reaction, count, userList, op, isAddedBySelf })), [
                { reaction: 'emoji_1', count: 1, userList: [roy.username], op: [{ operator: roy.username, reactionType: 'create' }], isAddedBySelf: false },
            ])

            await leoClient.conn.addReaction({ messageId, reaction: 'emoji_1' })
            const second = await royClient.waitFor('onReactionChange', { predicate: (c) => c.messageId === messageId })
            assert.deepEqual([second.reactions[0].count, second.reactions[0].userList, second.reactions[0].isAddedBySelf], [2, [roy.username, leo.username], true])

            const list = await royClient.conn.getReactionList({ chatType: 'singleChat', messageId })
            assert.equal(list.data.length, 1)
            assert.equal(list.data[0].msgId, messageId)
            const item = list.data[0].reactionList[0]
            assert.deepEqual(
                { reaction: item.reaction, count: item.count, userList: item.userList, isAddedBySelf: item.isAddedBySelf, hasState: 'state' in item },
                { reaction: 'emoji_1', count: 2, userList: [roy.username, leo.username], isAddedBySelf: true, hasState: false },
            )

            const page1 = await royClient.conn.getReactionDetail({ messageId, reaction: 'emoji_1', pageSize: 1 })
            assert.deepEqual([page1.data.userList, page1.data.isAddedBySelf, page1.data.cursor], [[roy.username], true, '1'])
            const page2 = await royClient.conn.getReactionDetail({ messageId, reaction: 'emoji_1', pageSize: 1, cursor: page1.data.cursor })
            assert.deepEqual([page2.data.userList, page2.data.cursor], [[leo.username], ''])

            await royClient.conn.deleteReaction({ messageId, reaction: 'emoji_1' })
            const removed = await leoClient.waitFor('onReactionChange', { predicate: (c) => c.reactions[0].op[0].reactionType === 'delete' })
            assert.deepEqual([removed.reactions[0].count, removed.reactions[0].userList, removed.reactions[0].isAddedBySelf], [1, [leo.username], true])
        }))

        test('pinMessage, unpinMessage, onMessagePinEvent, getServerPinnedMessages', { timeout: 40000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)
            const first = await leoClient.sendText(roy.username, 'pin me')
            const second = await leoClient.sendText(roy.username, 'and me')
            await royClient.waitForCount('onTextMessage', 2)
            const received = royClient.all('onTextMessage')

            await royClient.conn.pinMessage({ conversationId: leo.username, conversationType: 'singleChat', messageId: String(first.serverMsgId) })
            const event = await leoClient.waitFor('onMessagePinEvent')
            assert.deepEqual(
                { messageId: event.messageId, conversationId: event.conversationId, conversationType: event.conversationType, operation: event.operation, operatorId: event.operatorId },
                { messageId: String(first.serverMsgId), conversationId: roy.username, conversationType: 'singleChat', operation: 'pin', operatorId: roy.username },
            )
            await leoClient.conn.pinMessage({ conversationId: roy.username, conversationType: 'singleChat', messageId: String(second.serverMsgId) })
            await royClient.waitFor('onMessagePinEvent')

            const pinned = await royClient.conn.getServerPinnedMessages({ conversationId: leo.username, conversationType: 'singleChat', pageSize: 1 })
            assert.equal(pinned.data.list.length, 1)
            assert.deepEqual(
                { id: pinned.data.list[0].message.id, msg: pinned.data.list[0].message.msg, time: pinned.data.list[0].message.time, operatorId: pinned.data.list[0].operatorId },
                { id: received[1].id, msg: 'and me', time: received[1].time, operatorId: leo.username },
            )
            const rest = await royClient.conn.getServerPinnedMessages({ conversationId: leo.username, conversationType: 'singleChat', pageSize: 1, cursor: pinned.data.cursor })
            assert.deepEqual([rest.data.list.map((p) => p.message.msg), rest.data.cursor], [['pin me'], ''])

            await leoClient.conn.unpinMessage({ conversationId: roy.username, conversationType: 'singleChat', messageId: String(second.serverMsgId) })
            const unpinned = await royClient.waitFor('onMessagePinEvent', { predicate: (e) => e.operation === 'unpin' })
            assert.equal(unpinned.messageId, String(second.serverMsgId))
            const left = await leoClient.conn.getServerPinnedMessages({ conversationId: roy.username, conversationType: 'singleChat' })
            assert.deepEqual(left.data.list.map((p) => p.message.msg), ['pin me'])

            const bad = await settle(royClient.conn.pinMessage({ conversationId: 'amy_nobody', conversationType: 'singleChat', messageId: String(first.serverMsgId) }), 10000, 'pinMessage')
            assert.equal(bad.ok, false, 'must reject')
            assert.equal(bad.error.type, 17, describeError(bad.error))
            assert.equal(bad.error.message, `message ${first.serverMsgId} does not exist`, describeError(bad.error))
        }))

        test('addReaction to a message that does not exist: rejected with the server text', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const result = await settle(leoClient.conn.addReaction({ messageId: '12345', reaction: 'emoji_1' }), 10000, 'addReaction')
            assert.equal(result.ok, false, 'must reject')
            assert.equal(result.error.type, 17, describeError(result.error))
            assert.equal(result.error.message, 'message 12345 does not exist', describeError(result.error))
        }))
    })
}
