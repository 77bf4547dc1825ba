'use strict'
// Chat rooms with both web SDKs (API-SURFACE.md section 3, the MUC events table with
// `isChatroom`): createChatRoom, joinChatRoom / leaveChatRoom over msync (the join's `info`),
// room messages to the members joined at that moment (never to those who left, never earlier
// ones to those who join later), memberPresence / memberAbsence with memberCount, details,
// lists, members, admins, mutes, mute-all, blocklist, allowlist, announcement, room attributes,
// removal; each refusal with the SDK error type it surfaces.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, settle, withTimeout } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials } = require('../lib/harness')

const ctx = useServer({ label: 'rooms' })

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
    })
}
