'use strict'
// Threads with both web SDKs (API-SURFACE.md section 7): a thread made from a group message
// (createChatThread; the group hears onChatThreadChange `create`), joined, its messages (group
// messages with `isChatThread`) reaching its members only, with `chatThread` on each; the group
// hearing `update` with the count and last message; the parent message's chatThreadOverview
// in the group's history; members, joined threads, a group's threads, last messages, detail,
// rename, removal of a member (`userRemove`), leave, destroy; a refused case for each.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, settle, withTimeout } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials } = require('../lib/harness')

const ctx = useServer({ label: 'threads' })

const AJAX_ERROR = 17
const GROUP_NOT_JOINED = 602
const PERMISSION_DENIED = 603
const CHATROOM_NOT_JOINED = 702

async function member(server, sdkName, user) {
    const client = await Client.create({ sdkName, server, user: user.username })
    client.conn.addEventHandler('threads-e2e', {
        onChatThreadChange: (event) => client._record('onChatThreadChange', event),
        onMultiDeviceEvent: (event) => client._record('onMultiDeviceEvent', event),
    })
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

function threadEvent(client, operation, threadId, predicate = () => true) {
    return client.waitFor('onChatThreadChange', { predicate: (e) => e.operation === operation && e.id === threadId && predicate(e) })
}

async function createGroup(owner, members) {
    const res = await owner.conn.createGroupVNext({
        groupName: 'threads', description: '', members, isPublic: false, needApprovalToJoin: false,
        allowMemberToInvite: false, inviteNeedConfirm: false, maxMemberCount: 50,
    })
    return res.data.groupId
}

function groupText(client, to, msg, extra = {}) {
    return withTimeout(Promise.resolve(client.conn.send(client.sdk.message.create({ chatType: 'groupChat', type: 'txt', to, msg, ...extra }))), 20000, `${client.user}: send`)
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('a thread from a group message: create, join, messages to its members only, the group hears update, overview, lists, rename, remove, leave, destroy', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const groupId = await createGroup(amyClient, [bob.username, cal.username])
            const parent = await groupText(amyClient, groupId, 'what do we think?')
            const parentId = String(parent.serverMsgId)

            // Bob makes a thread of Amy's message; the group's other members hear of it.
            const created = await bobClient.conn.createChatThread({ name: 'opinions', messageId: parentId, parentId: groupId })
            const threadId = created.data.chatThreadId
            assert.ok(/^\d+$/.test(threadId), threadId)
            for (const client of [amyClient, calClient]) {
                const event = await threadEvent(client, 'create', threadId)
                assert.deepEqual([event.name, event.parentId, event.messageId, event.operator], ['opinions', groupId, parentId, bob.username])
            }

            // Cal joins; the answer is the thread.
            const joined = (await calClient.conn.joinChatThread({ chatThreadId: threadId })).data.detail
            assert.deepEqual([joined.id, joined.name, joined.parentId, joined.messageId], [threadId, 'opinions', groupId, parentId])

            // A thread message reaches its members (Cal), with chatThread; Amy, in the group
            // but not the thread, gets no message but the group's `update` with the count.
            const sent = await groupText(bobClient, threadId, 'I like it', { isChatThread: true })
            const got = await calClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(sent.serverMsgId) })
            assert.deepEqual([got.msg, got.to, got.chatType], ['I like it', threadId, 'groupChat'])
            assert.deepEqual(got.chatThread, { messageId: parentId, parentId: groupId, chatThreadName: 'opinions' })
            const update = await threadEvent(amyClient, 'update', threadId, (e) => e.messageCount === 1)
            assert.equal(update.lastMessage.msg, 'I like it')
            assert.equal(amyClient.all('onTextMessage').filter((m) => m.msg === 'I like it').length, 0)

            // The parent message in the group's history carries the overview.
            const history = await amyClient.conn.getHistoryMessages({ targetId: groupId, chatType: 'groupChat', pageSize: 10 })
            const withOverview = history.messages.find((m) => m.id === parentId)
            assert.deepEqual([withOverview.chatThreadOverview.id, withOverview.chatThreadOverview.name, withOverview.chatThreadOverview.messageCount], [threadId, 'opinions', 1])
            assert.equal(withOverview.chatThreadOverview.lastMessage.msg, 'I like it')
            // The thread's own history.
            const threadHistory = await calClient.conn.getHistoryMessages({ targetId: threadId, chatType: 'groupChat', pageSize: 10 })
            assert.deepEqual(threadHistory.messages.map((m) => m.msg), ['I like it'])

            // Lists and detail.
            const members = await amyClient.conn.getChatThreadMembers({ chatThreadId: threadId, pageSize: 10 })
            assert.deepEqual(members.data.affiliations, [bob.username, cal.username])
            const mine = await calClient.conn.getJoinedChatThreads({ pageSize: 10 })
            assert.deepEqual(mine.entities.map((t) => [t.id, t.parentId, t.messageId]), [[threadId, groupId, parentId]])
            const inGroup = await calClient.conn.getJoinedChatThreads({ parentId: groupId, pageSize: 10 })
            assert.deepEqual(inGroup.entities.map((t) => t.id), [threadId])
            const ofGroup = await amyClient.conn.getChatThreads({ parentId: groupId, pageSize: 10 })
            assert.deepEqual(ofGroup.entities.map((t) => [t.id, t.name, t.owner]), [[threadId, 'opinions', bob.username]])
            const last = await amyClient.conn.getChatThreadLastMessage({ chatThreadIds: [threadId] })
            assert.deepEqual(last.entities.map((e) => [e.chatThreadId, e.lastMessage.msg]), [[threadId, 'I like it']])
            const detail = await amyClient.conn.getChatThreadDetail({ chatThreadId: threadId })
            assert.deepEqual([detail.data.id, detail.data.affiliationsCount, detail.data.parentId, detail.data.messageId], [threadId, 2, groupId, parentId])

            // Recall: the sender's own, and the group's owner of anyone's; a plain member may not.
            const second = await groupText(calClient, threadId, 'on second thought', { isChatThread: true })
            await bobClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(second.serverMsgId) })
            const notHis = await rejection(bobClient.conn.recallMessage({ mid: second.serverMsgId, to: threadId, chatType: 'groupChat', isChatThread: true }), 'a member recalling another\'s thread message')
            assert.equal(notHis.type, PERMISSION_DENIED, JSON.stringify(notHis))
            await amyClient.conn.recallMessage({ mid: second.serverMsgId, to: threadId, chatType: 'groupChat', isChatThread: true })
            await bobClient.waitFor('onRecallMessage', { predicate: (m) => m.mid === String(second.serverMsgId) })

            // Rename by its owner: the group hears `update`.
            await bobClient.conn.changeChatThreadName({ chatThreadId: threadId, name: 'verdicts' })
            await threadEvent(amyClient, 'update', threadId, (e) => e.name === 'verdicts')
            // The group's owner removes Cal: he hears userRemove, and gets no more.
            await amyClient.conn.removeChatThreadMember({ chatThreadId: threadId, username: cal.username })
            const removed = await threadEvent(calClient, 'userRemove', threadId)
            assert.deepEqual([removed.userName, removed.operator, removed.parentId], [cal.username, amy.username, groupId])
            // Bob leaves; Amy, the group's owner, destroys it: the group hears `destroy`.
            await bobClient.conn.leaveChatThread({ chatThreadId: threadId })
            await amyClient.conn.destroyChatThread({ chatThreadId: threadId })
            await threadEvent(calClient, 'destroy', threadId)
            const gone = await refused(amyClient.conn.getChatThreadDetail({ chatThreadId: threadId }), 'a destroyed thread')
            assert.deepEqual(gone, [AJAX_ERROR, 'thread not found'])
            // Dan is in no group: he sees nothing of it.
            assert.equal(danClient.all('onChatThreadChange').length, 0)
        }))

        test('the actor\'s other devices hear each thread operation (onMultiDeviceEvent)', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob } = await freshUsers(server, ['amy', 'bob'])
            const amyClient = await member(server, sdkName, amy)
            const bobPhone = await member(server, sdkName, bob)
            const bobWeb = await member(server, sdkName, bob)
            assert.notEqual(bobPhone.conn.clientResource, bobWeb.conn.clientResource)
            const groupId = await createGroup(amyClient, [bob.username])
            const parentId = String((await groupText(amyClient, groupId, 'topic')).serverMsgId)
            const otherDevice = (operation, predicate = () => true) => bobWeb.waitFor('onMultiDeviceEvent', { predicate: (e) => e.operation === operation && predicate(e) })

            const threadId = (await bobPhone.conn.createChatThread({ name: 'side', messageId: parentId, parentId: groupId })).data.chatThreadId
            const created = await otherDevice('chatThreadCreate')
            assert.deepEqual([created.chatThreadId, created.chatThreadName, created.parentId], [threadId, 'side', groupId])
            await bobPhone.conn.changeChatThreadName({ chatThreadId: threadId, name: 'aside' })
            assert.equal((await otherDevice('chatThreadNameUpdate')).chatThreadName, 'aside')
            await bobPhone.conn.leaveChatThread({ chatThreadId: threadId })
            assert.equal((await otherDevice('chatThreadLeave')).chatThreadId, threadId)
            await bobPhone.conn.joinChatThread({ chatThreadId: threadId })
            assert.equal((await otherDevice('chatThreadJoin')).chatThreadId, threadId)
            await bobPhone.conn.destroyChatThread({ chatThreadId: threadId })
            assert.equal((await otherDevice('chatThreadDestroy')).chatThreadId, threadId)
            // Never on the acting device.
            assert.equal(bobPhone.all('onMultiDeviceEvent').filter((e) => String(e.operation).startsWith('chatThread')).length, 0)
        }))

        test('refusals: not a group member, an unknown or taken message, a bad name, not a thread member, not allowed', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal, dan } = await freshUsers(server, ['amy', 'bob', 'cal', 'dan'])
            const amyClient = await member(server, sdkName, amy)
            const bobClient = await member(server, sdkName, bob)
            const calClient = await member(server, sdkName, cal)
            const danClient = await member(server, sdkName, dan)
            const groupId = await createGroup(amyClient, [bob.username, cal.username])
            const parent = await groupText(amyClient, groupId, 'start here')
            const parentId = String(parent.serverMsgId)
            // "are not members" is 602 on a `chatgroups` URL, 702 on a `thread` one.
            const notMember = (user) => [GROUP_NOT_JOINED, `user: ${user} are not members of this group!`]
            const notMemberHere = (user) => [CHATROOM_NOT_JOINED, `user: ${user} are not members of this group!`]
            const errors = {}
            const record = async (what, promise) => { errors[what] = await refused(promise, what) }
            await record('create by a non-member', danClient.conn.createChatThread({ name: 'x', messageId: parentId, parentId: groupId }))
            await record('create from an unknown message', bobClient.conn.createChatThread({ name: 'x', messageId: '123', parentId: groupId }))
            await record('create with a long name', bobClient.conn.createChatThread({ name: 'n'.repeat(65), messageId: parentId, parentId: groupId }))
            const threadId = (await bobClient.conn.createChatThread({ name: 'first', messageId: parentId, parentId: groupId })).data.chatThreadId
            await record('a second thread of one message', calClient.conn.createChatThread({ name: 'again', messageId: parentId, parentId: groupId }))
            await record('join by a non-member of the group', danClient.conn.joinChatThread({ chatThreadId: threadId }))
            await record('join an unknown thread', calClient.conn.joinChatThread({ chatThreadId: `${threadId}9` }))
            await record('leave a thread one is not in', calClient.conn.leaveChatThread({ chatThreadId: threadId }))
            await record('rename by a plain member', calClient.conn.changeChatThreadName({ chatThreadId: threadId, name: 'mine' }))
            await record('destroy by a plain member', calClient.conn.destroyChatThread({ chatThreadId: threadId }))
            await record('remove by a plain member', calClient.conn.removeChatThreadMember({ chatThreadId: threadId, username: bob.username }))
            await record('members of an unknown thread', calClient.conn.getChatThreadMembers({ chatThreadId: `${threadId}9` }))
            await record('threads of a group one is not in', danClient.conn.getChatThreads({ parentId: groupId }))
            await record('detail by a non-member of the group', danClient.conn.getChatThreadDetail({ chatThreadId: threadId }))
            // Raw REST: a body that is not JSON, no thread named, a user acting for another.
            const token = bobClient.conn.context.accessToken
            const post = (path, body) => server.rest('POST', path, { token, rawBody: body })
            const garbage = await post('/thread?resource=x', '{not json')
            assert.deepEqual([garbage.status, garbage.json.error], [400, 'json_parse'])
            const none = await post('/thread/message', JSON.stringify({ threadIds: [] }))
            assert.deepEqual([none.status, none.json.error_description], [400, 'threadIds must name 1 to 20 threads'])
            const forOther = await post(`/thread/${threadId}/user/${cal.username}/join`, '')
            assert.deepEqual([forOther.status, forOther.json.error_description], [400, 'a user joins and leaves for themself'])
            // Nothing refused changed the thread.
            assert.deepEqual((await amyClient.conn.getChatThreadMembers({ chatThreadId: threadId })).data.affiliations, [bob.username])
            const notInThread = await rejection(groupText(calClient, threadId, 'let me in', { isChatThread: true }), 'a message from outside the thread')
            assert.deepEqual(
                { ...errors, 'a message from outside the thread': [notInThread.type, notInThread.message] },
                {
                    'create by a non-member': notMemberHere(dan.username),
                    'create from an unknown message': [AJAX_ERROR, 'message 123 is not a message of this group'],
                    'create with a long name': [AJAX_ERROR, 'name must be 1 to 64 characters'],
                    'a second thread of one message': [PERMISSION_DENIED, PERMISSION_DENIED_TEXT],
                    'join by a non-member of the group': notMemberHere(dan.username),
                    'join an unknown thread': [AJAX_ERROR, 'thread not found'],
                    'leave a thread one is not in': [PERMISSION_DENIED, PERMISSION_DENIED_TEXT],
                    'rename by a plain member': [PERMISSION_DENIED, PERMISSION_DENIED_TEXT],
                    'destroy by a plain member': [PERMISSION_DENIED, PERMISSION_DENIED_TEXT],
                    'remove by a plain member': [PERMISSION_DENIED, PERMISSION_DENIED_TEXT],
                    'members of an unknown thread': [AJAX_ERROR, 'thread not found'],
                    'threads of a group one is not in': notMember(dan.username),
                    'detail by a non-member of the group': notMemberHere(dan.username),
                    'a message from outside the thread': [GROUP_NOT_JOINED, 'not in group or chatroom'],
                },
            )
        }))
    })
}

const PERMISSION_DENIED_TEXT = 'permission denied'
