'use strict'
// Chat-room management and moderation with both web SDKs (API-SURFACE.md section 3, the MUC
// events table with `isChatroom`, "Ten protocol details" 6 and 7): every chat-room function but
// the basics of joinChatRoom / leaveChatRoom (rooms.test.js).
// getChatRooms paged, createChatRoom with members and an app token, getChatRoomDetails,
// modifyChatRoom (`updateInfo`), getJoinedChatRooms (owner split as the SDK splits it),
// destroyChatRoom (`destroy`); members listed and paged by cursor, added (`memberPresence`),
// removed (`removeMember` to them, `memberAbsence` to the others); admins (`setAdmin` /
// `removeAdmin`); one member muted for a while (`muteMember` with `muteTimestamp`, their send
// fails with 507) and everyone muted (`muteAllMembers`: the owner, admins and the allowlist
// still speak); the allowlist; the blocklist (a blocked member is out, cannot join again, and
// the attributes they set with auto-delete go, announced); the announcement; room attributes
// (forced or not, auto-delete on leaving, the SDK's errors for keys not one's own and limits);
// recall of a room message by its sender and by an admin; shared files (uploaded by members,
// `uploadFile`; listed latest first; deleted by the member who shared them, the owner or an
// admin, `deleteFile`). Events about one member (setAdmin,
// removeAdmin, muteMember, unmuteMember, addUserToAllowlist, removeAllowlistMember,
// removeMember, unblockMember) reach that member alone, as the SDK's `ChatroomEvent`
// declaration says (types/eventHandler.d.ts). Each function is also refused at least once, with
// the exact [type, message] the SDK surfaces (its REST mapper: search
// `"are not members of this group"` in Agora-chat.js; attribute keys: `is not part of you`;
// sends and recalls: `"not in group or chatroom"`).

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, settle, withTimeout } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'rooms-moderation' })

// SDK error types (search `CHATROOM_NOT_EXIST=705` in either bundle).
const PARAMETER_ERROR = -3
const AJAX_ERROR = 17
const MAX_LIMIT = 50
const NO_PERMISSION = 52
const USER_NOT_FOUND = 204
const GROUP_NOT_JOINED = 602
const MUTED = 507
const PERMISSION_DENIED = 603
const GROUP_MEMBERS_LIMIT = 607
const CHATROOM_NOT_JOINED = 702
const CHATROOM_MEMBERS_FULL = 704
const CHATROOM_NOT_EXIST = 705
const MESSAGE_NOT_FOUND = 1302
// Fixed texts the SDK puts in place of the server's.
const NOT_EXIST_TEXT = 'The chat room dose not exist.'
const PERMISSION_TEXT = 'permission denied'
const DENIED = [PERMISSION_DENIED, PERMISSION_TEXT]
const ABSENT = [CHATROOM_NOT_EXIST, NOT_EXIST_TEXT]

// Logs `user` in with a recorder for onChatroomEvent, attached before the login.
async function member(server, sdkName, user) {
    const client = await Client.create({ sdkName, server, user: user.username })
    client.conn.addEventHandler('rooms-moderation-e2e', { onChatroomEvent: (event) => client._record('onChatroomEvent', event) })
    await client.login(await credentials(server, 'agoraToken', user))
    return client
}

async function rejection(promise, what) {
    const result = await settle(promise, 20000, what)
    assert.equal(result.ok, false, `${what} should fail`)
    return result.error
}

// [type, message] of a refusal.
async function refused(promise, what) {
    const error = await rejection(promise, what)
    return [error.type, error.message]
}

// Runs each refusal and returns {what: [type, message]}, compared whole by the caller.
async function refusals(cases) {
    const errors = {}
    for (const [what, call] of Object.entries(cases)) errors[what] = await refused(call(), what)
    return errors
}

function notMember(user) {
    return [CHATROOM_NOT_JOINED, `user: ${user.username} are not members of this group!`]
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
    assert.ok(/^\d+$/.test(res.data.id), `a room id is digits: ${res.data.id}`)
    return res.data.id
}

async function join(client, roomId) {
    const res = await withTimeout(client.conn.joinChatRoom({ roomId }), 20000, `${client.user} joins ${roomId}`)
    assert.equal(res.type, 0)
    return res.data
}

function sendRoomText(client, roomId, msg) {
    const message = client.sdk.message.create({ chatType: 'chatRoom', type: 'txt', to: roomId, msg })
    return withTimeout(Promise.resolve(client.conn.send(message)), 20000, `${client.user}: room send`)
}

// A send the server refuses: the SDK rejects with a plain {type, reason}.
async function refusedSend(client, roomId, msg) {
    const error = await rejection(sendRoomText(client, roomId, msg), `${client.user} sending "${msg}"`)
    return { type: error.type, reason: error.reason, detail: describeError(error) }
}

// Sends a text and waits until `receiver` has it.
async function heard(sender, receiver, roomId, msg) {
    const sent = await sendRoomText(sender, roomId, msg)
    const got = await receiver.waitFor('onTextMessage', { predicate: (m) => m.id === String(sent.serverMsgId) })
    assert.equal(got.msg, msg)
    return sent
}

function names(...users) {
    return users.map((user) => user.username)
}

for (const sdkName of SDK_NAMES) {
    const easemob = sdkName === 'easemob-websdk'
    describe(sdkName, () => {
        test('lifecycle: createChatRoom (members, app token), getChatRooms paged, getChatRoomDetails, modifyChatRoom (updateInfo), getJoinedChatRooms, destroyChatRoom (destroy)', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal } = await freshUsers(server, ['amy', 'bob', 'cal'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const appToken = await server.appToken()

            // An app token creates the room the SDK names the caller the owner of (`owner: me`).
            const lobby = await createRoom(amyClient, { name: 'lobby', description: 'come in', maxusers: 20, members: [bob.username], token: appToken })
            const side = await createRoom(amyClient, { name: 'side', description: '' })

            const details = (await bobClient.conn.getChatRoomDetails({ chatRoomId: lobby })).data
            assert.equal(details.length, 1)
            const { id, name, description, maxusers, owner, affiliations_count: count, affiliations, mute, announcement } = details[0]
            assert.deepEqual({ id, name, description, maxusers, owner, count, affiliations, mute, announcement }, {
                id: lobby, name: 'lobby', description: 'come in', maxusers: 20, owner: amy.username, count: 2,
                affiliations: [{ owner: amy.username }, { member: bob.username }], mute: false, announcement: '',
            })
            assert.equal(typeof details[0].created, 'number')

            // Every room of the app, by id; pages of two add up to the whole list.
            const whole = await amyClient.conn.getChatRooms({ pagenum: 1, pagesize: 500 })
            assert.equal(whole.total, whole.data.length)
            const row = (roomId) => whole.data.find((r) => r.id === roomId)
            assert.deepEqual(row(lobby), { id: lobby, name: 'lobby', owner: amy.username, affiliations_count: 2 })
            assert.deepEqual(row(side), { id: side, name: 'side', owner: amy.username, affiliations_count: 1 })
            const paged = []
            for (let pagenum = 1; ; pagenum += 1) {
                const page = await amyClient.conn.getChatRooms({ pagenum, pagesize: 2 })
                assert.equal(page.total, whole.total)
                paged.push(...page.data.map((r) => r.id))
                if (page.data.length < 2) break
            }
            assert.deepEqual(paged, whole.data.map((r) => r.id))

            // modifyChatRoom: the members online hear updateInfo (rooms carry no detail).
            const modified = await amyClient.conn.modifyChatRoom({ chatRoomId: lobby, chatRoomName: 'the lobby', description: 'now open', maxusers: 50 })
            assert.deepEqual(modified.data, { groupname: true, description: true, maxusers: true })
            assert.deepEqual(await roomEvent(bobClient, 'updateInfo', lobby), { operation: 'updateInfo', id: lobby, from: amy.username })
            const after = (await calClient.conn.getChatRoomDetails({ chatRoomId: lobby })).data[0]
            assert.deepEqual([after.name, after.description, after.maxusers], ['the lobby', 'now open', 50])

            // getJoinedChatRooms: the SDK keeps `owner.split("{appKey}_")[1]`, the latest joined first.
            const bobRooms = await bobClient.conn.getJoinedChatRooms({ pageNum: 1, pageSize: 10 })
            assert.equal(bobRooms.data.length, 1)
            const [joined] = bobRooms.data
            assert.equal(typeof joined.created, 'number')
            assert.deepEqual({ ...joined, created: 0 }, { id: lobby, name: 'the lobby', owner: amy.username, created: 0, description: 'now open', maxusers: 50 })
            const amyFirst = await amyClient.conn.getJoinedChatRooms({ pageNum: 1, pageSize: 1 })
            const amySecond = await amyClient.conn.getJoinedChatRooms({ pageNum: 2, pageSize: 1 })
            assert.deepEqual([...amyFirst.data, ...amySecond.data].map((r) => [r.id, r.owner]), [[side, amy.username], [lobby, amy.username]])
            assert.deepEqual((await calClient.conn.getJoinedChatRooms({ pageNum: 1, pageSize: 10 })).data, [])

            const unknown = `${lobby}0`
            const tooLong = 'n'.repeat(129)
            assert.deepEqual(await refusals({
                'getChatRooms from page -1': () => amyClient.conn.getChatRooms({ pagenum: -1, pagesize: 2 }),
                'getChatRooms past the page limit': () => amyClient.conn.getChatRooms({ pagenum: 1, pagesize: 501 }),
                'createChatRoom with an unknown member': () => amyClient.conn.createChatRoom({ name: 'ghosts', members: ['nobody_here'], maxusers: 10 }),
                'createChatRoom past maxusers': () => amyClient.conn.createChatRoom({ name: 'small', members: names(bob, cal), maxusers: 2 }),
                'createChatRoom without a name': () => amyClient.conn.createChatRoom({ name: '', members: [] }),
                'getChatRoomDetails of no room': () => amyClient.conn.getChatRoomDetails({ chatRoomId: unknown }),
                'modifyChatRoom by a member': () => bobClient.conn.modifyChatRoom({ chatRoomId: lobby, chatRoomName: 'mine' }),
                'modifyChatRoom by an outsider': () => calClient.conn.modifyChatRoom({ chatRoomId: lobby, chatRoomName: 'mine' }),
                'modifyChatRoom below the member count': () => amyClient.conn.modifyChatRoom({ chatRoomId: lobby, maxusers: 1 }),
                'modifyChatRoom with a long name': () => amyClient.conn.modifyChatRoom({ chatRoomId: lobby, chatRoomName: tooLong }),
                'getJoinedChatRooms past the page limit': () => bobClient.conn.getJoinedChatRooms({ pageNum: 1, pageSize: 501 }),
                'destroyChatRoom by a member': () => bobClient.conn.destroyChatRoom({ chatRoomId: lobby }),
                'destroyChatRoom of no room': () => amyClient.conn.destroyChatRoom({ chatRoomId: unknown }),
            }), {
                'getChatRooms from page -1': [AJAX_ERROR, 'pagenum must be a number from 1'],
                'getChatRooms past the page limit': [AJAX_ERROR, 'pagesize must be 1 to 500'],
                'createChatRoom with an unknown member': [USER_NOT_FOUND, 'user not found'],
                'createChatRoom past maxusers': [GROUP_MEMBERS_LIMIT, 'members size is greater than max user size !'],
                'createChatRoom without a name': [AJAX_ERROR, 'name is empty'],
                'getChatRoomDetails of no room': ABSENT,
                'modifyChatRoom by a member': DENIED,
                'modifyChatRoom by an outsider': notMember(cal),
                'modifyChatRoom below the member count': [GROUP_MEMBERS_LIMIT, 'members size is greater than max user size !'],
                'modifyChatRoom with a long name': [AJAX_ERROR, 'name is longer than 128 characters'],
                'getJoinedChatRooms past the page limit': [AJAX_ERROR, 'pagesize must be 1 to 500'],
                'destroyChatRoom by a member': DENIED,
                'destroyChatRoom of no room': ABSENT,
            })
            // Raw REST: someone else's joined list; a body that is not JSON.
            const token = bobClient.conn.context.accessToken
            const others = await fetch(`${server.restBase()}/users/${amy.username}/joined_chatrooms?pagenum=1&pagesize=10&detail=true`, { headers: { Authorization: `Bearer ${token}` } })
            assert.equal(others.status, 401)
            const garbage = await server.rest('POST', '/chatrooms?resource=x', { token, rawBody: '{"name": ' })
            assert.deepEqual([garbage.status, garbage.json.error], [400, 'json_parse'])
            // A user's token creates rooms the user owns (an app token names any owner).
            const forAmy = await server.rest('POST', '/chatrooms?resource=x', { token, body: { name: 'for amy', owner: amy.username } })
            assert.deepEqual([forAmy.status, forAmy.json.error], [403, 'forbidden_op'])
            assert.equal(whole.total, (await amyClient.conn.getChatRooms({ pagenum: 1, pagesize: 1 })).total, 'nothing refused was created')

            // destroyChatRoom with the app token: the members online hear destroy, from the owner.
            const destroyed = await amyClient.conn.destroyChatRoom({ chatRoomId: lobby, token: appToken })
            assert.deepEqual(destroyed.data, { success: true, id: lobby })
            assert.deepEqual(await roomEvent(bobClient, 'destroy', lobby), { operation: 'destroy', id: lobby, from: amy.username })
            assert.deepEqual(await refused(bobClient.conn.getChatRoomDetails({ chatRoomId: lobby }), 'a destroyed room\'s details'), ABSENT)
            assert.deepEqual((await bobClient.conn.getJoinedChatRooms({ pageNum: 1, pageSize: 10 })).data, [])
            assert.deepEqual((await amyClient.conn.destroyChatRoom({ chatRoomId: side })).data, { success: true, id: side })
            assert.deepEqual(await refused(amyClient.conn.destroyChatRoom({ chatRoomId: side }), 'destroying twice'), ABSENT)
        }))

        test('members and admins: addUsersToChatRoom, listChatRoomMembers, getChatRoomMembers by cursor, setChatRoomAdmin / removeChatRoomAdmin / getChatRoomAdmin, removeChatRoomMember(s)', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan, eve } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan', 'eve'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const eveClient = await member(server, sdkName, eve)
            const roomId = await createRoom(amyClient, { maxusers: 4 })
            await join(bobClient, roomId)

            // Added as if they joined: the members online hear memberPresence.
            const added = await amyClient.conn.addUsersToChatRoom({ chatRoomId: roomId, users: names(cal, dan) })
            assert.deepEqual(added.data, { newmembers: names(cal, dan), action: 'add_member', id: roomId })
            for (const user of [cal, dan]) {
                const presence = await roomEvent(bobClient, 'memberPresence', roomId, { predicate: (e) => e.from === user.username })
                assert.deepEqual(presence, { operation: 'memberPresence', id: roomId, from: user.username, memberCount: 4 })
            }
            // Those already in are left out of `newmembers`.
            assert.deepEqual((await amyClient.conn.addUsersToChatRoom({ chatRoomId: roomId, users: [bob.username] })).data.newmembers, [])

            // The owner first, then by joining time (cal and dan joined together: by name).
            const everyone = [{ owner: amy.username }, { member: bob.username }, { member: cal.username }, { member: dan.username }]
            assert.deepEqual((await calClient.conn.listChatRoomMembers({ chatRoomId: roomId, pageNum: 1, pageSize: 10 })).data, everyone)
            assert.deepEqual((await calClient.conn.listChatRoomMembers({ chatRoomId: roomId, pageNum: 2, pageSize: 2 })).data, everyone.slice(2))

            // Admins: only the user concerned hears setAdmin (which names them) and removeAdmin
            // (which does not), as the SDK's ChatroomEvent declares.
            const set = await amyClient.conn.setChatRoomAdmin({ chatRoomId: roomId, username: bob.username })
            assert.deepEqual(set.data, { result: 'success', newadmin: bob.username })
            assert.deepEqual(await roomEvent(bobClient, 'setAdmin', roomId), { operation: 'setAdmin', id: roomId, from: amy.username, userId: bob.username })
            assert.deepEqual((await danClient.conn.getChatRoomAdmin({ chatRoomId: roomId })).data, [bob.username])

            // getChatRoomMembers: roles, joining times, and a cursor while more follow.
            const first = await danClient.conn.getChatRoomMembers({ chatRoomId: roomId, limit: 3 })
            assert.equal(typeof first.data.cursor, 'string')
            for (const row of first.data.members) assert.equal(typeof row.joinedTime, 'number')
            assert.deepEqual(first.data.members.map((m) => [m.role, m.userId]), [['owner', amy.username], ['admin', bob.username], ['member', cal.username]])
            const rest = await danClient.conn.getChatRoomMembers({ chatRoomId: roomId, limit: 3, cursor: first.data.cursor })
            assert.deepEqual(rest.data.members.map((m) => [m.role, m.userId]), [['member', dan.username]])
            assert.equal(rest.data.cursor, undefined)

            assert.deepEqual(await refusals({
                'addUsersToChatRoom by a member': () => calClient.conn.addUsersToChatRoom({ chatRoomId: roomId, users: [eve.username] }),
                'addUsersToChatRoom of an unknown user': () => amyClient.conn.addUsersToChatRoom({ chatRoomId: roomId, users: ['nobody_here'] }),
                'addUsersToChatRoom into a full room': () => amyClient.conn.addUsersToChatRoom({ chatRoomId: roomId, users: [eve.username] }),
                'listChatRoomMembers by an outsider': () => eveClient.conn.listChatRoomMembers({ chatRoomId: roomId, pageNum: 1, pageSize: 10 }),
                'getChatRoomMembers with a foreign cursor': () => danClient.conn.getChatRoomMembers({ chatRoomId: roomId, cursor: 'not-a-cursor' }),
                'getChatRoomAdmin of no room': () => amyClient.conn.getChatRoomAdmin({ chatRoomId: `${roomId}0` }),
                'setChatRoomAdmin by an admin': () => bobClient.conn.setChatRoomAdmin({ chatRoomId: roomId, username: cal.username }),
                'setChatRoomAdmin of an outsider': () => amyClient.conn.setChatRoomAdmin({ chatRoomId: roomId, username: eve.username }),
                'setChatRoomAdmin of an unknown user': () => amyClient.conn.setChatRoomAdmin({ chatRoomId: roomId, username: 'nobody_here' }),
                'removeChatRoomAdmin by a member': () => calClient.conn.removeChatRoomAdmin({ chatRoomId: roomId, username: bob.username }),
                'removeChatRoomMember of the owner by an admin': () => bobClient.conn.removeChatRoomMember({ chatRoomId: roomId, username: amy.username }),
                'removeChatRoomMember by a member': () => danClient.conn.removeChatRoomMember({ chatRoomId: roomId, username: cal.username }),
                'removeChatRoomMembers of an admin by an admin': () => bobClient.conn.removeChatRoomMembers({ chatRoomId: roomId, users: [bob.username, cal.username] }),
            }), {
                'addUsersToChatRoom by a member': DENIED,
                'addUsersToChatRoom of an unknown user': [USER_NOT_FOUND, 'user not found'],
                // maxusers 4, the owner counted.
                'addUsersToChatRoom into a full room': [CHATROOM_MEMBERS_FULL, 'group member list is full!'],
                'listChatRoomMembers by an outsider': notMember(eve),
                'getChatRoomMembers with a foreign cursor': [AJAX_ERROR, 'cursor is not one this server gave'],
                'getChatRoomAdmin of no room': ABSENT,
                'setChatRoomAdmin by an admin': DENIED,
                'setChatRoomAdmin of an outsider': notMember(eve),
                'setChatRoomAdmin of an unknown user': [USER_NOT_FOUND, 'user not found'],
                'removeChatRoomAdmin by a member': DENIED,
                'removeChatRoomMember of the owner by an admin': DENIED,
                'removeChatRoomMember by a member': DENIED,
                'removeChatRoomMembers of an admin by an admin': DENIED,
            })
            assert.deepEqual((await amyClient.conn.listChatRoomMembers({ chatRoomId: roomId, pageNum: 1, pageSize: 10 })).data, everyone, 'nothing refused changed the members')
            // Raw REST where the SDK checks its input itself: paging, and a body that is not JSON.
            const token = amyClient.conn.context.accessToken
            const raw = async (method, path, options = {}) => {
                const res = await server.rest(method, path, { token, ...options })
                return [res.status, res.json.error, res.json.error_description]
            }
            assert.deepEqual(await raw('GET', `/chatrooms/${roomId}/users?pagenum=first&pagesize=10`), [400, 'illegal_argument', 'pagenum must be a number from 1'])
            assert.deepEqual(await raw('GET', `/chatrooms/${roomId}/users?cursor=undefined&limit=0&joined_time=true`), [400, 'illegal_argument', 'limit must be 1 to 1000'])
            assert.deepEqual((await raw('POST', `/chatrooms/${roomId}/users?resource=x`, { rawBody: '{"usernames": "bob"}' })).slice(0, 2), [400, 'json_parse'])
            assert.deepEqual(await raw('POST', `/chatrooms/${roomId}/admin?resource=x`, { body: {} }), [400, 'json_parse', 'missing field `newadmin` at line 1 column 2'])

            // The admin removes a member: they hear removeMember, the others memberAbsence.
            const removed = await bobClient.conn.removeChatRoomMember({ chatRoomId: roomId, username: cal.username })
            assert.deepEqual(removed.data, { result: true, action: 'remove_member', user: cal.username, id: roomId })
            assert.deepEqual(await roomEvent(calClient, 'removeMember', roomId), { operation: 'removeMember', id: roomId, from: bob.username })
            for (const client of [amyClient, danClient]) {
                assert.deepEqual(await roomEvent(client, 'memberAbsence', roomId, { predicate: (e) => e.from === cal.username }),
                    { operation: 'memberAbsence', id: roomId, from: cal.username, memberCount: 3 })
            }
            assert.equal(roomEvents(bobClient, 'removeMember', roomId).length, 0, 'only the removed user hears removeMember')
            assert.equal(roomEvents(calClient, 'setAdmin', roomId).length + roomEvents(danClient, 'setAdmin', roomId).length, 0, 'only the new admin hears setAdmin')

            // A batch: one row per user named, `result` false for who was not in.
            const batch = await amyClient.conn.removeChatRoomMembers({ chatRoomId: roomId, users: names(dan, cal) })
            assert.deepEqual(batch.data, [
                { result: true, action: 'remove_member', user: dan.username, id: roomId },
                { result: false, action: 'remove_member', user: cal.username, id: roomId },
            ])
            assert.deepEqual(await roomEvent(danClient, 'removeMember', roomId), { operation: 'removeMember', id: roomId, from: amy.username })
            assert.deepEqual(await roomEvent(bobClient, 'memberAbsence', roomId, { predicate: (e) => e.from === dan.username }),
                { operation: 'memberAbsence', id: roomId, from: dan.username, memberCount: 2 })
            assert.deepEqual(await refused(danClient.conn.getChatRoomAdmin({ chatRoomId: roomId }), 'a removed member reading the admins'), notMember(dan))

            const unset = await amyClient.conn.removeChatRoomAdmin({ chatRoomId: roomId, username: bob.username })
            assert.deepEqual(unset.data, { result: 'success', oldadmin: bob.username })
            assert.deepEqual(await roomEvent(bobClient, 'removeAdmin', roomId), { operation: 'removeAdmin', id: roomId, from: amy.username })
            assert.deepEqual((await bobClient.conn.getChatRoomAdmin({ chatRoomId: roomId })).data, [])
            assert.deepEqual((await bobClient.conn.listChatRoomMembers({ chatRoomId: roomId, pageNum: 1, pageSize: 10 })).data, [{ owner: amy.username }, { member: bob.username }])
        }))

        test('mutes and the allowlist: muteChatRoomMember (muteMember with muteTimestamp, send fails with 507), getChatRoomMuteList, isInChatRoomMutelist, unmute; disableSendChatRoomMsg / enableSendChatRoomMsg; allowlist add / remove / get / is-in', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan, eve } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan', 'eve'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const eveClient = await member(server, sdkName, eve)
            const roomId = await createRoom(amyClient, { members: names(bob, cal, dan) })
            await amyClient.conn.setChatRoomAdmin({ chatRoomId: roomId, username: bob.username })

            const before = Date.now()
            const muted = await bobClient.conn.muteChatRoomMember({ chatRoomId: roomId, username: cal.username, muteDuration: 600000 })
            assert.equal(muted.data.length, 1)
            const [mutedRow] = muted.data
            assert.deepEqual({ result: mutedRow.result, user: mutedRow.user }, { result: true, user: cal.username })
            assert.ok(Math.abs(mutedRow.expire - (before + 600000)) < 10000, `expire is the end of the mute in ms: ${mutedRow.expire}`)
            // Only the muted member hears muteMember, with the end of the mute.
            assert.deepEqual(await roomEvent(calClient, 'muteMember', roomId),
                { operation: 'muteMember', id: roomId, from: bob.username, userId: cal.username, muteTimestamp: mutedRow.expire })
            const mutedSend = await refusedSend(calClient, roomId, 'can I speak?')
            assert.deepEqual([mutedSend.type, mutedSend.reason], [MUTED, 'you were muted'], mutedSend.detail)
            await heard(danClient, calClient, roomId, 'cal still hears')
            assert.deepEqual((await amyClient.conn.getChatRoomMuteList({ chatRoomId: roomId })).data, [{ user: cal.username, expire: mutedRow.expire }])
            assert.equal((await calClient.conn.isInChatRoomMutelist({ chatRoomId: roomId })).data, true)
            assert.equal((await danClient.conn.isInChatRoomMutelist({ chatRoomId: roomId })).data, false)

            const unmuted = await amyClient.conn.unmuteChatRoomMember({ chatRoomId: roomId, username: cal.username })
            assert.deepEqual(unmuted.data, [{ result: true, user: cal.username }])
            assert.deepEqual(await roomEvent(calClient, 'unmuteMember', roomId), { operation: 'unmuteMember', id: roomId, from: amy.username, userId: cal.username })
            assert.deepEqual((await bobClient.conn.getChatRoomMuteList({ chatRoomId: roomId })).data, [])
            assert.equal((await calClient.conn.isInChatRoomMutelist({ chatRoomId: roomId })).data, false)
            await heard(calClient, danClient, roomId, 'cal speaks again')

            // The allowlist: easemob unwraps a one-row answer to the row.
            const allowed = await amyClient.conn.addUsersToChatRoomAllowlist({ chatRoomId: roomId, users: [dan.username] })
            const allowedRow = { result: true, action: 'add_user_whitelist', user: dan.username, id: roomId }
            assert.deepEqual(allowed.data, easemob ? allowedRow : [allowedRow])
            assert.deepEqual(await roomEvent(danClient, 'addUserToAllowlist', roomId), { operation: 'addUserToAllowlist', id: roomId, from: amy.username, userId: dan.username })
            assert.deepEqual((await bobClient.conn.getChatRoomAllowlist({ chatRoomId: roomId })).data, [dan.username])
            assert.deepEqual((await calClient.conn.isInChatRoomAllowlist({ chatRoomId: roomId, userName: dan.username })).data, { white: true, member: dan.username })
            assert.deepEqual((await calClient.conn.isInChatRoomAllowlist({ chatRoomId: roomId, userName: cal.username })).data, { white: false, member: cal.username })

            // Everyone muted: only the owner, admins and the allowlist speak.
            assert.deepEqual((await amyClient.conn.disableSendChatRoomMsg({ chatRoomId: roomId })).data, { mute: true })
            for (const client of [bobClient, calClient, danClient]) {
                assert.deepEqual(await roomEvent(client, 'muteAllMembers', roomId), { operation: 'muteAllMembers', id: roomId, from: amy.username })
            }
            assert.equal((await calClient.conn.getChatRoomDetails({ chatRoomId: roomId })).data[0].mute, true)
            // Events about one member reach that member only (those above came earlier).
            assert.deepEqual(roomEvents(danClient, 'muteMember', roomId), [])
            assert.deepEqual(roomEvents(calClient, 'addUserToAllowlist', roomId), [])
            const silenced = await refusedSend(calClient, roomId, 'anyone?')
            assert.deepEqual([silenced.type, silenced.reason], [MUTED, 'you were muted'], silenced.detail)
            await heard(danClient, calClient, roomId, 'allowlisted')
            await heard(bobClient, calClient, roomId, 'an admin')
            await heard(amyClient, calClient, roomId, 'the owner')

            assert.deepEqual(await refusals({
                'muteChatRoomMember by a member': () => danClient.conn.muteChatRoomMember({ chatRoomId: roomId, username: cal.username, muteDuration: 1000 }),
                'muteChatRoomMember of the owner': () => bobClient.conn.muteChatRoomMember({ chatRoomId: roomId, username: amy.username, muteDuration: 1000 }),
                'muteChatRoomMember for no time': () => amyClient.conn.muteChatRoomMember({ chatRoomId: roomId, username: cal.username, muteDuration: 0 }),
                'muteChatRoomMember of an outsider': () => amyClient.conn.muteChatRoomMember({ chatRoomId: roomId, username: eve.username, muteDuration: 1000 }),
                'unmuteChatRoomMember by a member': () => danClient.conn.unmuteChatRoomMember({ chatRoomId: roomId, username: cal.username }),
                'getChatRoomMuteList by a member': () => danClient.conn.getChatRoomMuteList({ chatRoomId: roomId }),
                'isInChatRoomMutelist of no room': () => calClient.conn.isInChatRoomMutelist({ chatRoomId: `${roomId}0` }),
                'disableSendChatRoomMsg by a member': () => calClient.conn.disableSendChatRoomMsg({ chatRoomId: roomId }),
                'enableSendChatRoomMsg by a member': () => calClient.conn.enableSendChatRoomMsg({ chatRoomId: roomId }),
                'addUsersToChatRoomAllowlist by a member': () => calClient.conn.addUsersToChatRoomAllowlist({ chatRoomId: roomId, users: [cal.username] }),
                'addUsersToChatRoomAllowlist of an outsider': () => amyClient.conn.addUsersToChatRoomAllowlist({ chatRoomId: roomId, users: [eve.username] }),
                'removeChatRoomAllowlistMember by a member': () => calClient.conn.removeChatRoomAllowlistMember({ chatRoomId: roomId, userName: dan.username }),
                'getChatRoomAllowlist by a member': () => calClient.conn.getChatRoomAllowlist({ chatRoomId: roomId }),
                'isInChatRoomAllowlist by an outsider': () => eveClient.conn.isInChatRoomAllowlist({ chatRoomId: roomId, userName: dan.username }),
            }), {
                'muteChatRoomMember by a member': DENIED,
                'muteChatRoomMember of the owner': DENIED,
                'muteChatRoomMember for no time': [AJAX_ERROR, 'invalid mute_duration 0'],
                'muteChatRoomMember of an outsider': notMember(eve),
                'unmuteChatRoomMember by a member': DENIED,
                'getChatRoomMuteList by a member': DENIED,
                'isInChatRoomMutelist of no room': ABSENT,
                'disableSendChatRoomMsg by a member': DENIED,
                'enableSendChatRoomMsg by a member': DENIED,
                'addUsersToChatRoomAllowlist by a member': DENIED,
                'addUsersToChatRoomAllowlist of an outsider': notMember(eve),
                'removeChatRoomAllowlistMember by a member': DENIED,
                'getChatRoomAllowlist by a member': DENIED,
                'isInChatRoomAllowlist by an outsider': notMember(eve),
            })
            // Raw REST: a mute body that is not JSON.
            const garbage = await server.rest('POST', `/chatrooms/${roomId}/mute?resource=x`, { token: amyClient.conn.context.accessToken, rawBody: '{"usernames": [' })
            assert.deepEqual([garbage.status, garbage.json.error], [400, 'json_parse'])
            assert.deepEqual((await amyClient.conn.getChatRoomMuteList({ chatRoomId: roomId })).data, [], 'nothing refused muted anyone')

            assert.deepEqual((await bobClient.conn.enableSendChatRoomMsg({ chatRoomId: roomId })).data, { mute: false })
            assert.deepEqual(await roomEvent(calClient, 'unmuteAllMembers', roomId), { operation: 'unmuteAllMembers', id: roomId, from: bob.username })
            assert.equal((await calClient.conn.getChatRoomDetails({ chatRoomId: roomId })).data[0].mute, false)
            await heard(calClient, danClient, roomId, 'free again')

            const disallowed = await amyClient.conn.removeChatRoomAllowlistMember({ chatRoomId: roomId, userName: dan.username })
            // agora: the object as sent; easemob: v3's data[0], reshaped to the same object.
            assert.deepEqual(disallowed.data, { result: true, action: 'remove_user_whitelist', user: dan.username, id: roomId })
            assert.deepEqual(await roomEvent(danClient, 'removeAllowlistMember', roomId), { operation: 'removeAllowlistMember', id: roomId, from: amy.username, userId: dan.username })
            assert.deepEqual((await amyClient.conn.getChatRoomAllowlist({ chatRoomId: roomId })).data, [])
        }))

        test('blocklist: blockChatRoomMember(s) (out: removeMember, memberAbsence, auto-delete attributes announced), a blocked user cannot join (603), getChatRoomBlocklist, unblockChatRoomMember(s)', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan, eve } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan', 'eve'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const roomId = await createRoom(amyClient, { members: names(bob, cal, dan) })

            // Cal's seat goes with him (auto-delete); his note stays.
            await calClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'seat', attributeValue: 'cal' })
            await calClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'note', attributeValue: 'by cal', autoDelete: false })
            await roomEvent(bobClient, 'updateChatRoomAttributes', roomId, { predicate: (e) => 'note' in e.attributes })

            const blocked = await amyClient.conn.blockChatRoomMember({ chatRoomId: roomId, username: cal.username })
            // agora: the object as sent; easemob: v3's data[0], reshaped to the same object.
            assert.deepEqual(blocked.data, { result: true, action: 'add_blocks', user: cal.username, id: roomId })
            assert.deepEqual(await roomEvent(calClient, 'removeMember', roomId), { operation: 'removeMember', id: roomId, from: amy.username })
            for (const client of [bobClient, danClient]) {
                assert.deepEqual(await roomEvent(client, 'memberAbsence', roomId, { predicate: (e) => e.from === cal.username }),
                    { operation: 'memberAbsence', id: roomId, from: cal.username, memberCount: 3 })
                assert.deepEqual(await roomEvent(client, 'removeChatRoomAttributes', roomId),
                    { operation: 'removeChatRoomAttributes', id: roomId, from: cal.username, attributes: ['seat'] })
            }
            assert.deepEqual((await bobClient.conn.getChatRoomAttributes({ chatRoomId: roomId })).data, { note: 'by cal' })
            assert.deepEqual(await refused(calClient.conn.joinChatRoom({ roomId }), 'a blocked user joining'), DENIED)
            assert.deepEqual(await refused(calClient.conn.getChatRoomAdmin({ chatRoomId: roomId }), 'a blocked user reading the admins'), notMember(cal))

            // A batch: one row each; a user not in the room is blocked too (and cannot join).
            const batch = await amyClient.conn.blockChatRoomMembers({ chatRoomId: roomId, usernames: names(dan, eve) })
            assert.deepEqual(batch.data, [
                { result: true, action: 'add_blocks', user: dan.username, id: roomId },
                { result: true, action: 'add_blocks', user: eve.username, id: roomId },
            ])
            assert.deepEqual(await roomEvent(danClient, 'removeMember', roomId), { operation: 'removeMember', id: roomId, from: amy.username })
            assert.deepEqual(await roomEvent(bobClient, 'memberAbsence', roomId, { predicate: (e) => e.from === dan.username }),
                { operation: 'memberAbsence', id: roomId, from: dan.username, memberCount: 2 })
            assert.deepEqual((await amyClient.conn.getChatRoomBlocklist({ chatRoomId: roomId })).data, names(cal, dan, eve))

            assert.deepEqual(await refusals({
                'blockChatRoomMember by a member': () => bobClient.conn.blockChatRoomMember({ chatRoomId: roomId, username: amy.username }),
                'blockChatRoomMember of the owner': () => amyClient.conn.blockChatRoomMember({ chatRoomId: roomId, username: amy.username }),
                'blockChatRoomMember of an unknown user': () => amyClient.conn.blockChatRoomMember({ chatRoomId: roomId, username: 'nobody_here' }),
                'blockChatRoomMembers by a member': () => bobClient.conn.blockChatRoomMembers({ chatRoomId: roomId, usernames: [cal.username] }),
                'blockChatRoomMembers in no room': () => amyClient.conn.blockChatRoomMembers({ chatRoomId: `${roomId}0`, usernames: [cal.username] }),
                'unblockChatRoomMember by a member': () => bobClient.conn.unblockChatRoomMember({ chatRoomId: roomId, username: cal.username }),
                'unblockChatRoomMembers by a blocked user': () => calClient.conn.unblockChatRoomMembers({ chatRoomId: roomId, usernames: [cal.username] }),
                'getChatRoomBlocklist by a member': () => bobClient.conn.getChatRoomBlocklist({ chatRoomId: roomId }),
                'addUsersToChatRoom of a blocked user': () => amyClient.conn.addUsersToChatRoom({ chatRoomId: roomId, users: [cal.username] }),
            }), {
                'blockChatRoomMember by a member': DENIED,
                'blockChatRoomMember of the owner': DENIED,
                'blockChatRoomMember of an unknown user': [USER_NOT_FOUND, 'user not found'],
                'blockChatRoomMembers by a member': DENIED,
                'blockChatRoomMembers in no room': ABSENT,
                'unblockChatRoomMember by a member': DENIED,
                'unblockChatRoomMembers by a blocked user': notMember(cal),
                'getChatRoomBlocklist by a member': DENIED,
                'addUsersToChatRoom of a blocked user': DENIED,
            })
            assert.deepEqual((await amyClient.conn.getChatRoomBlocklist({ chatRoomId: roomId })).data, names(cal, dan, eve), 'nothing refused changed the blocklist')

            const unblocked = await amyClient.conn.unblockChatRoomMember({ chatRoomId: roomId, username: cal.username })
            assert.deepEqual(unblocked.data, { result: true, action: 'remove_blocks', user: cal.username, id: roomId })
            assert.deepEqual(await roomEvent(calClient, 'unblockMember', roomId), { operation: 'unblockMember', id: roomId, from: amy.username })
            const info = await join(calClient, roomId)
            assert.equal(info.info.memberCount, 3)
            const rest = await amyClient.conn.unblockChatRoomMembers({ chatRoomId: roomId, usernames: names(dan, eve, cal) })
            assert.deepEqual(rest.data, [
                { result: true, action: 'remove_blocks', user: dan.username, id: roomId },
                { result: true, action: 'remove_blocks', user: eve.username, id: roomId },
                { result: false, action: 'remove_blocks', user: cal.username, id: roomId },
            ])
            assert.deepEqual(await roomEvent(danClient, 'unblockMember', roomId), { operation: 'unblockMember', id: roomId, from: amy.username })
            assert.equal(roomEvents(calClient, 'unblockMember', roomId).length, 1, 'cal was unblocked once')
            assert.deepEqual((await amyClient.conn.getChatRoomBlocklist({ chatRoomId: roomId })).data, [])
            await join(danClient, roomId)
        }))

        test('announcement and room attributes: fetch / update (updateAnnouncement), get / set / remove, forced or not, limits, auto-delete on leaving', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, eve } = await freshUsers(server, ['amy', 'bob', 'cal', 'eve'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const eveClient = await member(server, sdkName, eve)
            const roomId = await createRoom(amyClient, { members: names(bob, cal) })

            assert.deepEqual((await bobClient.conn.fetchChatRoomAnnouncement({ roomId })).data, { announcement: '' })
            const text = 'Quiet after 10 — merci ☕'
            assert.deepEqual((await amyClient.conn.updateChatRoomAnnouncement({ roomId, announcement: text })).data, { id: roomId, result: true })
            assert.deepEqual(await roomEvent(bobClient, 'updateAnnouncement', roomId), { operation: 'updateAnnouncement', id: roomId, from: amy.username, announcement: text })
            assert.deepEqual((await calClient.conn.fetchChatRoomAnnouncement({ roomId })).data, { announcement: text })

            // Bob sets a key; the members online hear it. (The SDK names no device in these
            // calls, so the setter's own device may hear it too: not asserted.)
            assert.equal(await bobClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'topic', attributeValue: 'rust', autoDelete: false }), undefined)
            for (const client of [amyClient, calClient]) {
                assert.deepEqual(await roomEvent(client, 'updateChatRoomAttributes', roomId, { predicate: (e) => e.from === bob.username }),
                    { operation: 'updateChatRoomAttributes', id: roomId, from: bob.username, attributes: { topic: 'rust' } })
            }
            // Not forced, another member's key is refused per key; forced, it is taken over.
            const mixed = await calClient.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: { topic: 'go', mood: 'calm' } })
            assert.deepEqual(mixed.data, { status: 'fail', errorKeys: { topic: 'The key topic is not part of you' }, successKeys: ['mood'] })
            assert.deepEqual(await roomEvent(bobClient, 'updateChatRoomAttributes', roomId, { predicate: (e) => e.from === cal.username }),
                { operation: 'updateChatRoomAttributes', id: roomId, from: cal.username, attributes: { mood: 'calm' } })
            await calClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'topic', attributeValue: 'go', isForced: true })
            await roomEvent(bobClient, 'updateChatRoomAttributes', roomId, { predicate: (e) => e.from === cal.username && e.attributes.topic === 'go' })
            const forced = await calClient.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: { topic: 'zig', mood: 'loud' }, isForced: true, autoDelete: false })
            assert.deepEqual(forced.data, { status: 'success', errorKeys: {}, successKeys: ['topic', 'mood'] })
            assert.deepEqual((await amyClient.conn.getChatRoomAttributes({ chatRoomId: roomId })).data, { mood: 'loud', topic: 'zig' })
            assert.deepEqual((await amyClient.conn.getChatRoomAttributes({ chatRoomId: roomId, attributeKeys: ['topic', 'none'] })).data, { topic: 'zig' })

            // Removal: someone else's key needs force; a missing key is refused per key.
            assert.deepEqual(await refused(bobClient.conn.removeChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'topic' }), 'removing another member\'s key'),
                [NO_PERMISSION, 'The key topic is not part of you'])
            assert.equal(await bobClient.conn.removeChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'topic', isForced: true }), undefined)
            assert.deepEqual(await roomEvent(calClient, 'removeChatRoomAttributes', roomId, { predicate: (e) => e.from === bob.username }),
                { operation: 'removeChatRoomAttributes', id: roomId, from: bob.username, attributes: ['topic'] })
            const removed = await calClient.conn.removeChatRoomAttributes({ chatRoomId: roomId, attributeKeys: ['mood', 'none'] })
            assert.deepEqual(removed.data, { status: 'fail', errorKeys: { none: 'The key none does not exist' }, successKeys: ['mood'] })
            assert.deepEqual(await roomEvent(amyClient, 'removeChatRoomAttributes', roomId, { predicate: (e) => e.from === cal.username }),
                { operation: 'removeChatRoomAttributes', id: roomId, from: cal.username, attributes: ['mood'] })
            assert.deepEqual((await amyClient.conn.getChatRoomAttributes({ chatRoomId: roomId })).data, {})

            // Limits: 100 keys a room, 20 a call, 128-byte keys.
            const keys = (from, n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${from + i}`, 'v']))
            for (let from = 0; from < 100; from += 20) {
                assert.equal((await amyClient.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: keys(from, 20) })).data.status, 'success')
            }
            const full = await amyClient.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: { 'k/0': 'v', k0: 'again', extra: 'v' } })
            assert.deepEqual(full.data, {
                status: 'fail',
                errorKeys: { extra: 'The key extra is exceeding maximum limit', 'k/0': 'The key k/0 is not Legal' },
                successKeys: ['k0'],
            })
            const longKey = 'x'.repeat(129)
            assert.deepEqual(await refusals({
                'setChatRoomAttribute past 100 keys': () => amyClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'extra', attributeValue: 'v' }),
                'setChatRoomAttribute with a long key': () => amyClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: longKey, attributeValue: 'v' }),
                'setChatRoomAttribute with a space in the key': () => amyClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'k 1', attributeValue: 'v' }),
                'setChatRoomAttribute with a long value': () => amyClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'k1', attributeValue: 'v'.repeat(4097) }),
                'setChatRoomAttribute of another member\'s key': () => bobClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'k1', attributeValue: 'mine' }),
                'setChatRoomAttribute by an outsider': () => eveClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'k1', attributeValue: 'mine' }),
                'setChatRoomAttributes of 21 keys': () => amyClient.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: keys(0, 21) }),
                'setChatRoomAttributes with a number': () => amyClient.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: { k1: 5 } }),
                'getChatRoomAttributes by an outsider': () => eveClient.conn.getChatRoomAttributes({ chatRoomId: roomId }),
                'getChatRoomAttributes of no room': () => amyClient.conn.getChatRoomAttributes({ chatRoomId: `${roomId}0` }),
                'removeChatRoomAttribute of a missing key': () => amyClient.conn.removeChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'none' }),
                'removeChatRoomAttributes by an outsider': () => eveClient.conn.removeChatRoomAttributes({ chatRoomId: roomId, attributeKeys: ['k1'] }),
                'fetchChatRoomAnnouncement by an outsider': () => eveClient.conn.fetchChatRoomAnnouncement({ roomId }),
                'updateChatRoomAnnouncement by a member': () => bobClient.conn.updateChatRoomAnnouncement({ roomId, announcement: 'mine' }),
                'updateChatRoomAnnouncement too long': () => amyClient.conn.updateChatRoomAnnouncement({ roomId, announcement: 'a'.repeat(513) }),
            }), {
                'setChatRoomAttribute past 100 keys': [MAX_LIMIT, 'The key extra is exceeding maximum limit'],
                'setChatRoomAttribute with a long key': [PARAMETER_ERROR, `The key ${longKey} is not Legal`],
                'setChatRoomAttribute with a space in the key': [PARAMETER_ERROR, 'The key k 1 is not Legal'],
                'setChatRoomAttribute with a long value': [PARAMETER_ERROR, 'The key k1 is not Legal'],
                'setChatRoomAttribute of another member\'s key': [NO_PERMISSION, 'The key k1 is not part of you'],
                'setChatRoomAttribute by an outsider': notMember(eve),
                'setChatRoomAttributes of 21 keys': [AJAX_ERROR, 'name 1 to 20 attributes'],
                'setChatRoomAttributes with a number': [AJAX_ERROR, 'the value of k1 is not a string'],
                'getChatRoomAttributes by an outsider': notMember(eve),
                'getChatRoomAttributes of no room': ABSENT,
                'removeChatRoomAttribute of a missing key': [AJAX_ERROR, 'The key none does not exist'],
                'removeChatRoomAttributes by an outsider': notMember(eve),
                'fetchChatRoomAnnouncement by an outsider': notMember(eve),
                'updateChatRoomAnnouncement by a member': DENIED,
                'updateChatRoomAnnouncement too long': [AJAX_ERROR, 'announcement is longer than 512 characters'],
            })
            assert.equal((await calClient.conn.fetchChatRoomAnnouncement({ roomId })).data.announcement, text)
            // Raw REST: a body that is not JSON, and attributes set as someone else.
            const token = bobClient.conn.context.accessToken
            const garbage = await server.rest('PUT', `/metadata/chatroom/${roomId}/user/${bob.username}`, { token, rawBody: '{"metaData": {' })
            assert.deepEqual([garbage.status, garbage.json.error], [400, 'json_parse'])
            const asAmy = await server.rest('PUT', `/metadata/chatroom/${roomId}/user/${amy.username}`, { token, body: { metaData: { k2: 'bob' }, autoDelete: 'DELETE' } })
            assert.deepEqual([asAmy.status, asAmy.json.error_description], [400, 'attributes are set as oneself'])
            // Where the SDK checks its input itself: no key at all, keys that are not a list,
            // an announcement that is not text.
            const noKeys = await server.rest('PUT', `/metadata/chatroom/${roomId}/user/${bob.username}`, { token, body: { metaData: {}, autoDelete: 'DELETE' } })
            assert.deepEqual([noKeys.status, noKeys.json.error_description], [400, 'name 1 to 20 attributes'])
            const badAutoDelete = await server.rest('PUT', `/metadata/chatroom/${roomId}/user/${bob.username}`, { token, body: { metaData: { k2: 'v' }, autoDelete: 'SOMETIMES' } })
            assert.deepEqual([badAutoDelete.status, badAutoDelete.json.error_description], [400, 'invalid autoDelete SOMETIMES'])
            const keysText = await server.rest('DELETE', `/metadata/chatroom/${roomId}/user/${bob.username}`, { token, body: { keys: 'k2' } })
            assert.deepEqual([keysText.status, keysText.json.error], [400, 'json_parse'])
            const number = await server.rest('POST', `/chatrooms/${roomId}/announcement?resource=x`, { token: amyClient.conn.context.accessToken, body: { announcement: 5 } })
            assert.deepEqual([number.status, number.json.error], [400, 'json_parse'])
            for (let from = 0; from < 100; from += 20) {
                const gone = await amyClient.conn.removeChatRoomAttributes({ chatRoomId: roomId, attributeKeys: Object.keys(keys(from, 20)) })
                assert.equal(gone.data.status, 'success')
            }

            // An auto-delete key (the default) goes when its setter leaves; the room hears of it.
            await bobClient.conn.setChatRoomAttributes({ chatRoomId: roomId, attributes: { seat: 'bob', badge: 'gold' } })
            await bobClient.conn.setChatRoomAttribute({ chatRoomId: roomId, attributeKey: 'note', attributeValue: 'kept', autoDelete: false })
            await roomEvent(calClient, 'updateChatRoomAttributes', roomId, { predicate: (e) => 'note' in e.attributes })
            await withTimeout(bobClient.conn.leaveChatRoom({ roomId }), 20000, 'bob leaves')
            assert.deepEqual(await roomEvent(calClient, 'removeChatRoomAttributes', roomId, { predicate: (e) => e.attributes.includes('seat') }),
                { operation: 'removeChatRoomAttributes', id: roomId, from: bob.username, attributes: ['badge', 'seat'] })
            assert.deepEqual((await calClient.conn.getChatRoomAttributes({ chatRoomId: roomId })).data, { note: 'kept' })
        }))

        test('recall of a room message by its sender and by an admin (onRecallMessage to the members); a member may not recall another\'s', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const roomId = await createRoom(amyClient, { members: names(bob, cal) })
            await amyClient.conn.setChatRoomAdmin({ chatRoomId: roomId, username: bob.username })

            const own = await heard(calClient, amyClient, roomId, 'oops')
            await calClient.conn.recallMessage({ mid: own.serverMsgId, to: roomId, chatType: 'chatRoom' })
            for (const client of [amyClient, bobClient]) {
                const recall = await client.waitFor('onRecallMessage', { predicate: (m) => m.mid === String(own.serverMsgId) })
                assert.deepEqual([recall.from, recall.to], [cal.username, roomId])
            }

            const theirs = await heard(calClient, bobClient, roomId, 'off topic')
            const owners = await heard(amyClient, calClient, roomId, 'from the owner')
            const errors = {}
            for (const [what, call] of Object.entries({
                'a member recalling the owner\'s message': () => calClient.conn.recallMessage({ mid: owners.serverMsgId, to: roomId, chatType: 'chatRoom' }),
                'an outsider recalling': () => danClient.conn.recallMessage({ mid: theirs.serverMsgId, to: roomId, chatType: 'chatRoom' }),
                'a recall of no message': () => bobClient.conn.recallMessage({ mid: '1234567890123', to: roomId, chatType: 'chatRoom' }),
            })) {
                const error = await rejection(call(), what)
                errors[what] = [error.type, error.message]
            }
            assert.deepEqual(errors, {
                'a member recalling the owner\'s message': [PERMISSION_DENIED, 'You do not have the modified permission.'],
                // The msync reason the SDK maps to 602 for groups and rooms alike.
                'an outsider recalling': [GROUP_NOT_JOINED, 'not in group or chatroom'],
                'a recall of no message': [MESSAGE_NOT_FOUND, 'The message does not exist.'],
            })

            // An admin recalls a member's message: everyone online hears it, the sender too.
            await bobClient.conn.recallMessage({ mid: theirs.serverMsgId, to: roomId, chatType: 'chatRoom' })
            for (const client of [amyClient, calClient]) {
                const recall = await client.waitFor('onRecallMessage', { predicate: (m) => m.mid === String(theirs.serverMsgId) })
                assert.equal(recall.to, roomId)
            }
        }))

        test('shared files: uploadChatRoomSharedFile (uploadFile to the members online), getChatRoomSharedFilelist latest first, deleteChatRoomSharedFile by the sharer or the owner (deleteFile); an outsider, a plain member and unknown files and rooms refused', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const roomId = await createRoom(amyClient, { members: names(bob, cal) })
            const upload = (client, name, bytes, room = roomId) => {
                const file = new File([bytes], name, { type: 'application/octet-stream' })
                const option = { url: URL.createObjectURL(file), filename: name, filetype: 'bin', data: file }
                return withTimeout(new Promise((resolve) => client.conn.uploadChatRoomSharedFile({
                    roomId: room, file: option, onFileUploadComplete: (data) => resolve({ ok: true, data }), onFileUploadError: (error) => resolve({ ok: false, error }),
                })), 15000, `${client.user} uploads ${name}`)
            }

            const notes = await upload(bobClient, 'notes.bin', Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251)))
            assert.equal(notes.ok, true, describeError(notes.error))
            const { file_id: notesId, created, ...shared } = notes.data.data
            assert.deepEqual([typeof notesId, typeof created], ['string', 'number'])
            assert.deepEqual(shared, { id: roomId, file_name: 'notes.bin', file_size: 3000 })
            for (const client of [amyClient, calClient]) {
                assert.deepEqual(await roomEvent(client, 'uploadFile', roomId), { operation: 'uploadFile', id: roomId, from: bob.username })
            }
            const plan = await upload(calClient, 'plan.txt', Buffer.from('the plan'))
            assert.equal(plan.ok, true, describeError(plan.error))
            const planId = plan.data.data.file_id
            await roomEvent(bobClient, 'uploadFile', roomId, { predicate: (e) => e.from === cal.username })

            const rows = (list) => list.data.map((f) => [f.file_id, f.file_name, f.file_owner, f.file_size])
            const listed = await calClient.conn.getChatRoomSharedFilelist({ roomId })
            assert.deepEqual(rows(listed), [[planId, 'plan.txt', cal.username, 8], [notesId, 'notes.bin', bob.username, 3000]])
            for (const file of listed.data) assert.equal(typeof file.created, 'number')
            assert.deepEqual(rows(await amyClient.conn.fetchChatRoomSharedFileList({ roomId })), rows(listed))

            // An outsider neither uploads, lists nor deletes; a plain member deletes only their own.
            const outsider = await upload(danClient, 'mine.txt', Buffer.from('mine'))
            // Refused before the body is read: the SDK's uploader hands the 403 body to
            // onFileUploadComplete, or, when the answer overtakes the upload, fails it.
            if (outsider.ok) {
                assert.deepEqual([outsider.data.error, outsider.data.error_description], ['forbidden_op', `user: ${dan.username} are not members of this group!`])
            }
            const nowhere = await upload(bobClient, 'lost.txt', Buffer.from('lost'), `${roomId}0`)
            if (nowhere.ok) {
                assert.deepEqual([nowhere.data.error, nowhere.data.error_description], ['resource_not_found', 'the chat room does not exist'])
            }
            assert.deepEqual(await refusals({
                'getChatRoomSharedFilelist by an outsider': () => danClient.conn.getChatRoomSharedFilelist({ roomId }),
                'deleteChatRoomSharedFile by an outsider': () => danClient.conn.deleteChatRoomSharedFile({ roomId, fileId: notesId }),
                'deleteChatRoomSharedFile of another member\'s file': () => calClient.conn.deleteChatRoomSharedFile({ roomId, fileId: notesId }),
                'getChatRoomSharedFilelist of no room': () => bobClient.conn.getChatRoomSharedFilelist({ roomId: `${roomId}0` }),
                'deleteChatRoomSharedFile in no room': () => bobClient.conn.deleteChatRoomSharedFile({ roomId: `${roomId}0`, fileId: notesId }),
            }), {
                'getChatRoomSharedFilelist by an outsider': notMember(dan),
                'deleteChatRoomSharedFile by an outsider': notMember(dan),
                'deleteChatRoomSharedFile of another member\'s file': DENIED,
                'getChatRoomSharedFilelist of no room': ABSENT,
                'deleteChatRoomSharedFile in no room': ABSENT,
            })
            // A 404 the SDK has no text for: it surfaces the whole body as the message.
            const [type, message] = await refused(bobClient.conn.deleteChatRoomSharedFile({ roomId, fileId: 'no-such-file' }), 'deleting no file')
            const { error, error_description: description } = JSON.parse(message)
            assert.deepEqual([type, error, description], [AJAX_ERROR, 'file_expired', 'file not found or expired'])
            assert.deepEqual(rows(await bobClient.conn.getChatRoomSharedFilelist({ roomId })), rows(listed))

            // The sharer deletes their own file, the owner anyone's; the members online hear it.
            const deleted = await bobClient.conn.deleteChatRoomSharedFile({ roomId, fileId: notesId })
            assert.deepEqual(deleted.data, { id: roomId, file_id: notesId, result: true })
            for (const client of [amyClient, calClient]) {
                assert.deepEqual(await roomEvent(client, 'deleteFile', roomId), { operation: 'deleteFile', id: roomId, from: bob.username })
            }
            assert.deepEqual((await amyClient.conn.deleteChatRoomSharedFile({ roomId, fileId: planId })).data, { id: roomId, file_id: planId, result: true })
            await roomEvent(calClient, 'deleteFile', roomId, { predicate: (e) => e.from === amy.username })
            assert.deepEqual((await calClient.conn.getChatRoomSharedFilelist({ roomId })).data, [])
            // The acting device hears nothing of its own upload and deletion.
            assert.deepEqual(roomEvents(bobClient, 'uploadFile', roomId).map((e) => e.from), [cal.username])
            assert.deepEqual(roomEvents(bobClient, 'deleteFile', roomId).map((e) => e.from), [amy.username])
        }))
    })
}
