'use strict'
// Chat rooms on the mini-program build (easemob-websdk 4.21.1 miniProgram, unmodified, `wx` and
// `qq` runtimes, https/wss with the test CA): Amy creates a room (over the platform's request
// API); Bob and Dan join it over the socket (the join's `info`, memberPresence); room texts reach
// the members joined at that moment; room attributes set by Bob reach the others as
// updateChatRoomAttributes and read back; Bob leaves (memberAbsence), his attribute set with
// auto-delete goes with him (removeChatRoomAttributes), his send is refused with 602 and he gets
// nothing more. What test/rooms.test.js and rooms-moderation.test.js check in full on the web
// builds.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { IM_HOST, useMiniProgramEnv, appUsers, scenario, miniProgramPhone } = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-rooms' })

const EVENTS = ['onTextMessage', 'onChatroomEvent']
const GROUP_NOT_JOINED = 602

let deviceCounter = 0
function phone(user, platform) {
    deviceCounter += 1
    return miniProgramPhone(ctx, user, { platform, deviceId: `r${process.pid % 10000}x${deviceCounter}`, events: EVENTS })
}

function roomEvent(client, operation, roomId, predicate = () => true) {
    return client.waitFor('onChatroomEvent', (e) => e.operation === operation && e.id === roomId && predicate(e))
}

function roomText(client, roomId, msg) {
    return client.conn.send(client.sdk.message.create({ chatType: 'chatRoom', type: 'txt', to: roomId, msg }))
}

for (const platform of ['wx', 'qq']) describe(`${platform === 'wx' ? 'WeChat' : 'QQ'} mini program chat rooms (easemob-websdk 4.21.1 miniProgram build)`, () => {
    test('create, join, room texts to the members joined now, attributes, leave', { timeout: 90000 }, scenario(ctx, async () => {
        const { amy, bob, dan } = await appUsers(ctx, ['amy', 'bob', 'dan'])
        const amyPhone = await phone(amy, platform)
        const bobPhone = await phone(bob, platform)
        const danPhone = await phone(dan, platform)

        const created = await amyPhone.conn.createChatRoom({ name: 'Mini hall', description: 'from a mini program', maxusers: 50, members: [] })
        assert.equal(created.type, 0)
        const roomId = created.data.id
        const createCall = amyPhone.rt.control.callsTo('request').find((c) => c.method === 'POST' && /\/chatrooms\?/.test(c.url))
        assert.ok(createCall, `createChatRoom went through ${platform}.request`)
        assert.ok(createCall.url.startsWith(`https://${IM_HOST}/`), createCall.url)

        // Joins go over the socket; the answer carries the room's state.
        const bobJoin = await bobPhone.conn.joinChatRoom({ roomId })
        assert.deepEqual([bobJoin.data.id, bobJoin.data.result, bobJoin.data.info.memberCount], [roomId, true, 2])
        await roomEvent(amyPhone, 'memberPresence', roomId, (e) => e.from === bob.username)
        await danPhone.conn.joinChatRoom({ roomId })
        await roomEvent(bobPhone, 'memberPresence', roomId, (e) => e.from === dan.username && e.memberCount === 3)

        // Texts reach the others joined now, never the sending phone.
        const first = await roomText(amyPhone, roomId, 'Welcome to the hall')
        for (const p of [bobPhone, danPhone]) {
            const got = await p.waitFor('onTextMessage', (m) => m.id === String(first.serverMsgId))
            assert.deepEqual([got.msg, got.chatType, got.to, got.from], ['Welcome to the hall', 'chatRoom', roomId, amy.username])
        }

        // Attributes: Bob's, one with auto-delete; the others hear of them, anyone reads them.
        const set = await bobPhone.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: { seat: '3', topic: 'rust' }, autoDelete: true })
        assert.deepEqual([set.data.status, set.data.successKeys.sort()], ['success', ['seat', 'topic']])
        const heard = await roomEvent(danPhone, 'updateChatRoomAttributes', roomId)
        assert.deepEqual([heard.from, heard.attributes], [bob.username, { seat: '3', topic: 'rust' }])
        const read = await amyPhone.conn.getChatRoomAttributes({ chatRoomId: roomId, attributeKeys: ['seat'] })
        assert.deepEqual(read.data, { seat: '3' })

        // Bob leaves: memberAbsence, his auto-delete attributes go, his sends are refused.
        const left = await bobPhone.conn.leaveChatRoom({ roomId })
        assert.equal(left.type, 0)
        assert.equal((await roomEvent(amyPhone, 'memberAbsence', roomId, (e) => e.from === bob.username)).memberCount, 2)
        const removed = await roomEvent(danPhone, 'removeChatRoomAttributes', roomId)
        assert.deepEqual(removed.attributes.sort(), ['seat', 'topic'])
        assert.deepEqual((await amyPhone.conn.getChatRoomAttributes({ chatRoomId: roomId })).data, {})
        const refused = await roomText(bobPhone, roomId, 'still here?').then(() => null, (e) => e)
        assert.ok(refused, 'a former member\'s send fails')
        assert.equal(refused.type, GROUP_NOT_JOINED)
        const after = await roomText(amyPhone, roomId, 'Bob has gone')
        await danPhone.waitFor('onTextMessage', (m) => m.id === String(after.serverMsgId))
        // Fence: a one-to-one text to Bob; a room text for him would have come before it.
        const fence = await amyPhone.text(bob.username, 'fence')
        await bobPhone.waitFor('onTextMessage', (m) => m.id === String(fence.serverMsgId))
        assert.deepEqual(bobPhone.all('onTextMessage').map((m) => m.msg), ['Welcome to the hall', 'fence'])
    }))
})
