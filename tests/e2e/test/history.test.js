'use strict'
// History roaming (`getHistoryMessages`, PROTOCOL.md §2.8) with both web SDKs: what each
// side reads from history is what the recipient received, field by field, newest-first and
// oldest-first, paged by cursor, filtered by searchOptions, and again after a restart.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { settle, sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'history' })

// The fields a received message and its history copy must share.
function view(message) {
    const { id, type, chatType, from, to, time, ext, msg, customEvent, customExts } = message
    return { id, type, chatType, from, to, time, ext, msg, customEvent, customExts }
}

function history(client, options) {
    return client.conn.getHistoryMessages({ chatType: 'singleChat', ...options })
}

// Every message of the conversation, paging `pageSize` at a time.
async function allPages(client, options) {
    const pages = []
    let cursor = -1
    for (let round = 0; round < 20; round++) {
        const page = await history(client, { ...options, cursor })
        pages.push(page)
        if (page.isLast) break
        cursor = page.cursor
    }
    return pages
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('getHistoryMessages: both directions, paging, searchOptions, both sides, after a restart', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            let leoClient = await loggedIn(server, sdkName, leo)
            const sdk = leoClient.sdk

            const sent = []
            for (const text of ['one', 'two', 'three']) {
                sent.push(await leoClient.conn.send(leoClient.textMessage(roy.username, text, { ext: { n: text.length, tag: text } })))
            }
            const custom = sdk.message.create({
                chatType: 'singleChat', type: 'custom', to: roy.username,
                customEvent: 'poke', customExts: { strength: 'high' },
            })
            sent.push(await leoClient.conn.send(custom))
            const sentIds = sent.map((ack) => String(ack.serverMsgId))

            await royClient.waitForCount('onTextMessage', 3)
            await sleep(300)
            const received = royClient.all('onMessage').flat()
            assert.deepEqual(received.map((m) => m.id), sentIds)
            const expected = received.map(view)

            // Newest first, two per page.
            const up = await allPages(royClient, { targetId: leo.username, pageSize: 2, searchDirection: 'up' })
            assert.deepEqual(up.map((page) => page.messages.length), [2, 2])
            assert.deepEqual(up.map((page) => page.isLast), [false, true])
            assert.deepEqual(up.flatMap((page) => page.messages).map(view), expected.slice().reverse())

            // Oldest first.
            const down = await allPages(royClient, { targetId: leo.username, pageSize: 3, searchDirection: 'down' })
            assert.deepEqual(down.flatMap((page) => page.messages).map(view), expected)

            // The sender's history of the same conversation: the same messages.
            const leoDown = await history(leoClient, { targetId: roy.username, pageSize: 20, searchDirection: 'down' })
            assert.equal(leoDown.isLast, true)
            assert.deepEqual(leoDown.messages.map(view), expected)

            // searchOptions: kinds, time range.
            const onlyCustom = await history(royClient, { targetId: leo.username, searchOptions: { msgTypes: ['custom'] } })
            assert.deepEqual(onlyCustom.messages.map(view), [expected[3]])
            const twoKinds = await history(royClient, { targetId: leo.username, searchDirection: 'down', searchOptions: { msgTypes: ['txt', 'custom'] } })
            assert.equal(twoKinds.messages.length, 4)
            const middle = await history(royClient, {
                targetId: leo.username, searchDirection: 'down',
                searchOptions: { startTime: expected[1].time, endTime: expected[2].time },
            })
            assert.ok(middle.messages.every((m) => m.time >= expected[1].time && m.time <= expected[2].time))
            assert.ok(middle.messages.some((m) => m.id === expected[1].id) && middle.messages.some((m) => m.id === expected[2].id))
            assert.ok(!middle.messages.some((m) => m.id === expected[0].id && m.time < expected[1].time))

            // A conversation with no messages.
            const empty = await history(royClient, { targetId: 'nobody_here' })
            assert.deepEqual({ n: empty.messages.length, isLast: empty.isLast }, { n: 0, isLast: true })

            await leoClient.close()
            await royClient.close()
            await server.restart()

            leoClient = await loggedIn(server, sdkName, leo)
            const afterRestart = await history(leoClient, { targetId: roy.username, searchDirection: 'down' })
            assert.deepEqual(afterRestart.messages.map(view), expected)
            await leoClient.close()
        }))

        test('POST /messages/users and /messages/msg_recall: the recipient gets them like SDK messages; history follows', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const token = await server.appToken()
            const res = await server.rest('POST', '/messages/users', {
                token,
                body: { from: leo.username, to: [roy.username], type: 'txt', body: { msg: 'from the server' }, ext: { k: 'v', n: 2, b: true, o: { a: [1] } } },
            })
            assert.equal(res.status, 200, res.text)
            const id = res.json.data[roy.username]
            assert.match(id, /^\d+$/)
            const got = await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === id })
            assert.deepEqual(
                { from: got.from, to: got.to, msg: got.msg, chatType: got.chatType, ext: got.ext },
                { from: leo.username, to: roy.username, msg: 'from the server', chatType: 'singleChat', ext: { k: 'v', n: 2, b: true, o: { a: [1] } } },
            )
            const roamed = await history(royClient, { targetId: leo.username })
            assert.deepEqual(roamed.messages.map(view), [view(got)])
            const custom = await server.rest('POST', '/messages/users', {
                token,
                body: { from: leo.username, to: [roy.username], type: 'custom', body: { customEvent: 'poke', customExts: { s: 'high' } } },
            })
            assert.equal(custom.status, 200, custom.text)
            const poke = await royClient.waitFor('onMessage', { predicate: (batch) => batch.some((m) => m.id === custom.json.data[roy.username]) })
            const pokeMessage = poke.find((m) => m.id === custom.json.data[roy.username])
            assert.deepEqual({ type: pokeMessage.type, customEvent: pokeMessage.customEvent, customExts: pokeMessage.customExts }, { type: 'custom', customEvent: 'poke', customExts: { s: 'high' } })

            // Recall over REST: Roy gets onRecallMessage, and history no longer has it.
            const recall = await server.rest('POST', '/messages/msg_recall', { token, body: { msg_id: id, from: leo.username, to: roy.username, chat_type: 'chat' } })
            assert.equal(recall.status, 200, recall.text)
            assert.equal(recall.json.data.recalled, 'yes')
            const recalled = await royClient.waitFor('onRecallMessage', { predicate: (m) => m.mid === id })
            assert.deepEqual({ from: recalled.from, to: recalled.to }, { from: leo.username, to: roy.username })
            const afterRecall = await history(royClient, { targetId: leo.username })
            assert.ok(!afterRecall.messages.some((m) => m.id === id))
            const notTheirs = await server.rest('POST', '/messages/msg_recall', { token, body: { msg_id: custom.json.data[roy.username], from: roy.username, to: leo.username } })
            assert.equal(notTheirs.status, 400, notTheirs.text)
            assert.equal(notTheirs.json.error_description, 'only the sender may recall or edit a message')

            const bad = await server.rest('POST', '/messages/users', { token, body: { from: leo.username, to: [roy.username], type: 'gif', body: {} } })
            assert.equal(bad.status, 400)
            assert.deepEqual({ error: bad.json.error, error_description: bad.json.error_description }, { error: 'illegal_argument', error_description: 'invalid message type gif' })
            const userToken = server.userToken(leo.username)
            const notAdmin = await server.rest('POST', '/messages/users', { token: userToken, body: { from: leo.username, to: [roy.username], type: 'txt', body: { msg: 'x' } } })
            assert.equal(notAdmin.status, 401, notAdmin.text)
        }))

        test('POST /messages/users/import: the imported message is in history at its own time, delivered to no one', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)
            const live = await leoClient.sendText(roy.username, 'live')
            await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(live.serverMsgId) })
            const oldTime = Date.now() - 3600 * 1000
            const token = await server.appToken()
            const res = await server.rest('POST', '/messages/users/import', {
                token,
                body: { from: roy.username, target: leo.username, type: 'txt', body: { msg: 'from the archive' }, ext: { k: 'v' }, msg_timestamp: oldTime, is_ack_read: true, need_download: false },
            })
            assert.equal(res.status, 200, res.text)
            const page = await history(leoClient, { targetId: roy.username, searchDirection: 'down' })
            assert.deepEqual(
                page.messages.map((m) => ({ id: m.id, msg: m.msg, from: m.from, to: m.to, time: m.time, ext: m.ext })),
                [
                    { id: res.json.data.msg_id, msg: 'from the archive', from: roy.username, to: leo.username, time: oldTime, ext: { k: 'v' } },
                    { id: String(live.serverMsgId), msg: 'live', from: leo.username, to: roy.username, time: page.messages[1].time, ext: {} },
                ],
            )
            assert.equal(leoClient.all('onTextMessage').length, 0, 'imports are not delivered')
            const bad = await server.rest('POST', '/messages/users/import', { token, body: { from: roy.username, target: leo.username, type: 'txt', body: { msg: 'x' }, msg_timestamp: Date.now() + 3600 * 1000 } })
            assert.deepEqual([bad.status, bad.json.error_description], [400, 'msg_timestamp is in the future'])
        }))

        test('getHistoryMessages with a cursor that is not one: rejected with type 17 and the server text', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const result = await settle(history(leoClient, { targetId: roy.username, cursor: 'not-a-cursor' }), 10000, 'getHistoryMessages')
            assert.equal(result.ok, false, 'must reject')
            assert.equal(result.error.type, 17, describeError(result.error))
            assert.equal(result.error.message, 'invalid cursor', describeError(result.error))
            await leoClient.close()
        }))
    })
}
