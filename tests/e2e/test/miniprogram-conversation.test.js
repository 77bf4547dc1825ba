'use strict'
// A one-to-one conversation on the mini-program build (easemob-websdk 4.21.1 miniProgram,
// unmodified, on the `wx` and the `qq` runtime; https/wss to `confab serve` with its TLS listener and the
// test CA): Leo and Roy, each on a phone of their own, and what Roy's (or Leo's) callbacks
// receive, field by field, mirroring the web tests: message kinds (message-kinds.test.js),
// receipts, recall and edit (receipts-recall-edit.test.js), history and server conversations
// (history.test.js, conversations.test.js) and reactions (reactions.test.js); a video uploaded
// with `uploadFile` whose first frame Roy's phone downloads; a bad-input case per feature.

const fs = require('node:fs')
const path = require('node:path')
const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { SDK_FILE, IM_HOST, useMiniProgramEnv, newRuntime, appUsers, scenario, waitUntil, sleep } = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-conversation' })

// Every JS value type of PROTOCOL.md §4.8, as in message-kinds.test.js.
const EXT = { i: 7, neg: -3, s: 'str', b: true, f: false, d: 1.5, o: { k: [1, 2] }, a: ['x', 1], empty: '' }

const EVENTS = [
    'onConnected', 'onTextMessage', 'onImageMessage', 'onAudioMessage', 'onVideoMessage', 'onFileMessage', 'onLocationMessage', 'onCmdMessage', 'onCustomMessage', 'onMessage',
    'onOfflineMessageSyncFinish', 'onDeliveredMessage', 'onReadMessage', 'onChannelMessage',
    'onRecallMessage', 'onModifiedMessage', 'onReactionChange', 'onMessagePinEvent', 'onCombineMessage',
]

// A phone of its own running the SDK's mini-program build, logged in as `user` with a Chat
// user token; records the callbacks of EVENTS.
async function phone(user, { platform, label, ...options }) {
    const rt = newRuntime(ctx, { platform, label })
    const exported = rt.loadModule(SDK_FILE)
    const sdk = exported.default || exported
    const conn = new sdk.connection({
        appKey: ctx.server.app.appKey, isHttpDNS: false, url: `wss://${IM_HOST}/websocket`, apiUrl: `https://${IM_HOST}`, ...options,
    })
    const events = []
    const handlers = {}
    for (const name of EVENTS) handlers[name] = (payload) => events.push({ name, payload })
    conn.addEventHandler('e2e', handlers)
    const all = (name) => events.filter((e) => e.name === name).map((e) => e.payload)
    const client = {
        rt, sdk, conn, user: user.username, all,
        waitFor: (name, predicate = () => true, timeout = 10000) =>
            waitUntil(() => events.find((e) => e.name === name && predicate(e.payload)), {
                timeout, what: () => `${label}: ${name} (have ${JSON.stringify(events.map((e) => e.name))})`,
            }).then((e) => e.payload),
        text: (to, msg, extra = {}) => conn.send(sdk.message.create({ chatType: 'singleChat', type: 'txt', to, msg, ...extra })),
        async close() {
            conn.close()
            await waitUntil(() => rt.control.openSockets().length === 0, { timeout: 5000, what: `${label}: socket closed` })
        },
    }
    await conn.open({ user: user.username, accessToken: ctx.server.userToken(user.username) })
    await client.waitFor('onConnected')
    return client
}

function call(api, name, options) {
    return new Promise((resolve, reject) => api[name]({ ...options, success: resolve, fail: reject }))
}

async function rejection(promise) {
    return Promise.resolve(promise).then((value) => assert.fail(`expected a rejection, got ${JSON.stringify(value)}`), (e) => e)
}

function view(message) {
    const { id, type, chatType, from, to, time, ext, msg, customEvent, customExts } = message
    return { id, type, chatType, from, to, time, ext, msg, customEvent, customExts }
}

for (const platform of ['wx', 'qq']) describe(`${platform === 'wx' ? 'WeChat' : 'QQ'} mini program one-to-one conversation (easemob-websdk 4.21.1 miniProgram build)`, () => {
    test('txt, img, audio, video, file, loc, cmd, custom arrive field by field with every ext type; combine sent and parsed back', { timeout: 30000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const royPhone = await phone(roy, { platform, label: `${platform}-roy` })
        const leoPhone = await phone(leo, { platform, label: `${platform}-leo` })
        const roundTrip = async (callback, fields) => {
            const sent = await leoPhone.conn.send(leoPhone.sdk.message.create({ chatType: 'singleChat', to: roy.username, ext: EXT, ...fields }))
            const got = await royPhone.waitFor(callback, (m) => m.id === sent.serverMsgId)
            assert.equal(got.type, fields.type)
            assert.equal(got.chatType, 'singleChat')
            assert.equal(got.from, leo.username)
            assert.equal(got.to, roy.username)
            assert.deepEqual(got.ext, EXT)
            assert.equal(typeof got.time, 'number')
            assert.equal(got.time, sent.message.time, 'receiver time = ack timestamp')
            return got
        }

        let got = await roundTrip('onTextMessage', { type: 'txt', msg: 'hello ✓ 你好' })
        assert.equal(got.msg, 'hello ✓ 你好')
        const { conn } = leoPhone
        const url = `https://${IM_HOST}/${conn.orgName}/${conn.appName}/chatfiles/00000000-aaaa-bbbb-cccc-000000000001`
        const rebased = (secret) => `${url}?em-redirect=true&share-secret=${secret}`
        // The mini-program build's `create` takes an image by `url` (it keeps no `body`).
        got = await roundTrip('onImageMessage', { type: 'img', url, width: 640, height: 480, file_length: 1234 })
        assert.deepEqual([got.url, got.thumb, got.secret, got.width, got.height], [`${url}?em-redirect=true`, `${url}?em-redirect=true&thumbnail=true`, '', 640, 480])
        got = await roundTrip('onAudioMessage', { type: 'audio', body: { url, filename: 'voice.amr', secret: 'audio-secret', file_length: 2048, length: 9 } })
        assert.deepEqual([got.url, got.secret, got.filename, got.file_length, got.length], [rebased('audio-secret'), 'audio-secret', 'voice.amr', 2048, 9])
        got = await roundTrip('onVideoMessage', { type: 'video', body: { url, filename: 'clip.mp4', secret: 'video-secret', file_length: 4096, length: 12 } })
        assert.deepEqual([got.url, got.secret, got.filename, got.file_length, got.length], [rebased('video-secret'), 'video-secret', 'clip.mp4', 4096, 12])
        got = await roundTrip('onFileMessage', { type: 'file', body: { url, filename: 'report.pdf', secret: 'file-secret', file_length: 8192 } })
        assert.deepEqual([got.url, got.secret, got.filename, got.file_length], [rebased('file-secret'), 'file-secret', 'report.pdf', 8192])
        got = await roundTrip('onLocationMessage', { type: 'loc', lat: 48.8584, lng: 2.2945, addr: 'Champ de Mars', buildingName: 'Tour Eiffel' })
        assert.equal(got.lat, 48.8584)
        assert.equal(got.lng, 2.2945)
        assert.equal(got.addr, 'Champ de Mars')
        assert.equal(got.buildingName, 'Tour Eiffel')
        got = await roundTrip('onCmdMessage', { type: 'cmd', action: 'refresh' })
        assert.equal(got.action, 'refresh')
        got = await roundTrip('onCustomMessage', { type: 'custom', customEvent: 'gift', customExts: { sku: 'rose', n: '3' } })
        assert.equal(got.customEvent, 'gift')
        assert.deepEqual(got.customExts, { sku: 'rose', n: '3' })
        assert.equal(royPhone.all('onMessage').flat().filter((m) => m.type === 'cmd').length, 0, 'cmd is not in the onMessage batch')

        // combine: Roy forwards the text and the custom message back to Leo; the build writes
        // the list to a file, uploads it with `uploadFile`; Leo's phone downloads and parses it.
        const forwarded = [royPhone.all('onTextMessage')[0], royPhone.all('onCustomMessage')[0]]
        const combined = await royPhone.conn.send(royPhone.sdk.message.create({
            chatType: 'singleChat', type: 'combine', to: leo.username,
            compatibleText: '[Chat history]', title: 'Chats of Leo', summary: 'leo: hello', messageList: forwarded,
        }))
        const gotCombine = await leoPhone.waitFor('onCombineMessage', (m) => m.id === combined.serverMsgId)
        assert.deepEqual(
            [gotCombine.from, gotCombine.title, gotCombine.summary, gotCombine.compatibleText, gotCombine.combineLevel],
            [roy.username, 'Chats of Leo', 'leo: hello', '[Chat history]', 1],
        )
        const parsed = await leoPhone.conn.downloadAndParseCombineMessage({ url: gotCombine.url, secret: gotCombine.secret })
        assert.deepEqual(parsed.map((m) => [m.id, m.type, m.from, m.msg, m.customEvent]), forwarded.map((m) => [m.id, m.type, m.from, m.msg, m.customEvent]))
        await leoPhone.close()
        await royPhone.close()
    }))

    test('delivery, read and channel acks; recall of a message Roy has not pulled; edit; bad input: recall of Leo\'s message by Roy', { timeout: 30000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const leoPhone = await phone(leo, { platform, label: `${platform}-leo` })
        // Recall before Roy pulls: Leo sends two, recalls the second, Roy logs in afterwards.
        const kept = await leoPhone.text(roy.username, 'kept')
        const oops = await leoPhone.text(roy.username, 'oops')
        const recalled = await leoPhone.conn.recallMessage({ mid: oops.serverMsgId, to: roy.username, chatType: 'singleChat', ext: 'typo' })
        assert.ok(recalled.serverMsgId)

        const royPhone = await phone(roy, { platform, label: `${platform}-roy` })
        await royPhone.waitFor('onOfflineMessageSyncFinish')
        const recall = await royPhone.waitFor('onRecallMessage', (m) => m.mid === oops.serverMsgId)
        assert.equal(recall.from, leo.username)
        assert.equal(recall.to, roy.username)
        assert.equal(recall.ext, 'typo')
        assert.equal(recall.id, recalled.serverMsgId)
        const received = await royPhone.waitFor('onTextMessage', (m) => m.id === kept.serverMsgId)
        await sleep(300)
        assert.deepEqual(royPhone.all('onTextMessage').map((m) => m.msg), ['kept'], 'the recalled text never arrives')

        // Receipts.
        const { message } = royPhone.sdk
        const delivery = await royPhone.conn.send(message.create({ type: 'delivery', chatType: 'singleChat', to: leo.username, ackId: kept.serverMsgId }))
        assert.ok(delivery.serverMsgId, 'the delivery ack is acknowledged with a server id')
        const delivered = await leoPhone.waitFor('onDeliveredMessage', (m) => m.mid === kept.serverMsgId)
        assert.equal(delivered.type, 'delivery')
        assert.equal(delivered.from, roy.username)
        assert.equal(delivered.to, leo.username)
        assert.equal(delivered.id, delivery.serverMsgId)
        const read = await royPhone.conn.send(message.create({ type: 'read', chatType: 'singleChat', to: leo.username, id: kept.serverMsgId }))
        const gotRead = await leoPhone.waitFor('onReadMessage', (m) => m.mid === kept.serverMsgId)
        assert.equal(gotRead.type, 'read')
        assert.equal(gotRead.from, roy.username)
        assert.equal(gotRead.to, leo.username)
        assert.equal(gotRead.id, read.serverMsgId)
        const channel = await royPhone.conn.send(message.create({ type: 'channel', chatType: 'singleChat', to: leo.username }))
        const gotChannel = await leoPhone.waitFor('onChannelMessage')
        assert.equal(gotChannel.type, 'channel')
        assert.equal(gotChannel.chatType, 'singleChat')
        assert.equal(gotChannel.from, roy.username)
        assert.equal(gotChannel.to, leo.username)
        assert.equal(gotChannel.id, channel.serverMsgId)
        assert.equal(typeof gotChannel.time, 'number')
        assert.equal(leoPhone.all('onTextMessage').length, 0, 'receipts are not messages')

        // Edit: Roy gets onModifiedMessage; Leo's modifyMessage resolves with modifiedInfo.
        const edited = leoPhone.sdk.message.create({ type: 'txt', chatType: 'singleChat', to: roy.username, msg: 'kept, edited', ext: { edited: true } })
        const result = await leoPhone.conn.modifyMessage({ messageId: kept.serverMsgId, modifiedMessage: edited })
        assert.equal(result.modifiedInfo.operatorId, leo.username, JSON.stringify(result))
        assert.equal(result.modifiedInfo.operationCount, 1)
        assert.equal(typeof result.modifiedInfo.operationTime, 'number')
        assert.equal(result.message.msg, 'kept, edited')
        assert.equal(result.message.id, kept.serverMsgId)
        const modified = await royPhone.waitFor('onModifiedMessage', (m) => m.id === kept.serverMsgId)
        assert.equal(modified.type, 'txt')
        assert.equal(modified.msg, 'kept, edited')
        assert.equal(modified.from, leo.username)
        assert.equal(modified.to, roy.username)
        assert.equal(modified.chatType, 'singleChat')
        assert.equal(modified.time, received.time, 'the original send time')
        assert.deepEqual(modified.ext, { edited: true })
        assert.equal(modified.modifiedInfo.operatorId, leo.username)
        assert.equal(modified.modifiedInfo.operationCount, 1)

        // Bad input: Roy recalls Leo's message.
        const error = await rejection(royPhone.conn.recallMessage({ mid: kept.serverMsgId, to: leo.username, chatType: 'singleChat' }))
        assert.equal(error.type, 603, JSON.stringify(error))
        assert.equal(error.message, 'You do not have the modified permission.')
        await leoPhone.close()
        await royPhone.close()
    }))

    test('getHistoryMessages both directions and getServerConversations (unread count, last message); a reaction reaches onReactionChange', { timeout: 30000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const royPhone = await phone(roy, { platform, label: `${platform}-roy` })
        const leoPhone = await phone(leo, { platform, label: `${platform}-leo` })
        const sent = []
        for (const text of ['one', 'two', 'three']) sent.push(await leoPhone.text(roy.username, text, { ext: { n: text.length, tag: text } }))
        sent.push(await leoPhone.conn.send(leoPhone.sdk.message.create({ chatType: 'singleChat', type: 'custom', to: roy.username, customEvent: 'poke', customExts: { strength: 'high' } })))
        const sentIds = sent.map((ack) => String(ack.serverMsgId))
        await waitUntil(() => royPhone.all('onMessage').flat().length >= 4, { what: 'four messages on Roy\'s phone' })
        const received = royPhone.all('onMessage').flat()
        assert.deepEqual(received.map((m) => m.id), sentIds)
        const expected = received.map(view)

        const history = (client, options) => client.conn.getHistoryMessages({ chatType: 'singleChat', ...options })
        const up = await history(royPhone, { targetId: leo.username, pageSize: 2, searchDirection: 'up' })
        assert.equal(up.isLast, false)
        const upRest = await history(royPhone, { targetId: leo.username, pageSize: 2, searchDirection: 'up', cursor: up.cursor })
        assert.equal(upRest.isLast, true)
        assert.deepEqual([...up.messages, ...upRest.messages].map(view), expected.slice().reverse(), 'newest first, paged')
        const down = await history(royPhone, { targetId: leo.username, pageSize: 20, searchDirection: 'down' })
        assert.deepEqual(down.messages.map(view), expected, 'oldest first')
        const leoDown = await history(leoPhone, { targetId: roy.username, pageSize: 20, searchDirection: 'down' })
        assert.deepEqual(leoDown.messages.map(view), expected, 'the sender\'s history: the same messages')

        const conversations = (await royPhone.conn.getServerConversations({ pageSize: 20, cursor: '' })).data.conversations
        assert.equal(conversations.length, 1)
        const [conversation] = conversations
        assert.deepEqual(
            { ...conversation, lastMessage: undefined },
            { conversationId: leo.username, conversationType: 'singleChat', isPinned: false, pinnedTime: 0, unReadCount: 4, marks: [], lastMessage: undefined },
        )
        assert.deepEqual(view(conversation.lastMessage), expected[3])
        await royPhone.conn.send(royPhone.sdk.message.create({ type: 'channel', chatType: 'singleChat', to: leo.username }))
        const afterRead = (await royPhone.conn.getServerConversations({ pageSize: 20 })).data.conversations
        assert.deepEqual(afterRead.map((c) => [c.conversationId, c.unReadCount]), [[leo.username, 0]])

        // A reaction: Roy reacts to 'one'; Leo's onReactionChange.
        const messageId = sentIds[0]
        await royPhone.conn.addReaction({ messageId, reaction: 'emoji_1' })
        const change = await leoPhone.waitFor('onReactionChange', (c) => c.messageId === messageId)
        assert.deepEqual(
            { from: change.from, to: change.to, chatType: change.chatType, messageId: change.messageId },
            { from: roy.username, to: leo.username, chatType: 'singleChat', messageId },
        )
        assert.equal(typeof change.ts, 'number')
        assert.deepEqual(change.reactions.map(({ reaction, count, userList, op, isAddedBySelf }) => ({ reaction, count, userList, op, isAddedBySelf })), [
            { reaction: 'emoji_1', count: 1, userList: [roy.username], op: [{ operator: roy.username, reactionType: 'create' }], isAddedBySelf: false },
        ])
        await leoPhone.close()
        await royPhone.close()
    }))

    test('deliverOnlineOnly; a video uploaded with uploadFile and its first frame; bad input: text over 5 KB, recipient unknown', { timeout: 40000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const leoPhone = await phone(leo, { platform, label: `${platform}-leo` })
        const missed = await leoPhone.text(roy.username, 'only if you are here', { deliverOnlineOnly: true })
        assert.ok(missed.serverMsgId, 'acknowledged even though nobody receives it')
        await leoPhone.text(roy.username, 'queued as usual')
        const royPhone = await phone(roy, { platform, label: `${platform}-roy` })
        await royPhone.waitFor('onTextMessage', (m) => m.msg === 'queued as usual')
        const live = await leoPhone.text(roy.username, 'you are here', { deliverOnlineOnly: true })
        await royPhone.waitFor('onTextMessage', (m) => m.id === live.serverMsgId)
        assert.deepEqual(royPhone.all('onTextMessage').map((m) => m.msg), ['queued as usual', 'you are here'])

        // The video: uploaded by the app (restrict-access, so it has a secret), sent by body.
        const api = leoPhone.rt.api
        const video = fs.readFileSync(path.join(__dirname, '../../../crates/confab-server/tests/fixtures/first-frame-red.mp4'))
        const filePath = `${api.env.USER_DATA_PATH}/clip.mp4`
        api.getFileSystemManager().writeFileSync(filePath, video.buffer.slice(video.byteOffset, video.byteOffset + video.length))
        const uploaded = await call(api, 'uploadFile', {
            url: leoPhone.conn.getChatFilesUrl(), filePath, name: 'file',
            header: { Authorization: `Bearer ${leoPhone.conn.token}`, 'restrict-access': 'true' },
        })
        assert.equal(uploaded.statusCode, 200, uploaded.data)
        const entity = JSON.parse(uploaded.data).entities[0]
        const sent = await leoPhone.conn.send(leoPhone.sdk.message.create({
            type: 'video', chatType: 'singleChat', to: roy.username,
            body: { url: `${leoPhone.conn.getChatFilesUrl()}/${entity.uuid}`, filename: 'clip.mp4', secret: entity['share-secret'], file_length: video.length, length: 1 },
        }))
        const got = await royPhone.waitFor('onVideoMessage', (m) => m.id === sent.serverMsgId)
        assert.equal(got.thumb_secret, entity['share-secret'])
        assert.ok(got.thumb.endsWith(`/chatfiles/${entity.uuid}?vframe=true`), got.thumb)
        const frame = await call(royPhone.rt.api, 'downloadFile', { url: got.thumb, header: { 'share-secret': got.thumb_secret } })
        assert.equal(frame.statusCode, 200)
        assert.equal(frame.header['content-type'], 'image/jpeg')
        const jpeg = Buffer.from(royPhone.rt.api.getFileSystemManager().readFileSync(frame.tempFilePath))
        assert.equal(jpeg.readUInt16BE(0), 0xffd8, 'a JPEG')
        const bytes = await call(royPhone.rt.api, 'downloadFile', { url: got.url })
        assert.ok(Buffer.from(royPhone.rt.api.getFileSystemManager().readFileSync(bytes.tempFilePath)).equals(video), 'the video, byte for byte')

        // Bad input.
        let error = await rejection(leoPhone.text(roy.username, 'x'.repeat(5 * 1024 + 1)))
        assert.equal(error.type, 511, JSON.stringify(error))
        assert.equal(error.message, 'Sorry, data is too large')
        error = await rejection(leoPhone.text('nobody_here', 'hi', { deliverOnlineOnly: true }))
        assert.equal(error.type, 204, JSON.stringify(error))
        await leoPhone.close()
        await royPhone.close()
    }))

    test('pin, marks, removeHistoryMessages, deleteConversation; pinned messages; getReactionList, getReactionDetail, deleteReaction; bad input: cursor, conversation name, no such message', { timeout: 40000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const royPhone = await phone(roy, { platform, label: `${platform}-roy` })
        const leoPhone = await phone(leo, { platform, label: `${platform}-leo` })
        const one = await leoPhone.text(roy.username, 'one')
        await leoPhone.text(roy.username, 'two')
        await waitUntil(() => royPhone.all('onTextMessage').length >= 2, { what: 'two texts on Roy\'s phone' })
        const { conn } = royPhone

        const pinned = await conn.pinConversation({ conversationId: leo.username, conversationType: 'singleChat', isPinned: true })
        assert.equal(pinned.data.isPinned, true)
        const ref = [{ conversationId: leo.username, conversationType: 'singleChat' }]
        await conn.addConversationMark({ conversations: ref, mark: 3 })
        await conn.addConversationMark({ conversations: ref, mark: 5 })
        await conn.removeConversationMark({ conversations: ref, mark: 5 })
        const onlyPinned = (await conn.getServerPinnedConversations({ pageSize: 20 })).data.conversations
        assert.deepEqual(onlyPinned.map((c) => [c.conversationId, c.isPinned, c.pinnedTime, c.marks]), [[leo.username, true, pinned.data.pinnedTime, [3]]])
        const marked = (await conn.getServerConversationsByFilter({ pageSize: 20, filter: { mark: 3 } })).data.conversations
        assert.deepEqual(marked.map((c) => c.conversationId), [leo.username])

        // Reactions, both lists, and their removal.
        const messageId = String(one.serverMsgId)
        await conn.addReaction({ messageId, reaction: 'emoji_1' })
        await leoPhone.conn.addReaction({ messageId, reaction: 'emoji_1' })
        const list = await conn.getReactionList({ chatType: 'singleChat', messageId })
        assert.deepEqual(list.data.map((m) => [m.msgId, m.reactionList.map((r) => [r.reaction, r.count, r.userList, r.isAddedBySelf])]), [
            [messageId, [['emoji_1', 2, [roy.username, leo.username], true]]],
        ])
        const page1 = await conn.getReactionDetail({ messageId, reaction: 'emoji_1', pageSize: 1 })
        assert.deepEqual([page1.data.userList, page1.data.cursor], [[roy.username], '1'])
        const page2 = await conn.getReactionDetail({ messageId, reaction: 'emoji_1', pageSize: 1, cursor: page1.data.cursor })
        assert.deepEqual([page2.data.userList, page2.data.cursor], [[leo.username], ''])
        await conn.deleteReaction({ messageId, reaction: 'emoji_1' })
        const removed = await leoPhone.waitFor('onReactionChange', (c) => c.reactions[0].op[0].reactionType === 'delete')
        assert.deepEqual([removed.reactions[0].count, removed.reactions[0].userList], [1, [leo.username]])

        // Pinned messages: Roy pins 'one'; Leo's onMessagePinEvent; both lists; unpin.
        await conn.pinMessage({ conversationId: leo.username, conversationType: 'singleChat', messageId })
        const pinEvent = await leoPhone.waitFor('onMessagePinEvent')
        assert.deepEqual(
            [pinEvent.messageId, pinEvent.conversationId, pinEvent.operation, pinEvent.operatorId],
            [messageId, roy.username, 'pin', roy.username],
        )
        const pins = await leoPhone.conn.getServerPinnedMessages({ conversationId: roy.username, conversationType: 'singleChat' })
        assert.deepEqual(pins.data.list.map((p) => [p.message.id, p.message.msg, p.operatorId]), [[messageId, 'one', roy.username]])
        await conn.unpinMessage({ conversationId: leo.username, conversationType: 'singleChat', messageId })
        await leoPhone.waitFor('onMessagePinEvent', (e) => e.operation === 'unpin')
        assert.deepEqual((await conn.getServerPinnedMessages({ conversationId: leo.username, conversationType: 'singleChat' })).data.list, [])

        // One-way removal of history, then the whole conversation.
        await conn.removeHistoryMessages({ targetId: leo.username, chatType: 'singleChat', messageIds: [messageId] })
        const royHistory = await conn.getHistoryMessages({ targetId: leo.username, chatType: 'singleChat', searchDirection: 'down' })
        assert.deepEqual(royHistory.messages.map((m) => m.msg), ['two'])
        const leoHistory = await leoPhone.conn.getHistoryMessages({ targetId: roy.username, chatType: 'singleChat', searchDirection: 'down' })
        assert.deepEqual(leoHistory.messages.map((m) => m.msg), ['one', 'two'], 'the peer keeps it')
        await conn.deleteConversation({ channel: leo.username, chatType: 'singleChat', deleteRoam: true })
        assert.deepEqual((await conn.getServerConversations({ pageSize: 20 })).data.conversations, [])
        assert.equal((await conn.getHistoryMessages({ targetId: leo.username, chatType: 'singleChat' })).messages.length, 0)

        // Bad input, each with the server's text.
        let error = await rejection(conn.getHistoryMessages({ targetId: leo.username, chatType: 'singleChat', cursor: 'not-a-cursor' }))
        assert.deepEqual([error.type, error.message], [17, 'invalid cursor'], JSON.stringify(error))
        error = await rejection(conn.deleteConversation({ channel: 'no such/user', chatType: 'singleChat', deleteRoam: false }))
        assert.deepEqual([error.type, error.message], [17, 'invalid conversation no such/user'], JSON.stringify(error))
        error = await rejection(conn.addReaction({ messageId: '12345', reaction: 'emoji_1' }))
        assert.deepEqual([error.type, error.message], [17, 'message 12345 does not exist'], JSON.stringify(error))
        await leoPhone.close()
        await royPhone.close()
    }))
})
