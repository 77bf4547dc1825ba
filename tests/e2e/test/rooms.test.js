'use strict'
// Chat rooms with both web SDKs (API-SURFACE.md section 3, the MUC events table with
// `isChatroom`): createChatRoom, joinChatRoom / leaveChatRoom over msync (the join's `info`),
// room messages to the members joined at that moment (never to those who left, never earlier
// ones to those who join later), memberPresence / memberAbsence with memberCount, details,
// lists, members, admins, mutes, mute-all, blocklist, allowlist, announcement, room attributes,
// removal; each refusal with the SDK error type it surfaces.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test } = require('node:test')
const { Client, settle, withTimeout } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials } = require('../lib/harness')

// Room history on; small limits, so that reaching them takes a few calls; a short absence
// grace, so that a member whose connection drops leaves within the test.
const MAX_JOINED_ROOMS = 3
const ABSENCE_GRACE_SECS = 2
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-rooms-'))
const configFile = path.join(configDir, 'confab.toml')
fs.writeFileSync(configFile, [
    'room_history = true',
    `max_joined_rooms = ${MAX_JOINED_ROOMS}`,
    `room_absence_grace_secs = ${ABSENCE_GRACE_SECS}`,
].join('\n') + '\n')
const ctx = useServer({ label: 'rooms', flags: ['--config', configFile] })

// SDK error types (search `CHATROOM_NOT_EXIST = 705` in either bundle).
const AJAX_ERROR = 17
const USER_NOT_FOUND = 204
const MUTED = 507
const GROUP_NOT_JOINED = 602
const PERMISSION_DENIED = 603
const CHATROOM_NOT_JOINED = 702
const CHATROOM_MEMBERS_FULL = 704
const CHATROOM_NOT_EXIST = 705
const MAX_LIMIT = 50
const NO_PERMISSION = 52
const NOT_EXIST_TEXT = 'The chat room dose not exist.'
const PERMISSION_TEXT = 'permission denied'

// Logs `user` in with a recorder for onChatroomEvent, attached before the login.
async function member(server, sdkName, user) {
    const client = await Client.create({ sdkName, server, user: user.username })
    client.conn.addEventHandler('rooms-e2e', { onChatroomEvent: (event) => client._record('onChatroomEvent', event) })
    await client.login(await credentials(server, 'agoraToken', user))
    return client
}

async function rejection(promise, what) {
    const result = await settle(promise, 20000, what)
    assert.equal(result.ok, false, `${what} should fail`)
    return result.error
}

async function refused(promise, what) {
    const error = await rejection(promise, what)
    return [error.type, error.message]
}

function roomEvent(client, operation, roomId, { predicate = () => true, timeout = 10000 } = {}) {
    return client.waitFor('onChatroomEvent', { timeout, predicate: (e) => e.operation === operation && e.id === roomId && predicate(e) })
}

function roomEvents(client, operation, roomId) {
    return client.all('onChatroomEvent').filter((e) => e.operation === operation && e.id === roomId)
}

async function createRoom(owner, options = {}) {
    const res = await owner.conn.createChatRoom({ name: 'a room', description: 'talk', maxusers: 200, members: [], ...options })
    assert.equal(res.type, 0)
    assert.equal(typeof res.data.id, 'string')
    assert.ok(/^\d+$/.test(res.data.id), `a room id is digits: ${res.data.id}`)
    return res.data.id
}

async function join(client, roomId, extra = {}) {
    const res = await withTimeout(client.conn.joinChatRoom({ roomId, ...extra }), 20000, `${client.user} joins ${roomId}`)
    assert.equal(res.type, 0)
    return res.data
}

function roomText(client, roomId, msg, extra = {}) {
    return client.sdk.message.create({ chatType: 'chatRoom', type: 'txt', to: roomId, msg, ...extra })
}

function sendRoomText(client, roomId, msg, extra = {}) {
    return withTimeout(Promise.resolve(client.conn.send(roomText(client, roomId, msg, extra))), 20000, `${client.user}: room send`)
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('create, join (info), memberPresence, room texts to the members joined now, leave (memberAbsence), later joiners get nothing earlier', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const roomId = await createRoom(amyClient)

            // The owner is in the room from its creation.
            const bobJoin = await join(bobClient, roomId, { ext: 'hello from bob' })
            assert.deepEqual(
                { action: bobJoin.action, id: bobJoin.id, result: bobJoin.result, user: bobJoin.user },
                { action: 'apply', id: roomId, result: true, user: bob.username },
            )
            assert.deepEqual(
                { muted: bobJoin.info.isAllMembersMuted, allow: bobJoin.info.isInAllowlist, count: bobJoin.info.memberCount, mute: bobJoin.info.muteExpireTimestamp },
                { muted: false, allow: false, count: 2, mute: -1 },
            )
            assert.equal(typeof bobJoin.info.createTimestamp, 'number')
            const presence = await roomEvent(amyClient, 'memberPresence', roomId, { predicate: (e) => e.from === bob.username })
            assert.equal(presence.memberCount, 2)
            assert.equal(presence.ext, 'hello from bob')
            await join(calClient, roomId)
            await roomEvent(bobClient, 'memberPresence', roomId, { predicate: (e) => e.from === cal.username && e.memberCount === 3 })

            // A text reaches every member joined now, field by field.
            const sent = await sendRoomText(bobClient, roomId, 'hi room')
            for (const client of [amyClient, calClient]) {
                const got = await client.waitFor('onTextMessage', { predicate: (m) => m.id === String(sent.serverMsgId) })
                assert.deepEqual(
                    { type: got.type, chatType: got.chatType, msg: got.msg, to: got.to, from: got.from },
                    { type: 'txt', chatType: 'chatRoom', msg: 'hi room', to: roomId, from: bob.username },
                )
            }
            // Dan is no member: his send fails (602), and he got nothing.
            const outsider = await rejection(sendRoomText(danClient, roomId, 'let me in'), 'a non-member sending')
            assert.equal(outsider.type, GROUP_NOT_JOINED, JSON.stringify(outsider))
            assert.equal(danClient.all('onTextMessage').length, 0)

            // Cal leaves: the others hear memberAbsence, and he gets nothing more.
            const left = await withTimeout(calClient.conn.leaveChatRoom({ roomId }), 20000, 'leave')
            assert.equal(left.type, 0)
            const absence = await roomEvent(amyClient, 'memberAbsence', roomId, { predicate: (e) => e.from === cal.username })
            assert.equal(absence.memberCount, 2)
            const after = await sendRoomText(amyClient, roomId, 'after cal')
            await bobClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(after.serverMsgId) })

            // Dan joins now: he gets what is said from now on, nothing before.
            await join(danClient, roomId)
            const later = await sendRoomText(bobClient, roomId, 'welcome dan')
            await danClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(later.serverMsgId) })
            await pause(300)
            assert.deepEqual(danClient.all('onTextMessage').map((m) => m.msg), ['welcome dan'])
            assert.equal(calClient.all('onTextMessage').filter((m) => m.msg === 'after cal' || m.msg === 'welcome dan').length, 0)
            // The sender's own device never gets its message back.
            assert.equal(bobClient.all('onTextMessage').filter((m) => m.from === bob.username).length, 0)

            // Joining an unknown room: 705.
            assert.deepEqual(await refused(danClient.conn.joinChatRoom({ roomId: `${roomId}0` }), 'joining an unknown room'), [CHATROOM_NOT_EXIST, NOT_EXIST_TEXT])
        }))

        test('room history (on here) for members, also what came before they joined; recall by the sender and by the owner; a non-member reads none (702)', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const roomId = await createRoom(amyClient)
            await join(bobClient, roomId)
            const sent = []
            for (const text of ['one', 'two', 'three']) {
                sent.push(await sendRoomText(bobClient, roomId, text))
            }
            await amyClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(sent[2].serverMsgId) })
            await join(calClient, roomId)
            const history = await calClient.conn.getHistoryMessages({ targetId: roomId, chatType: 'chatRoom', pageSize: 10, searchDirection: 'down' })
            assert.deepEqual(history.messages.map((m) => [m.msg, m.chatType, m.to, m.from]), [
                ['one', 'chatRoom', roomId, bob.username],
                ['two', 'chatRoom', roomId, bob.username],
                ['three', 'chatRoom', roomId, bob.username],
            ])
            assert.deepEqual(await refused(danClient.conn.getHistoryMessages({ targetId: roomId, chatType: 'chatRoom', pageSize: 10 }), 'a non-member reading room history'),
                [CHATROOM_NOT_JOINED, `user: ${dan.username} are not members of this group!`])

            // Bob recalls his own message; the owner recalls another of his; cal may not.
            await bobClient.conn.recallMessage({ mid: sent[0].serverMsgId, to: roomId, chatType: 'chatRoom' })
            for (const client of [amyClient, calClient]) {
                const recall = await client.waitFor('onRecallMessage', { predicate: (m) => m.mid === String(sent[0].serverMsgId) })
                assert.equal(recall.from, bob.username)
            }
            const notHis = await rejection(calClient.conn.recallMessage({ mid: sent[1].serverMsgId, to: roomId, chatType: 'chatRoom' }), 'a member recalling another\'s message')
            assert.equal(notHis.type, PERMISSION_DENIED, JSON.stringify(notHis))
            await amyClient.conn.recallMessage({ mid: sent[1].serverMsgId, to: roomId, chatType: 'chatRoom' })
            await bobClient.waitFor('onRecallMessage', { predicate: (m) => m.mid === String(sent[1].serverMsgId) })
            const left = await calClient.conn.getHistoryMessages({ targetId: roomId, chatType: 'chatRoom', pageSize: 10, searchDirection: 'down' })
            assert.deepEqual(left.messages.map((m) => m.msg), ['three'])
        }))

        test('limits: a full room (704), too many rooms (50), leaveOtherRooms; a member whose connection drops leaves after the grace (memberAbsence)', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            // maxusers counts the owner: 2 = amy and one more.
            const small = await createRoom(amyClient, { maxusers: 2 })
            await join(bobClient, small)
            assert.deepEqual(await refused(calClient.conn.joinChatRoom({ roomId: small }), 'joining a full room'), [CHATROOM_MEMBERS_FULL, 'group member list is full!'])

            // Bob is in `small`; two more rooms make three, the most one may be in. (Dan makes
            // them: an owner is in their rooms, which count for them too.)
            const rooms = []
            for (let i = 0; i < MAX_JOINED_ROOMS; i++) {
                rooms.push(await createRoom(danClient))
            }
            await join(bobClient, rooms[0])
            await join(bobClient, rooms[1])
            const tooMany = await rejection(bobClient.conn.joinChatRoom({ roomId: rooms[2] }), 'joining a fourth room')
            assert.equal(tooMany.type, MAX_LIMIT, JSON.stringify(tooMany))
            // leaveOtherRooms: out of the three, into the fourth; the others hear he left.
            const moved = await join(bobClient, rooms[2], { leaveOtherRooms: true })
            assert.equal(moved.info.memberCount, 2)
            await roomEvent(amyClient, 'memberAbsence', small, { predicate: (e) => e.from === bob.username })
            await roomEvent(danClient, 'memberAbsence', rooms[0], { predicate: (e) => e.from === bob.username })
            const joined = await bobClient.conn.getJoinedChatRooms({ pageNum: 1, pageSize: 10 })
            assert.deepEqual(joined.data.map((r) => r.id), [rooms[2]])
            assert.equal(joined.data[0].owner, dan.username)
            // Creating a room when one is in as many as one may be: refused alike.
            assert.equal((await rejection(danClient.conn.createChatRoom({ name: 'one too many', description: '', maxusers: 10, members: [] }), 'a fourth room of dan')).type, PERMISSION_DENIED)

            // Cal joins and his connection drops without leaving: the grace later he is out.
            await join(calClient, rooms[2])
            await roomEvent(danClient, 'memberPresence', rooms[2], { predicate: (e) => e.from === cal.username })
            await calClient.close()
            const gone = await roomEvent(danClient, 'memberAbsence', rooms[2], { predicate: (e) => e.from === cal.username, timeout: (ABSENCE_GRACE_SECS + 5) * 1000 })
            assert.equal(gone.memberCount, 2)
            // Bob's connection stays: he is still in.
            const members = await danClient.conn.listChatRoomMembers({ chatRoomId: rooms[2], pageNum: 1, pageSize: 10 })
            assert.deepEqual(members.data.map((m) => m.owner || m.member).sort(), [bob.username, dan.username].sort())
        }))
    })
}

test('REST (app token): a room made by the app for an owner, a message to rooms from admin (not a member), a broadcast to every room marked `broadcast`; bad input', { timeout: 60000 }, scenario(ctx, async () => {
    const { server } = ctx
    const { own, one } = await freshUsers(server, ['own', 'one'])
    const token = await server.appToken()
    const created = await server.rest('POST', '/chatrooms', { token, body: { name: 'by the app', description: '', maxusers: 10, owner: own.username, members: [one.username] } })
    assert.equal(created.status, 200, created.text)
    const roomId = created.json.data.id
    const oneClient = await member(server, 'agora-chat', one)

    const sent = await server.rest('POST', '/messages/chatrooms', { token, body: { to: [roomId], type: 'txt', body: { msg: 'from the app' }, chatroom_msg_level: 'high' } })
    assert.equal(sent.status, 200, sent.text)
    const got = await oneClient.waitFor('onTextMessage', { predicate: (m) => m.id === sent.json.data[roomId] })
    assert.deepEqual({ msg: got.msg, from: got.from, to: got.to, chatType: got.chatType, priority: got.priority }, { msg: 'from the app', from: 'admin', to: roomId, chatType: 'chatRoom', priority: 'high' })

    const broadcast = await server.rest('POST', '/messages/chatrooms/broadcast', { token, body: { msg: { type: 'txt', msg: 'to every room' }, chatroom_msg_level: 'low' } })
    assert.equal(broadcast.status, 200, broadcast.text)
    const heard = await oneClient.waitFor('onTextMessage', { predicate: (m) => m.msg === 'to every room' })
    assert.equal(heard.broadcast, true)
    assert.equal(heard.priority, 'low')

    // Bad input: an unknown room, a level that is not one, a user's token, a body that does not parse.
    const unknown = await server.rest('POST', '/messages/chatrooms', { token, body: { to: [`${roomId}1`], type: 'txt', body: { msg: 'x' } } })
    assert.deepEqual([unknown.status, unknown.json.error], [404, 'resource_not_found'])
    const level = await server.rest('POST', '/messages/chatrooms', { token, body: { to: [roomId], type: 'txt', body: { msg: 'x' }, chatroom_msg_level: 'urgent' } })
    assert.deepEqual([level.status, level.json.error_description], [400, 'invalid chatroom_msg_level urgent'])
    const asUser = await server.rest('POST', '/messages/chatrooms/broadcast', { token: server.userToken(one.username), body: { msg: { type: 'txt', msg: 'x' } } })
    assert.equal(asUser.status, 401, asUser.text)
    const garbage = await server.rest('POST', '/messages/chatrooms', { token, rawBody: '{not json' })
    assert.deepEqual([garbage.status, garbage.json && garbage.json.error], [400, 'json_parse'])
}))
