'use strict'
// Contacts on the mini-program build (easemob-websdk 4.21.1 miniProgram, unmodified, `wx` and
// `qq` runtimes): a request reaches the invitee's onContactInvited, also when the invitee logs
// in later; the acceptance reaches the inviter's onContactAgreed; both lists then name the
// other; a blocked sender's send fails with 603. What test/contacts.test.js checks in full on
// the web builds.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { useMiniProgramEnv, appUsers, scenario, miniProgramPhone } = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-contacts' })

const EVENTS = ['onTextMessage', 'onContactInvited', 'onContactAgreed', 'onContactAdded', 'onContactDeleted']

let deviceCounter = 0
function phone(user, platform) {
    deviceCounter += 1
    return miniProgramPhone(ctx, user, { platform, deviceId: `c${process.pid % 10000}x${deviceCounter}`, events: EVENTS })
}

for (const platform of ['wx', 'qq']) describe(`${platform === 'wx' ? 'WeChat' : 'QQ'} mini program contacts (easemob-websdk 4.21.1 miniProgram build)`, () => {
    test('add while the invitee is offline, invited at login, accept, both lists, block', { timeout: 60000 }, scenario(ctx, async () => {
        const { ann, ben } = await appUsers(ctx, ['ann', 'ben'])
        const annPhone = await phone(ann, platform)
        await annPhone.conn.addContact(ben.username, 'from a mini program')
        const benPhone = await phone(ben, platform)
        const invited = await benPhone.waitFor('onContactInvited')
        assert.deepEqual({ type: invited.type, from: invited.from, to: invited.to, status: invited.status },
            { type: 'subscribe', from: ann.username, to: ben.username, status: 'from a mini program' })

        await benPhone.conn.acceptContactInvite(ann.username)
        const agreed = await annPhone.waitFor('onContactAgreed')
        assert.deepEqual({ from: agreed.from, to: agreed.to }, { from: ben.username, to: ann.username })
        assert.deepEqual((await annPhone.conn.getContacts()).data, [ben.username])
        assert.deepEqual((await benPhone.conn.getAllContacts()).data, [{ userId: ann.username, remark: '' }])

        await benPhone.conn.addUsersToBlocklist({ name: ann.username })
        const error = await annPhone.text(ben.username, 'blocked?').then(() => null, (e) => e)
        assert.ok(error, 'the send to a blocker fails')
        assert.deepEqual([error.type, error.message], [603, 'blocked'])
        assert.equal(benPhone.count('onTextMessage'), 0)
    }))
})
