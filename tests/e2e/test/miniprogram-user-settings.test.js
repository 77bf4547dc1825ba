'use strict'
// User attributes and silent mode on the mini-program build (easemob-websdk 4.21.1
// miniProgram, unmodified, `wx` and `qq` runtimes): updateOwnUserInfo (which this build sends
// form-encoded through `wx.request`) and updateUserInfo merge into the user's attributes and
// fetchUserInfoById reads them from another user's phone; setSilentModeForAll and
// setSilentModeForConversation round-trip, and the user's other phone hears of the change. What
// test/user-attributes.test.js and test/silent-mode.test.js check in full on the web builds.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { useMiniProgramEnv, appUsers, scenario, miniProgramPhone } = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-user-settings' })

let deviceCounter = 0
function phone(user, platform) {
    deviceCounter += 1
    return miniProgramPhone(ctx, user, { platform, deviceId: `s${process.pid % 10000}x${deviceCounter}`, events: ['onMultiDeviceEvent'] })
}

for (const platform of ['wx', 'qq']) describe(`${platform === 'wx' ? 'WeChat' : 'QQ'} mini program attributes and silent mode (easemob-websdk 4.21.1 miniProgram build)`, () => {
    test('updateOwnUserInfo, updateUserInfo, fetchUserInfoById; silent mode for the account and a conversation', { timeout: 60000 }, scenario(ctx, async () => {
        const { ann, ben } = await appUsers(ctx, ['ann', 'ben'])
        const annPhone = await phone(ann, platform)
        const annTablet = await phone(ann, platform)
        const benPhone = await phone(ben, platform)

        const set = await annPhone.conn.updateOwnUserInfo({ nickname: 'Ann & Co', avatarurl: 'https://img.example/a b.png' })
        assert.deepEqual(set.data, { nickname: 'Ann & Co', avatarurl: 'https://img.example/a b.png' })
        await annPhone.conn.updateUserInfo('mail', 'ann+1@example.com')
        const read = await benPhone.conn.fetchUserInfoById([ann.username, 'nobody_here'], ['nickname', 'mail'])
        assert.deepEqual(read.data, { [ann.username]: { nickname: 'Ann & Co', mail: 'ann+1@example.com' } })

        await annPhone.conn.setSilentModeForAll({ options: { paramType: 0, remindType: 'AT' } })
        assert.equal((await annPhone.conn.getSilentModeForAll()).data.type, 'AT')
        await annTablet.waitFor('onMultiDeviceEvent', (e) => e.operation === 'setSilentModeForUser')
        await annPhone.conn.setSilentModeForConversation({ conversationId: ben.username, type: 'singleChat', options: { paramType: 0, remindType: 'NONE' } })
        const one = await annTablet.conn.getSilentModeForConversation({ conversationId: ben.username, type: 'singleChat' })
        assert.deepEqual(one.data, { type: 'NONE' })
        const heard = await annTablet.waitFor('onMultiDeviceEvent', (e) => e.operation === 'setSilentModeForConversation' && e.conversationId === ben.username)
        assert.deepEqual(heard.data, { type: 'NONE' })
    }))
})
