'use strict'
// One user's devices, as the SDKs see them:
// - getSelfIdsOnOtherPlatform (GET …/users/{user}/resources with the user's own token) lists
//   the user's other live devices as `user/resource`;
// - the hosted REST routes that force one device (DELETE …/users/{user}/disconnect/{resource})
//   or every device (GET …/users/{user}/disconnect) offline: each device concerned reports
//   217 (WEBIM_CONNCTION_USER_KICKED_BY_OTHER_DEVICE) and does not reconnect, the others
//   stay;
// - setLoginInfoCustomExt: a second login on the same resource kicks the first with 206, and
//   the kicked SDK's error carries the new login's ext as `data.loginInfoCustomExt`.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'devices' })
const LOGIN_ANOTHER_DEVICE = 206
const KICKED_BY_OTHER_DEVICE = 217

// Waits for the connection to be disconnected; returns the error types it reported
// (onDisconnected's and onError's).
async function disconnectedWith(client) {
    const disconnected = await client.waitFor('onDisconnected', { timeout: 10000 })
    const errors = client.all('onError')
    return {
        types: [disconnected && disconnected.type, ...errors.map((e) => e && e.type)],
        errors,
        shown: `onDisconnected ${describeError(disconnected)}; onError ${errors.map(describeError).join(', ') || 'none'}`,
    }
}

// A kicked connection stays down: no reconnect within the SDK's first retry window.
async function assertStaysDown(client) {
    await sleep(3000) // the SDK's first reconnect would come after 1–2 s
    assert.equal(client.count('onReconnecting'), 0, 'the kicked connection does not reconnect')
    assert.equal(client.count('onConnected'), 1, 'the kicked connection does not log in again')
}

// The user's other devices as getSelfIdsOnOtherPlatform reports them.
async function otherDevices(client) {
    const answer = await client.conn.getSelfIdsOnOtherPlatform()
    return answer.data
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('getSelfIdsOnOtherPlatform lists the user\'s other devices as user/resource', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const web = await loggedIn(server, sdkName, leo)
            assert.deepEqual(await otherDevices(web), [], 'alone: no other device')
            const pad = await loggedIn(server, sdkName, leo)
            const royClient = await loggedIn(server, sdkName, roy)
            assert.notEqual(web.conn.clientResource, pad.conn.clientResource)
            assert.deepEqual(await otherDevices(web), [`${leo.username}/${pad.conn.clientResource}`])
            assert.deepEqual(await otherDevices(pad), [`${leo.username}/${web.conn.clientResource}`])
            assert.deepEqual(await otherDevices(royClient), [], 'another user\'s devices are not listed')
            // The hosted shape, with the device fields of each SDK's PROVISION.
            const listed = await server.rest('GET', `/users/${leo.username}/resources`, { token: await server.appToken() })
            assert.equal(listed.status, 200, listed.text)
            assert.deepEqual(listed.json.data.map((device) => device.res), [web.conn.clientResource, pad.conn.clientResource])
            for (const device of listed.json.data) {
                assert.equal(typeof device.device_uuid, 'string', listed.text)
                assert.equal(typeof device.device_name, 'string', listed.text)
            }

            // A device that logs out is gone from the list.
            await pad.close()
            const deadline = Date.now() + 10000
            let others = await otherDevices(web)
            while (others.length > 0 && Date.now() < deadline) {
                await sleep(50)
                others = await otherDevices(web)
            }
            assert.deepEqual(others, [])
            await web.close()
            await royClient.close()
        }))

        test('forcing one device offline over REST: it reports 217 and stays down; the other device stays', { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const web = await loggedIn(server, sdkName, leo)
            const pad = await loggedIn(server, sdkName, leo)
            const appToken = await server.appToken()

            const answer = await server.rest('DELETE', `/users/${leo.username}/disconnect/${web.conn.clientResource}`, { token: appToken })
            assert.equal(answer.status, 200, answer.text)
            assert.deepEqual(answer.json.data, { result: true })
            const kicked = await disconnectedWith(web)
            t.diagnostic(`forced offline: ${kicked.shown}`)
            assert.ok(kicked.types.includes(KICKED_BY_OTHER_DEVICE), kicked.shown)
            await assertStaysDown(web)

            // The other device is untouched and still works both ways.
            assert.equal(pad.count('onDisconnected'), 0)
            const out = await pad.sendText(roy.username, 'from the device left')
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(got.id, String(out.serverMsgId))
            const back = await royClient.sendText(leo.username, 'hello remaining device')
            const received = await pad.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(received.id, String(back.serverMsgId))
            assert.equal(web.count('onTextMessage'), 0, 'the device forced offline receives nothing')
            assert.deepEqual(await otherDevices(pad), [])

            // The same resource again: nothing left to force offline.
            const again = await server.rest('DELETE', `/users/${leo.username}/disconnect/${web.conn.clientResource}`, { token: appToken })
            assert.equal(again.status, 200, again.text)
            assert.deepEqual(again.json.data, { result: false })
            await pad.close()
            await web.close()
            await royClient.close()
        }))

        test('forcing a user offline over REST: every device reports 217 and stays down', { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const web = await loggedIn(server, sdkName, leo)
            const pad = await loggedIn(server, sdkName, leo)

            const answer = await server.rest('GET', `/users/${leo.username}/disconnect`, { token: await server.appToken() })
            assert.equal(answer.status, 200, answer.text)
            assert.deepEqual(answer.json.data, { result: true })
            for (const client of [web, pad]) {
                const kicked = await disconnectedWith(client)
                t.diagnostic(`forced offline: ${kicked.shown}`)
                assert.ok(kicked.types.includes(KICKED_BY_OTHER_DEVICE), kicked.shown)
            }
            await assertStaysDown(web)
            await assertStaysDown(pad)
            assert.equal(royClient.count('onDisconnected'), 0, 'another user is not affected')
            await web.close()
            await pad.close()
            await royClient.close()
        }))

        test('setLoginInfoCustomExt: the device kicked by a login on its resource gets that login\'s ext (206)', { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const first = await Client.create({ sdkName, server, user: leo.username, fixedDevice: true })
            first.conn.setLoginInfoCustomExt('the first device')
            await first.login(await credentials(server, 'agoraToken', leo))
            const ext = JSON.stringify({ device: 'the second device', at: 'desk' })
            const second = await Client.create({ sdkName, server, user: leo.username, fixedDevice: true })
            second.conn.setLoginInfoCustomExt(ext)
            await second.login(await credentials(server, 'agoraToken', leo))
            assert.equal(first.conn.clientResource, second.conn.clientResource, 'both connections use the same resource')

            const kicked = await disconnectedWith(first)
            t.diagnostic(`kicked: ${kicked.shown}`)
            assert.ok(kicked.types.includes(LOGIN_ANOTHER_DEVICE), kicked.shown)
            const error = kicked.errors.find((e) => e && e.type === LOGIN_ANOTHER_DEVICE)
            assert.deepEqual(error.data, { loginInfoCustomExt: ext }, 'the new login\'s ext, as it set it')
            await assertStaysDown(first)
            assert.equal(second.count('onDisconnected'), 0, 'the new login stays')

            // A login without an ext kicks with none: the SDK leaves `data` unset.
            const third = await Client.create({ sdkName, server, user: leo.username, fixedDevice: true })
            await third.login(await credentials(server, 'agoraToken', leo))
            const again = await disconnectedWith(second)
            const plain = again.errors.find((e) => e && e.type === LOGIN_ANOTHER_DEVICE)
            assert.ok(plain, again.shown)
            assert.equal(plain.data, undefined, again.shown)
            await first.close()
            await second.close()
            await third.close()
        }))
    })
}
