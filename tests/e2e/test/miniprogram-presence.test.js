'use strict'
// Presence on the mini-program build (easemob-websdk 4.21.1 miniProgram, unmodified, `wx` and
// `qq` runtimes): subscribe, publish, query and the list; then the publisher's app goes to the
// background, the platform drops its socket without a logout, and the subscriber hears that
// device go offline well within the SDK's heartbeat interval. What test/presence.test.js checks
// in full on the web builds.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { useMiniProgramEnv, appUsers, scenario, miniProgramPhone } = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-presence' })

// The SDK sends a heartbeat after about 60 s of silence; a dropped device must be reported
// offline before a heartbeat would have told.
const HEARTBEAT_MS = 60000
const EVENTS = ['onPresenceStatusChange']

let deviceCounter = 0
function phone(user, platform) {
    deviceCounter += 1
    return miniProgramPhone(ctx, user, { platform, deviceId: `p${process.pid % 10000}x${deviceCounter}`, events: EVENTS })
}

function statusOf(presence, device) {
    const detail = presence.statusDetails.find((d) => d.device === device)
    return detail && detail.status
}

for (const platform of ['wx', 'qq']) describe(`${platform === 'wx' ? 'WeChat' : 'QQ'} mini program presence (easemob-websdk 4.21.1 miniProgram build)`, () => {
    test('subscribe, publish, query, list; a socket dropped in the background is offline at once', { timeout: 60000 }, scenario(ctx, async () => {
        const { ann, ben } = await appUsers(ctx, ['ann', 'ben'])
        const annPhone = await phone(ann, platform)
        const benPhone = await phone(ben, platform)
        const benResource = benPhone.conn.clientResource

        const subscribed = await annPhone.conn.subscribePresence({ usernames: [ben.username], expiry: 600 })
        assert.deepEqual(subscribed.data.result.map((p) => [p.uid, p.status]), [[ben.username, { [benResource]: '1' }]])

        await benPhone.conn.publishPresence({ description: 'on the bus' })
        const published = await annPhone.waitFor('onPresenceStatusChange',
            (list) => list.some((p) => p.userId === ben.username && p.ext === 'on the bus'))
        assert.equal(statusOf(published[0], benResource), 1)

        const queried = await annPhone.conn.getPresenceStatus({ usernames: [ben.username] })
        assert.equal(queried.data.result[0].ext, 'on the bus')
        const listed = await annPhone.conn.getSubscribedPresenceList({ pageNum: 1, pageSize: 20 })
        assert.deepEqual(listed.data.result.sublist.map((s) => s.uid), [ben.username])

        const dropped = Date.now()
        await benPhone.rt.hideApp()
        const offline = await annPhone.waitFor('onPresenceStatusChange',
            (list) => list.some((p) => p.userId === ben.username && statusOf(p, benResource) === 0), HEARTBEAT_MS / 2)
        assert.equal(offline[0].ext, 'on the bus', 'the description stays')
        const took = Date.now() - dropped
        assert.ok(took < HEARTBEAT_MS, `offline after ${took} ms`)

        // Back in the foreground, the SDK reconnects: online again.
        benPhone.rt.showApp()
        await annPhone.waitFor('onPresenceStatusChange',
            (list) => list.some((p) => p.userId === ben.username && statusOf(p, benResource) === 1 && p.lastTime * 1000 >= dropped - 1000), 30000)
    }))
})
