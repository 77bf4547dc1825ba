'use strict'
// Silent mode and push settings with both web SDKs (API-SURFACE.md section 9): the account's
// remind type, do-not-disturb duration and daily interval; a conversation's remind type, its
// read and clearing; settings of several conversations; the paged list of conversations with a
// remind type; the push language; uploadPushToken / unbindPushToken. Each change reaches the
// user's other device as onMultiDeviceEvent and never the acting one; everything survives a
// restart. Bad input gets the SDK's error.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { settle } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'silent-mode' })

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('account and conversation settings round-trip, reach the other device, and survive a restart', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob } = await freshUsers(server, ['amy', 'bob'])
            const phone = await loggedIn(server, sdkName, amy)
            const web = await loggedIn(server, sdkName, amy)

            await phone.conn.setSilentModeForAll({ options: { paramType: 0, remindType: 'AT' } })
            await phone.conn.setSilentModeForAll({ options: { paramType: 2, startTime: { hours: 21, minutes: 30 }, endTime: { hours: 8, minutes: 15 } } })
            const before = Date.now()
            await phone.conn.setSilentModeForAll({ options: { paramType: 1, duration: 3600000 } })
            const all = await phone.conn.getSilentModeForAll()
            assert.equal(all.data.type, 'AT')
            assert.equal(all.data.ignoreInterval, '21:30-8:15')
            assert.ok(all.data.ignoreDuration >= before + 3600000 && all.data.ignoreDuration <= Date.now() + 3600000, JSON.stringify(all.data))

            const forUser = await web.waitFor('onMultiDeviceEvent', { predicate: (e) => e.operation === 'setSilentModeForUser' })
            assert.equal(forUser.resource, phone.conn.clientResource)

            await phone.conn.setSilentModeForConversation({ conversationId: bob.username, type: 'singleChat', options: { paramType: 0, remindType: 'NONE' } })
            await phone.conn.setSilentModeForConversation({ conversationId: 'group1', type: 'groupChat', options: { paramType: 0, remindType: 'ALL' } })
            const one = await phone.conn.getSilentModeForConversation({ conversationId: bob.username, type: 'singleChat' })
            assert.deepEqual(one.data, { type: 'NONE' })
            const conversationEvent = await web.waitFor('onMultiDeviceEvent', { predicate: (e) => e.operation === 'setSilentModeForConversation' && e.conversationId === bob.username })
            assert.deepEqual([conversationEvent.type, conversationEvent.data], ['singleChat', { type: 'NONE' }])

            const several = await phone.conn.getSilentModeForConversations({ conversationList: [{ id: bob.username, type: 'singleChat' }, { id: 'group1', type: 'groupChat' }, { id: 'nobody', type: 'singleChat' }] })
            assert.deepEqual(several.data, { user: { [bob.username]: { type: 'NONE' } }, group: { group1: { type: 'ALL' } } })
            const first = await phone.conn.getSilentModeRemindTypeConversations({ pageSize: 1 })
            assert.deepEqual(first.data.conversations, [{ conversationId: 'group1', type: 'groupChat', remindType: 'ALL' }])
            const second = await phone.conn.getSilentModeRemindTypeConversations({ pageSize: 1, cursor: first.data.cursor })
            assert.deepEqual(second.data, { conversations: [{ conversationId: bob.username, type: 'singleChat', remindType: 'NONE' }], cursor: '' })

            await phone.conn.setPushPerformLanguage({ language: 'fr' })
            assert.equal((await phone.conn.getPushPerformLanguage()).data.language, 'fr')
            const uploaded = await phone.conn.uploadPushToken({ deviceId: 'phone-1', deviceToken: 'token-1', notifierName: 'fcm-app' })
            assert.equal(uploaded.data.username, amy.username)

            await phone.conn.clearRemindTypeForConversation({ conversationId: bob.username, type: 'singleChat' })
            const cleared = await web.waitFor('onMultiDeviceEvent', { predicate: (e) => e.operation === 'removeSilentModeForConversation' })
            assert.equal(cleared.conversationId, bob.username)
            assert.deepEqual((await phone.conn.getSilentModeForConversation({ conversationId: bob.username, type: 'singleChat' })).data, {})
            assert.equal(phone.all('onMultiDeviceEvent').length, 0, 'the acting device hears nothing')

            await phone.close()
            await web.close()
            await server.restart()
            const again = await loggedIn(server, sdkName, amy)
            const afterRestart = await again.conn.getSilentModeForAll()
            assert.deepEqual([afterRestart.data.type, afterRestart.data.ignoreInterval], ['AT', '21:30-8:15'])
            assert.equal((await again.conn.getPushPerformLanguage()).data.language, 'fr')
            const group = await again.conn.getSilentModeForConversation({ conversationId: 'group1', type: 'groupChat' })
            assert.deepEqual(group.data, { type: 'ALL' })
        }))

        test('bad input: an unknown remind type, a duration over 7 days, a bad interval, a bad cursor', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { cal } = await freshUsers(server, ['cal'])
            const client = await loggedIn(server, sdkName, cal)
            const errors = {}
            const record = async (what, promise) => {
                const result = await settle(promise, 10000, what)
                assert.equal(result.ok, false, `${what} should fail`)
                errors[what] = [result.error.type, result.error.message]
            }
            await record('remind type', client.conn.setSilentModeForAll({ options: { paramType: 0, remindType: 'LOUD' } }))
            await record('duration', client.conn.setSilentModeForAll({ options: { paramType: 1, duration: 8 * 24 * 3600000 } }))
            await record('interval', client.conn.setSilentModeForAll({ options: { paramType: 2, startTime: { hours: 25, minutes: 1 }, endTime: { hours: 8, minutes: 1 } } }))
            await record('cursor', client.conn.getSilentModeRemindTypeConversations({ pageSize: 10, cursor: 'nonsense' }))
            assert.deepEqual(errors, {
                'remind type': [17, 'invalid type LOUD'],
                duration: [17, 'ignoreDuration must be at most 604800000 ms'],
                interval: [17, 'invalid ignoreInterval 25:1-8:1'],
                cursor: [17, 'invalid cursor'],
            }, describeError(errors))
            const token = client.conn.context.accessToken
            const garbage = await server.rest('PUT', `/users/${cal.username}/notification/user/${cal.username}`, { token, rawBody: '{"type":' })
            assert.deepEqual([garbage.status, garbage.json.error], [400, 'json_parse'])
            const nothing = await server.rest('PUT', `/users/${cal.username}/notification/user/${cal.username}`, { token, body: { volume: 11 } })
            assert.deepEqual([nothing.status, nothing.json.error], [400, 'illegal_argument'])
            const other = await server.rest('GET', '/users/someone_else/notification/user/someone_else', { token })
            assert.equal(other.status, 401)
            const emptyUpdate = await server.rest('PUT', `/users/${cal.username}`, { token, body: {} })
            assert.deepEqual([emptyUpdate.status, emptyUpdate.json.error], [400, 'illegal_argument'])
        }))
    })
}
