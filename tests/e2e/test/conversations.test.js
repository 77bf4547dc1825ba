'use strict'
// Server-side conversations with both web SDKs (PROTOCOL.md §2.8): getServerConversations with
// cursor paging, unread counts cleared by a conversation read ack, the last message as received;
// pinning, marks, one-way history removal and deleteConversation; one bad-input case.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { settle } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'conversations' })

function view(message) {
    const { id, type, chatType, from, to, time, ext, msg } = message
    return { id, type, chatType, from, to, time, ext, msg }
}

async function listAll(client, pageSize) {
    const pages = []
    let cursor = ''
    for (let round = 0; round < 10; round++) {
        const result = await client.conn.getServerConversations({ pageSize, cursor })
        pages.push(result.data)
        cursor = result.data.cursor
        if (!cursor) break
    }
    return pages
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('getServerConversations, read ack, pin, mark, removeHistoryMessages, deleteConversation', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy, amy } = await freshUsers(server, ['leo', 'roy', 'amy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)
            const amyClient = await loggedIn(server, sdkName, amy)
            const sdk = royClient.sdk

            const one = await leoClient.conn.send(leoClient.textMessage(roy.username, 'one'))
            await leoClient.conn.send(leoClient.textMessage(roy.username, 'two', { ext: { k: 'v' } }))
            await amyClient.conn.send(amyClient.textMessage(roy.username, 'hi'))
            await royClient.waitForCount('onTextMessage', 3)
            const received = royClient.all('onTextMessage')

            // Newest first, one per page; the last message as Roy received it.
            const pages = await listAll(royClient, 1)
            assert.deepEqual(pages.map((page) => page.conversations.length), [1, 1])
            assert.equal(pages[1].cursor, '')
            const [amyConversation, leoConversation] = pages.map((page) => page.conversations[0])
            assert.deepEqual(
                { ...amyConversation, lastMessage: undefined },
                { conversationId: amy.username, conversationType: 'singleChat', isPinned: false, pinnedTime: 0, unReadCount: 1, marks: [], lastMessage: undefined },
            )
            assert.deepEqual(view(amyConversation.lastMessage), view(received[2]))
            assert.equal(leoConversation.unReadCount, 2)
            assert.deepEqual(view(leoConversation.lastMessage), view(received[1]))

            // A conversation read ack clears the count.
            await royClient.conn.send(sdk.message.create({ type: 'channel', chatType: 'singleChat', to: leo.username }))
            const afterRead = (await royClient.conn.getServerConversations({ pageSize: 20 })).data.conversations
            assert.deepEqual(afterRead.map((c) => [c.conversationId, c.unReadCount]), [[amy.username, 1], [leo.username, 0]])

            // Pin and mark Leo's conversation.
            const pinned = await royClient.conn.pinConversation({ conversationId: leo.username, conversationType: 'singleChat', isPinned: true })
            assert.equal(pinned.data.isPinned, true)
            assert.ok(pinned.data.pinnedTime > 0)
            const leoConversationRef = [{ conversationId: leo.username, conversationType: 'singleChat' }]
            await royClient.conn.addConversationMark({ conversations: leoConversationRef, mark: 3 })
            await royClient.conn.addConversationMark({ conversations: leoConversationRef, mark: 5 })
            await royClient.conn.removeConversationMark({ conversations: leoConversationRef, mark: 5 })
            const onlyPinned = (await royClient.conn.getServerPinnedConversations({ pageSize: 20 })).data.conversations
            assert.deepEqual(onlyPinned.map((c) => [c.conversationId, c.isPinned, c.pinnedTime, c.marks]), [[leo.username, true, pinned.data.pinnedTime, [3]]])
            const marked = (await royClient.conn.getServerConversationsByFilter({ pageSize: 20, filter: { mark: 3 } })).data.conversations
            assert.deepEqual(marked.map((c) => c.conversationId), [leo.username])
            const notMarked = (await royClient.conn.getServerConversationsByFilter({ pageSize: 20, filter: { mark: 5 } })).data.conversations
            assert.deepEqual(notMarked, [])
            const unpinned = await royClient.conn.pinConversation({ conversationId: leo.username, conversationType: 'singleChat', isPinned: false })
            assert.equal(unpinned.data.isPinned, false)
            assert.equal((await royClient.conn.getServerPinnedConversations({ pageSize: 20 })).data.conversations.length, 0)

            // One-way removal: Roy's history loses 'one', Leo's keeps it.
            await royClient.conn.removeHistoryMessages({ targetId: leo.username, chatType: 'singleChat', messageIds: [String(one.serverMsgId)] })
            const royHistory = await royClient.conn.getHistoryMessages({ targetId: leo.username, chatType: 'singleChat', searchDirection: 'down' })
            assert.deepEqual(royHistory.messages.map((m) => m.msg), ['two'])
            const leoHistory = await leoClient.conn.getHistoryMessages({ targetId: roy.username, chatType: 'singleChat', searchDirection: 'down' })
            assert.deepEqual(leoHistory.messages.map((m) => m.msg), ['one', 'two'])
            await royClient.conn.removeHistoryMessages({ targetId: leo.username, chatType: 'singleChat', beforeTimeStamp: Date.now() + 1 })
            const cleared = await royClient.conn.getHistoryMessages({ targetId: leo.username, chatType: 'singleChat' })
            assert.equal(cleared.messages.length, 0)

            // deleteConversation with its history: gone from the list and from history.
            await royClient.conn.deleteConversation({ channel: amy.username, chatType: 'singleChat', deleteRoam: true })
            const afterDelete = (await royClient.conn.getServerConversations({ pageSize: 20 })).data.conversations
            assert.deepEqual(afterDelete.map((c) => c.conversationId), [])
            const amyHistory = await royClient.conn.getHistoryMessages({ targetId: amy.username, chatType: 'singleChat' })
            assert.equal(amyHistory.messages.length, 0)
            // A newer message brings it back.
            await amyClient.conn.send(amyClient.textMessage(roy.username, 'again'))
            const back = (await royClient.conn.getServerConversations({ pageSize: 20 })).data.conversations
            assert.deepEqual(back.map((c) => [c.conversationId, c.unReadCount, c.lastMessage.msg]), [[amy.username, 1, 'again']])
        }))

        test('deleteConversation of a name that cannot be a user: rejected with type 17 and the server text', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const result = await settle(Promise.resolve(leoClient.conn.deleteConversation({ channel: 'no such/user', chatType: 'singleChat', deleteRoam: false })), 10000, 'deleteConversation')
            assert.equal(result.ok, false, 'must reject')
            assert.equal(result.error.type, 17, describeError(result.error))
            assert.equal(result.error.message, 'invalid conversation no such/user', describeError(result.error))
        }))
    })
}
