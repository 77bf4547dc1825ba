'use strict'
// Presence with both web SDKs (API-SURFACE.md section 5): subscribePresence answers the
// users' presence now; a device that logs in or out, or a publishPresence, reaches every
// subscriber's onPresenceStatusChange, one user per event with that user's devices only;
// getPresenceStatus, getSubscribedPresenceList (paged), unsubscribePresence (no more changes);
// a user who blocks the subscriber hides their presence from them. Each call with bad input gets
// the error the SDK surfaces.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test } = require('node:test')
const { settle, sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

// A small limit, so that reaching it takes a few users.
const MAX_SUBSCRIPTIONS = 4
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-presence-'))
const configFile = path.join(configDir, 'confab.toml')
fs.writeFileSync(configFile, `max_presence_subscriptions = ${MAX_SUBSCRIPTIONS}\n`)
const ctx = useServer({ label: 'presence', flags: ['--config', configFile] })

async function rejection(promise, what) {
    const result = await settle(promise, 10000, what)
    assert.equal(result.ok, false, `${what} should fail`)
    return result.error
}

// The statuses of one presence (an event's `statusDetails` or a REST `status`) by device.
function statusMap(presence) {
    if (presence.statusDetails) return Object.fromEntries(presence.statusDetails.map((d) => [d.device, d.status]))
    return Object.fromEntries(Object.entries(presence.status).map(([device, status]) => [device, Number(status)]))
}

// Waits for a change of `publisher` on `client` that `check` accepts; returns that user's entry.
async function change(client, publisher, check = () => true, timeout = 10000) {
    const event = await client.waitFor('onPresenceStatusChange', {
        timeout,
        predicate: (list) => list.some((p) => p.userId === publisher && check(p)),
    })
    return event.find((p) => p.userId === publisher && check(p))
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('subscribe answers the presence now; login, publish and logout reach the subscriber; query, list, unsubscribe', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal } = await freshUsers(server, ['amy', 'bob', 'cal'])
            const amyClient = await loggedIn(server, sdkName, amy)
            const bobWeb = await loggedIn(server, sdkName, bob)
            const webResource = bobWeb.conn.clientResource

            const before = Math.floor(Date.now() / 1000)
            const subscribed = await amyClient.conn.subscribePresence({ usernames: [bob.username, cal.username], expiry: 3600 })
            const [bobNow, calNow] = subscribed.data.result
            assert.equal(bobNow.uid, bob.username)
            assert.deepEqual(statusMap(bobNow), { [webResource]: 1 })
            assert.equal(bobNow.ext, '')
            assert.ok(Math.abs(Number(bobNow.expiry) - (before + 3600)) <= 2, JSON.stringify(bobNow))
            assert.deepEqual({ uid: calNow.uid, status: calNow.status }, { uid: cal.username, status: {} }, 'cal was never online')

            // A second device logs in: the subscriber hears of both.
            const bobPhone = await loggedIn(server, sdkName, bob)
            const phoneResource = bobPhone.conn.clientResource
            const online = await change(amyClient, bob.username, (p) => statusMap(p)[phoneResource] === 1)
            assert.deepEqual(statusMap(online), { [webResource]: 1, [phoneResource]: 1 })
            assert.ok(Math.abs(online.lastTime - Date.now() / 1000) < 30, JSON.stringify(online))
            assert.ok(Math.abs(online.expire - (before + 3600)) <= 2, JSON.stringify(online))

            await bobWeb.conn.publishPresence({ description: 'in a meeting' })
            const published = await change(amyClient, bob.username, (p) => p.ext === 'in a meeting')
            assert.deepEqual(statusMap(published), { [webResource]: 1, [phoneResource]: 1 })

            // Cal publishes too: one user per event, each with their own devices only.
            const calClient = await loggedIn(server, sdkName, cal)
            await calClient.conn.publishPresence({ description: 'free' })
            const calChange = await change(amyClient, cal.username, (p) => p.ext === 'free')
            assert.deepEqual(statusMap(calChange), { [calClient.conn.clientResource]: 1 })
            for (const list of amyClient.all('onPresenceStatusChange')) assert.equal(list.length, 1, JSON.stringify(list))

            await bobPhone.close()
            const offline = await change(amyClient, bob.username, (p) => statusMap(p)[phoneResource] === 0)
            assert.deepEqual(statusMap(offline), { [webResource]: 1, [phoneResource]: 0 })
            assert.equal(offline.ext, 'in a meeting', 'the description stays')

            const queried = await amyClient.conn.getPresenceStatus({ usernames: [bob.username] })
            assert.equal(queried.data.result.length, 1)
            assert.deepEqual(
                { uid: queried.data.result[0].uid, ext: queried.data.result[0].ext, status: statusMap(queried.data.result[0]) },
                { uid: bob.username, ext: 'in a meeting', status: { [webResource]: 1, [phoneResource]: 0 } },
            )

            const firstPage = await amyClient.conn.getSubscribedPresenceList({ pageNum: 1, pageSize: 1 })
            assert.equal(firstPage.data.result.totalnum, '2')
            const secondPage = await amyClient.conn.getSubscribedPresenceList({ pageNum: 2, pageSize: 1 })
            const listed = [...firstPage.data.result.sublist, ...secondPage.data.result.sublist]
            assert.deepEqual(listed.map((s) => s.uid), [bob.username, cal.username].sort())
            assert.ok(listed.every((s) => Math.abs(Number(s.expiry) - (before + 3600)) <= 2), JSON.stringify(listed))

            // Unsubscribed from Bob: his next change does not come; Cal's does.
            await amyClient.conn.unsubscribePresence({ usernames: [bob.username] })
            await bobWeb.conn.publishPresence({ description: 'back' })
            await calClient.conn.publishPresence({ description: 'after bob' })
            await change(amyClient, cal.username, (p) => p.ext === 'after bob')
            assert.ok(!amyClient.all('onPresenceStatusChange').some((list) => list.some((p) => p.ext === 'back')))
            const after = await amyClient.conn.getSubscribedPresenceList({ pageNum: 1, pageSize: 10 })
            assert.deepEqual(after.data.result.sublist.map((s) => s.uid), [cal.username])
            // The subscriber's own devices are not told of anything they did.
            assert.equal(bobWeb.count('onPresenceStatusChange'), 0)

            await amyClient.close()
            await bobWeb.close()
            await calClient.close()
        }))

        test('a user who blocks the subscriber hides their presence; unblocking shows it again', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, cal } = await freshUsers(server, ['amy', 'bob', 'cal'])
            const amyClient = await loggedIn(server, sdkName, amy)
            const calClient = await loggedIn(server, sdkName, cal)
            const bobClient = await loggedIn(server, sdkName, bob)
            await bobClient.conn.publishPresence({ description: 'here' })
            await amyClient.conn.subscribePresence({ usernames: [bob.username], expiry: 600 })
            await calClient.conn.subscribePresence({ usernames: [bob.username], expiry: 600 })

            await bobClient.conn.addUsersToBlocklist({ name: [amy.username] })
            const hidden = await amyClient.conn.getPresenceStatus({ usernames: [bob.username] })
            assert.deepEqual(
                { uid: hidden.data.result[0].uid, ext: hidden.data.result[0].ext, status: hidden.data.result[0].status },
                { uid: bob.username, ext: '', status: {} },
            )
            await bobClient.conn.publishPresence({ description: 'not for amy' })
            await change(calClient, bob.username, (p) => p.ext === 'not for amy')
            // Cal heard; a change for Amy would have come by now through the same path.
            await sleep(300)
            assert.ok(!amyClient.all('onPresenceStatusChange').some((list) => list.some((p) => p.ext === 'not for amy')))

            await bobClient.conn.removeUserFromBlocklist({ name: [amy.username] })
            await bobClient.conn.publishPresence({ description: 'hello again' })
            const shown = await change(amyClient, bob.username, (p) => p.ext === 'hello again')
            assert.deepEqual(statusMap(shown), { [bobClient.conn.clientResource]: 1 })

            await amyClient.close()
            await bobClient.close()
            await calClient.close()
        }))

        test('bad input: a long description, unknown users, too many users, past the limit, bad expiry and pages', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const names = ['amy', 'u1', 'u2', 'u3', 'u4', 'u5']
            const users = await freshUsers(server, names)
            const amyClient = await loggedIn(server, sdkName, users.amy)

            const long = await rejection(amyClient.conn.publishPresence({ description: 'x'.repeat(65) }), 'a description over 64 bytes')
            assert.equal(long.type, 1100, describeError(long))
            await amyClient.conn.publishPresence({ description: 'x'.repeat(64) })

            const unknown = await rejection(amyClient.conn.subscribePresence({ usernames: ['nobody_at_all'], expiry: 60 }), 'an unknown user')
            assert.equal(unknown.type, 204, describeError(unknown))
            const unknownQuery = await rejection(amyClient.conn.getPresenceStatus({ usernames: ['nobody_at_all'] }), 'a query of an unknown user')
            assert.equal(unknownQuery.type, 204, describeError(unknownQuery))

            const many = Array.from({ length: 101 }, (_, i) => `someone${i}`)
            const tooMany = await rejection(amyClient.conn.getPresenceStatus({ usernames: many }), '101 users')
            assert.equal(tooMany.type, 17, describeError(tooMany))
            assert.match(tooMany.message, /more than 100/, describeError(tooMany))

            const expiry = await rejection(amyClient.conn.subscribePresence({ usernames: [users.u1.username], expiry: 2592001 }), 'an expiry past 30 days')
            assert.equal(expiry.type, 17, describeError(expiry))

            // The limit: four subscriptions, a fifth user refused, and nothing of that call kept.
            await amyClient.conn.subscribePresence({ usernames: ['u1', 'u2', 'u3'].map((n) => users[n].username), expiry: 60 })
            const full = await rejection(amyClient.conn.subscribePresence({ usernames: ['u4', 'u5'].map((n) => users[n].username), expiry: 60 }), 'past the limit')
            assert.equal(full.type, 17, describeError(full))
            assert.match(full.message, /limit of 4/, describeError(full))
            const listed = await amyClient.conn.getSubscribedPresenceList({ pageNum: 1, pageSize: 10 })
            assert.equal(listed.data.result.totalnum, '3')
            // Again on the same users only moves the expiry.
            await amyClient.conn.subscribePresence({ usernames: ['u1', 'u4'].map((n) => users[n].username), expiry: 60 })

            const bigPage = await rejection(amyClient.conn.getSubscribedPresenceList({ pageNum: 1, pageSize: 501 }), 'a page of 501')
            assert.equal(bigPage.type, 17, describeError(bigPage))

            await amyClient.close()
        }))
    })
}
