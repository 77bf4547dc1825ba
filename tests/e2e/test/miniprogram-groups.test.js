'use strict'
// Groups on the mini-program build (easemob-websdk 4.21.1 miniProgram, unmodified, `wx` and `qq`
// runtimes, https/wss with the test CA; agora-chat ships no mini-program build): Amy creates a
// group with Bob and Cal (createGroupVNext; Bob hears directJoined), invites Dan (directJoined;
// Bob hears memberPresence), the members list it (getJoinedGroups, getGroupInfo); Amy's and
// Bob's group texts reach the online members, and Cal, offline until then, gets both at login on
// the example quickstart page (its own pages/index/index.js, logging in through the example app
// server): one toast each, in order. Bob leaves: Amy and Dan hear memberAbsence, Bob's send is
// refused with 602 and he gets no more of the group's texts. What test/groups.test.js checks in
// full on the web builds (wire facts: GROUPS-WIRE.md).

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const {
    IM_HOST, useMiniProgramEnv, appUsers, scenario, miniProgramPhone, launchQuickstart, loginOnPage, logoutOnPage,
    pageLogs, waitUntil, sleep,
} = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-groups' })

const EVENTS = ['onTextMessage', 'onGroupEvent']
const GROUP_NOT_JOINED = 602

let deviceCounter = 0
function phone(user, platform) {
    deviceCounter += 1
    return miniProgramPhone(ctx, user, { platform, deviceId: `g${process.pid % 10000}x${deviceCounter}`, events: EVENTS })
}

// The first onGroupEvent `operation` on `groupId` (past or future) that `predicate` accepts.
function groupEvent(client, operation, groupId, predicate = () => true) {
    return client.waitFor('onGroupEvent', (e) => e.operation === operation && e.id === groupId && predicate(e))
}

// Sends a group text from a phone; resolves with send()'s result.
function groupText(client, groupId, msg) {
    return client.conn.send(client.sdk.message.create({ chatType: 'groupChat', type: 'txt', to: groupId, msg }))
}

function textView(m) {
    const { id, type, chatType, msg, to, from } = m
    return { id, type, chatType, msg, to, from }
}

function expectedText(sent, msg, from, groupId) {
    return { id: String(sent.serverMsgId), type: 'txt', chatType: 'groupChat', msg, to: groupId, from }
}

for (const platform of ['wx', 'qq']) describe(`${platform === 'wx' ? 'WeChat' : 'QQ'} mini program groups (easemob-websdk 4.21.1 miniProgram build)`, () => {
    test('create with members, invite, group texts (an offline member gets them at login on the quickstart page), leave', { timeout: 90000 }, scenario(ctx, async () => {
        const { amy, bob, cal, dan } = await appUsers(ctx, ['amy', 'bob', 'cal', 'dan'])
        const amyPhone = await phone(amy, platform)
        const bobPhone = await phone(bob, platform)
        const danPhone = await phone(dan, platform)

        // Create with members: Bob (online) is told he was added; Cal is offline.
        const created = await amyPhone.conn.createGroupVNext({
            groupName: 'Mini room', description: 'from a mini program', members: [bob.username, cal.username],
            isPublic: false, needApprovalToJoin: false, allowMemberToInvite: true, inviteNeedConfirm: false, maxMemberCount: 50,
        })
        assert.equal(created.type, 0)
        const groupId = created.data.groupId
        assert.equal(typeof groupId, 'string')
        assert.deepEqual(await groupEvent(bobPhone, 'directJoined', groupId), { operation: 'directJoined', id: groupId, from: amy.username, name: 'Mini room' })
        // Over the platform's request API, to the deployment's host.
        const createCall = amyPhone.rt.control.callsTo('request').find((c) => c.method === 'POST' && /\/chatgroups\?/.test(c.url))
        assert.ok(createCall, `createGroupVNext went through ${platform}.request: ${JSON.stringify(amyPhone.rt.control.callsTo('request'))}`)
        assert.ok(createCall.url.startsWith(`https://${IM_HOST}/`), createCall.url)

        // Invite Dan: added at once (no confirmation); the members hear of him.
        const invited = await amyPhone.conn.inviteUsersToGroup({ groupId, users: [dan.username] })
        assert.deepEqual(invited.data, [{ action: 'invite', id: groupId, result: true, user: dan.username }])
        assert.deepEqual(await groupEvent(danPhone, 'directJoined', groupId), { operation: 'directJoined', id: groupId, from: amy.username, name: 'Mini room' })
        assert.deepEqual(await groupEvent(bobPhone, 'memberPresence', groupId, (e) => e.from === dan.username),
            { operation: 'memberPresence', id: groupId, from: dan.username, memberCount: 4 })

        // The lists a mini program shows (the build asks for v3 and maps it).
        const joined = await danPhone.conn.getJoinedGroups({ pageNum: 1, pageSize: 20 })
        assert.deepEqual(joined.data, [{ groupid: groupId, groupname: 'Mini room', disabled: false, role: 'member' }])
        const info = await bobPhone.conn.getGroupInfo({ groupId })
        assert.equal(info.data.length, 1)
        assert.deepEqual(
            { name: info.data[0].name, description: info.data[0].description, owner: info.data[0].owner, count: info.data[0].affiliations_count, maxusers: info.data[0].maxusers },
            { name: 'Mini room', description: 'from a mini program', owner: amy.username, count: 4, maxusers: 50 },
        )
        assert.deepEqual(info.data[0].affiliations.map((a) => a.owner || a.member).sort(), [amy.username, bob.username, cal.username, dan.username].sort())

        // Group texts: the online members get them, the sending phone does not.
        const first = await groupText(amyPhone, groupId, 'Hello, mini room!')
        const expectedFirst = expectedText(first, 'Hello, mini room!', amy.username, groupId)
        for (const p of [bobPhone, danPhone]) {
            assert.deepEqual(textView(await p.waitFor('onTextMessage', (m) => m.id === expectedFirst.id)), expectedFirst)
        }
        const second = await groupText(bobPhone, groupId, 'Hi all')
        const expectedSecond = expectedText(second, 'Hi all', bob.username, groupId)
        for (const p of [amyPhone, danPhone]) {
            assert.deepEqual(textView(await p.waitFor('onTextMessage', (m) => m.id === expectedSecond.id)), expectedSecond)
        }

        // Cal logs in on the quickstart page: both texts, one toast each, in order.
        const calPage = launchQuickstart(ctx, { platform, label: `${platform}-cal-groups` })
        await loginOnPage(calPage, cal)
        const toasts = [`${amy.username}: Hello, mini room!`, `${bob.username}: Hi all`]
        await waitUntil(() => calPage.control.toasts.length >= 2, {
            timeout: 15000, what: () => `Cal's two toasts; toasts ${JSON.stringify(calPage.control.toasts)}; log ${JSON.stringify(pageLogs(calPage).slice(-6))}`,
        })
        await sleep(500) // a duplicate would show up here
        assert.deepEqual(calPage.control.toasts.map((t) => t.title), toasts)
        assert.ok(pageLogs(calPage).includes(`Message from ${amy.username}: Hello, mini room!`), JSON.stringify(pageLogs(calPage)))

        // Bob leaves: the others hear memberAbsence; he may not send and gets nothing more.
        const left = await bobPhone.conn.leaveGroup({ groupId })
        assert.equal(left.type, 0)
        assert.equal(left.data.result, true)
        for (const p of [amyPhone, danPhone]) {
            assert.deepEqual(await groupEvent(p, 'memberAbsence', groupId, (e) => e.from === bob.username),
                { operation: 'memberAbsence', id: groupId, from: bob.username, memberCount: 3 })
        }
        const refused = await groupText(bobPhone, groupId, 'still here?').then(() => null, (e) => e)
        assert.ok(refused, 'a former member\'s send fails')
        assert.deepEqual([refused.type, refused.message], [GROUP_NOT_JOINED, 'not in group or chatroom'])
        const after = await groupText(amyPhone, groupId, 'Bob has gone')
        await danPhone.waitFor('onTextMessage', (m) => m.id === String(after.serverMsgId))
        await waitUntil(() => calPage.control.toasts.length >= 3, { timeout: 10000, what: () => `Cal's third toast; ${JSON.stringify(calPage.control.toasts)}` })
        assert.equal(calPage.control.toasts[2].title, `${amy.username}: Bob has gone`)
        // Fence: Amy writes to Bob one to one; by then a group text for him would have come.
        const fence = await amyPhone.text(bob.username, 'fence')
        await bobPhone.waitFor('onTextMessage', (m) => m.id === String(fence.serverMsgId))
        assert.deepEqual(bobPhone.all('onTextMessage').map((m) => m.msg), ['Hello, mini room!', 'fence'])
        assert.deepEqual(amyPhone.all('onTextMessage').map((m) => m.msg), ['Hi all'])
        assert.deepEqual(danPhone.all('onTextMessage').map((m) => m.msg), ['Hello, mini room!', 'Hi all', 'Bob has gone'])
        assert.deepEqual((await danPhone.conn.getJoinedGroupsCount()).data, 1)
        assert.deepEqual((await bobPhone.conn.getJoinedGroupsCount()).data, 0)
        await logoutOnPage(calPage)
    }))
})
