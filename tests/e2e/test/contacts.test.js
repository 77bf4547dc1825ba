'use strict'
// Contacts and the blocklist with both web SDKs (API-SURFACE.md section 4): addContact reaches
// the invitee's onContactInvited (also when they were offline, at their next login);
// acceptContactInvite reaches the inviter's onContactAgreed and the invitee's other devices'
// onContactAdded; declineContactInvite reaches onContactRefuse; deleteContact reaches the other
// party's onContactDeleted; getContacts / getAllContacts / getContactsWithCursor /
// setContactRemark; addUsersToBlocklist makes the blocked user's sends fail with 603
// "blocked" and nothing reach the blocker; getBlocklist / removeUserFromBlocklist. Each call
// with bad input gets the error the SDK surfaces.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test } = require('node:test')
const { settle } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

// Small limits, so that reaching them takes a few calls.
const MAX_CONTACTS = 3
const MAX_BLOCKED = 3
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-contacts-'))
const configFile = path.join(configDir, 'confab.toml')
fs.writeFileSync(configFile, `max_contacts = ${MAX_CONTACTS}\nmax_blocked_users = ${MAX_BLOCKED}\n`)
const ctx = useServer({ label: 'contacts', flags: ['--config', configFile] })

// Makes `a` and `b` contacts through their SDK clients.
async function befriend(a, aClient, b, bClient) {
    await aClient.conn.addContact(b.username, '')
    await bClient.waitFor('onContactInvited', { predicate: (e) => e.from === a.username })
    await bClient.conn.acceptContactInvite(a.username)
    await aClient.waitFor('onContactAgreed', { predicate: (e) => e.from === b.username })
}

// Waits for `promise` to reject and returns the error.
async function rejection(promise, what) {
    const result = await settle(promise, 10000, what)
    assert.equal(result.ok, false, `${what} should fail`)
    return result.error
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('request, accept on one device, the other device and the inviter hear; lists, remarks, delete', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob } = await freshUsers(server, ['amy', 'bob'])
            const amyClient = await loggedIn(server, sdkName, amy)
            const bobPhone = await loggedIn(server, sdkName, bob)
            const bobWeb = await loggedIn(server, sdkName, bob)

            await amyClient.conn.addContact(bob.username, 'hello bob')
            const invited = await bobPhone.waitFor('onContactInvited')
            assert.deepEqual(
                { type: invited.type, from: invited.from, to: invited.to, status: invited.status },
                { type: 'subscribe', from: amy.username, to: bob.username, status: 'hello bob' },
            )
            await bobWeb.waitFor('onContactInvited')

            await bobPhone.conn.acceptContactInvite(amy.username)
            const agreed = await amyClient.waitFor('onContactAgreed')
            assert.deepEqual({ type: agreed.type, from: agreed.from, to: agreed.to }, { type: 'subscribed', from: bob.username, to: amy.username })
            const added = await bobWeb.waitFor('onContactAdded')
            assert.deepEqual({ type: added.type, from: added.from, to: added.to }, { type: 'subscribed', from: amy.username, to: bob.username })

            const contacts = await amyClient.conn.getContacts()
            assert.deepEqual(contacts.data, [bob.username])
            await amyClient.conn.setContactRemark({ userId: bob.username, remark: 'Bobby' })
            const all = await amyClient.conn.getAllContacts()
            assert.deepEqual(all.data, [{ userId: bob.username, remark: 'Bobby' }])
            const page = await bobPhone.conn.getContactsWithCursor({ pageSize: 1 })
            assert.deepEqual(page.data, { cursor: '', contacts: [{ userId: amy.username, remark: '' }] })

            await bobPhone.conn.deleteContact(amy.username)
            const deleted = await amyClient.waitFor('onContactDeleted')
            assert.deepEqual({ type: deleted.type, from: deleted.from, to: deleted.to }, { type: 'unsubscribed', from: bob.username, to: amy.username })
            const removedHere = await bobWeb.waitFor('onContactDeleted')
            assert.equal(removedHere.from, amy.username)
            assert.deepEqual((await amyClient.conn.getContacts()).data, [])
            assert.deepEqual((await bobPhone.conn.getAllContacts()).data, [])
            // The acting device hears nothing of its own changes.
            assert.equal(bobPhone.all('onContactAdded').length, 0)
            assert.equal(bobPhone.all('onContactDeleted').length, 0)
        }))

        test('a request to an offline user arrives at login; decline reaches the inviter', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { cal, dan } = await freshUsers(server, ['cal', 'dan'])
            const calClient = await loggedIn(server, sdkName, cal)
            await calClient.conn.addContact(dan.username, 'add me')
            const danClient = await loggedIn(server, sdkName, dan)
            const invited = await danClient.waitFor('onContactInvited')
            assert.deepEqual({ from: invited.from, status: invited.status }, { from: cal.username, status: 'add me' })
            await danClient.conn.declineContactInvite(cal.username)
            const refused = await calClient.waitFor('onContactRefuse')
            assert.deepEqual({ type: refused.type, from: refused.from, to: refused.to }, { type: 'unsubscribed', from: dan.username, to: cal.username })
            assert.deepEqual((await calClient.conn.getContacts()).data, [])
        }))

        test('contacts with cursor page by name', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { own, pa, pb, pc } = await freshUsers(server, ['own', 'pa', 'pb', 'pc'])
            const ownClient = await loggedIn(server, sdkName, own)
            for (const peer of [pc, pa, pb]) {
                const peerClient = await loggedIn(server, sdkName, peer)
                await befriend(peer, peerClient, own, ownClient)
                await peerClient.close()
            }
            const first = await ownClient.conn.getContactsWithCursor({ pageSize: 2 })
            assert.deepEqual(first.data.contacts.map((c) => c.userId), [pa.username, pb.username])
            assert.equal(first.data.cursor, pb.username)
            const second = await ownClient.conn.getContactsWithCursor({ pageSize: 2, cursor: first.data.cursor })
            assert.deepEqual(second.data, { cursor: '', contacts: [{ userId: pc.username, remark: '' }] })
        }))

        test('blocklist: a blocked sender gets 603 "blocked" and nothing arrives; unblock', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { eve, fay, gus } = await freshUsers(server, ['eve', 'fay', 'gus'])
            const eveClient = await loggedIn(server, sdkName, eve)
            const fayClient = await loggedIn(server, sdkName, fay)
            const added = await eveClient.conn.addUsersToBlocklist({ name: [fay.username, gus.username] })
            assert.deepEqual(added.data.userIds, [fay.username, gus.username])
            const list = await eveClient.conn.getBlocklist()
            assert.deepEqual(list.data, [fay.username, gus.username])

            const error = await rejection(fayClient.sendText(eve.username, 'can you hear me?'), 'a send to a blocker')
            assert.equal(error.type, 603, describeError(error))
            assert.equal(error.message, 'blocked', describeError(error))
            // The blocker still writes to the blocked user.
            await eveClient.sendText(fay.username, 'I can write to you')
            await fayClient.waitFor('onTextMessage')

            await eveClient.conn.removeUserFromBlocklist({ name: fay.username })
            assert.deepEqual((await eveClient.conn.getBlocklist()).data, [gus.username])
            await fayClient.sendText(eve.username, 'now?')
            const received = await eveClient.waitFor('onTextMessage')
            assert.equal(received.msg, 'now?')
            assert.equal(eveClient.all('onTextMessage').length, 1)
        }))

        test('limits: contacts per user (50, either side) and blocked users', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const names = ['lim', 'l1', 'l2', 'l3', 'l4', 'b1', 'b2', 'b3', 'b4']
            const users = await freshUsers(server, names)
            const lim = users.lim
            const limClient = await loggedIn(server, sdkName, lim)
            for (const name of ['l1', 'l2', 'l3']) {
                const peerClient = await loggedIn(server, sdkName, users[name])
                await befriend(users[name], peerClient, lim, limClient)
                await peerClient.close()
            }
            const l4Client = await loggedIn(server, sdkName, users.l4)
            // A request is fine; its acceptance would pass the invitee's limit, or the inviter's.
            await l4Client.conn.addContact(lim.username, 'one more')
            await limClient.waitFor('onContactInvited', { predicate: (e) => e.from === users.l4.username })
            const full = await rejection(limClient.conn.acceptContactInvite(users.l4.username), 'an acceptance past the limit')
            assert.deepEqual([full.type, full.message], [50, "Invitee's contact max count"], describeError(full))
            await limClient.conn.addContact(users.l4.username, 'me then')
            await l4Client.waitFor('onContactInvited', { predicate: (e) => e.from === lim.username })
            const inviterFull = await rejection(l4Client.conn.acceptContactInvite(lim.username), 'an acceptance past the inviter\'s limit')
            assert.deepEqual([inviterFull.type, inviterFull.message], [50, "Inviter's contact max count"], describeError(inviterFull))
            assert.equal((await limClient.conn.getContacts()).data.length, MAX_CONTACTS)

            await limClient.conn.addUsersToBlocklist({ name: [users.b1.username, users.b2.username] })
            const tooMany = await rejection(limClient.conn.addUsersToBlocklist({ name: [users.b3.username, users.b4.username] }), 'blocking past the limit')
            assert.equal(tooMany.type, 603, describeError(tooMany))
            // Blocking someone already blocked does not count twice.
            await limClient.conn.addUsersToBlocklist({ name: [users.b2.username, users.b3.username] })
            assert.deepEqual((await limClient.conn.getBlocklist()).data, [users.b1.username, users.b2.username, users.b3.username])
        }))

        test('bad input: unknown user, self, no request, not a contact, over-long remark, malformed body', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { hal, ivy } = await freshUsers(server, ['hal', 'ivy'])
            const halClient = await loggedIn(server, sdkName, hal)

            const errors = {}
            const record = async (what, promise) => {
                const error = await rejection(promise, what)
                errors[what] = [error.type, error.message]
            }
            await record('unknown user', halClient.conn.addContact('nobody_here', 'hi'))
            await record('oneself', halClient.conn.addContact(hal.username, 'me'))
            await record('no request', halClient.conn.acceptContactInvite(ivy.username))
            await record('decline no request', halClient.conn.declineContactInvite(ivy.username))
            await record('not a contact', halClient.conn.deleteContact(ivy.username))
            await record('remark on a non-contact', halClient.conn.setContactRemark({ userId: ivy.username, remark: 'x' }))
            await record('over-long remark', halClient.conn.setContactRemark({ userId: ivy.username, remark: 'x'.repeat(101) }))
            await record('blocking oneself', halClient.conn.addUsersToBlocklist({ name: hal.username }))
            await record('blocking an unknown user', halClient.conn.addUsersToBlocklist({ name: 'nobody_here' }))
            assert.deepEqual(errors, {
                'unknown user': [204, 'user not found'],
                oneself: [17, 'a user cannot be their own contact'],
                'no request': [17, `no contact request from ${ivy.username}`],
                'decline no request': [17, `no contact request from ${ivy.username}`],
                'not a contact': [17, `${ivy.username} is not a contact of ${hal.username}`],
                'remark on a non-contact': [221, 'updateRemark | they are not friends, please add as a friend first.'],
                'over-long remark': [50, 'remark length must less than 100'],
                'blocking oneself': [17, 'a user cannot block themself'],
                'blocking an unknown user': [204, 'user not found'],
            })

            // A body that is not JSON, and another user's path: the hosted error shapes.
            const base = server.restBase()
            const token = halClient.conn.context.accessToken
            const garbage = await fetch(`${base}/users/${hal.username}/contacts/apply?resource=x`, {
                method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{not json',
            })
            assert.equal(garbage.status, 400)
            assert.equal((await garbage.json()).error, 'json_parse')
            const wrongShape = await fetch(`${base}/sdk/user/${hal.username}/blocks?resource=x`, {
                method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{"usernames":"ivy"}',
            })
            assert.equal(wrongShape.status, 400)
            assert.equal((await wrongShape.json()).error, 'json_parse')
            const badLimit = await fetch(`${base}/users/${hal.username}/contacts?needReturnRemark=true&limit=abc&cursor=`, { headers: { Authorization: `Bearer ${token}` } })
            assert.equal(badLimit.status, 400)
            assert.equal((await badLimit.json()).error, 'illegal_argument')
            const other = await fetch(`${base}/users/${ivy.username}/contacts/users`, { headers: { Authorization: `Bearer ${token}` } })
            assert.equal(other.status, 401)
            const none = await fetch(`${base}/users/${hal.username}/blocks/users`)
            assert.equal(none.status, 401)
            assert.deepEqual((await halClient.conn.getContacts()).data, [])
        }))
    })
}

test('REST admin API (app token): add and delete contacts, block and unblock; a user token may not add', { timeout: 60000 }, scenario(ctx, async () => {
    const { server } = ctx
    const { adm, one, two } = await freshUsers(server, ['adm', 'one', 'two'])
    const token = await server.appToken()
    const added = await server.rest('POST', `/users/${adm.username}/contacts/users/${one.username}`, { token })
    assert.equal(added.status, 200, added.text)
    assert.equal(added.json.entities[0].username, one.username)
    // Again: already contacts, still 200.
    assert.equal((await server.rest('POST', `/users/${adm.username}/contacts/users/${one.username}`, { token })).status, 200)
    const list = await server.rest('GET', `/users/${one.username}/contacts/users`, { token })
    assert.deepEqual(list.json.data, [adm.username])

    const userToken = server.userToken(two.username)
    const byUser = await server.rest('POST', `/users/${two.username}/contacts/users/${adm.username}`, { token: userToken })
    assert.equal(byUser.status, 401, byUser.text)
    const unknownOwner = await server.rest('POST', `/users/nobody_here/contacts/users/${one.username}`, { token })
    assert.deepEqual([unknownOwner.status, unknownOwner.json.error], [404, 'service_resource_not_found'])
    const unknownFriend = await server.rest('POST', `/users/${adm.username}/contacts/users/nobody_here`, { token })
    assert.deepEqual([unknownFriend.status, unknownFriend.json.error], [404, 'service_resource_not_found'])

    const deleted = await server.rest('DELETE', `/users/${adm.username}/contacts/users/${one.username}`, { token })
    assert.equal(deleted.status, 200, deleted.text)
    assert.deepEqual((await server.rest('GET', `/users/${adm.username}/contacts/users`, { token })).json.data, [])

    const blocked = await server.rest('POST', `/users/${adm.username}/blocks/users`, { token, body: { usernames: [two.username, one.username] } })
    assert.deepEqual([blocked.status, blocked.json.data], [200, [two.username, one.username]])
    assert.deepEqual((await server.rest('GET', `/users/${adm.username}/blocks/users`, { token })).json.data, [one.username, two.username])
    const unblocked = await server.rest('DELETE', `/users/${adm.username}/blocks/users/${two.username}`, { token })
    assert.equal(unblocked.status, 200, unblocked.text)
    assert.deepEqual((await server.rest('GET', `/users/${adm.username}/blocks/users`, { token })).json.data, [one.username])
    const garbage = await server.rest('POST', `/users/${adm.username}/blocks/users`, { token, rawBody: '[1,2' })
    assert.deepEqual([garbage.status, garbage.json.error], [400, 'json_parse'])
    const noToken = await server.rest('POST', `/users/${adm.username}/blocks/users`, { body: { usernames: [two.username] } })
    assert.equal(noToken.status, 401)
}))
