'use strict'
// Multi-device sync (issue 16) with both web SDKs: Leo logged in on two devices (two
// connections with distinct `deviceId`s, so distinct resources `webim_web_<deviceId>`), Roy on
// one. Messages in both directions reach each of Leo's devices in order and once, his own
// sent ones included (from Leo, to Roy) but never back to the device that sent them; a device
// that was offline catches up at its next login and a new device starts empty; receipts and
// conversation read acks from one of Leo's devices reach the other; conversation changes and
// history removal reach the other device as onMultiDeviceEvent; getSelfIdsOnOtherPlatform;
// the kicked device gets the new login's loginInfoCustomExt; REST forced logout of one
// device and of all devices. SDK facts these rely on: notes/sdk-multidevice.md.
//
// "Gets nothing more" is checked with a fence, not a sleep: Roy sends one more message after
// everything else, and since a queue is delivered in id order, anything a device would still
// get wrongly would come before the fence.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, credentials, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'multidevice' })
const N_MESSAGES = 20
const LOGIN_ANOTHER_DEVICE = 206
const KICKED_BY_OTHER_DEVICE = 217

let deviceCounter = 0

// Polls `check` until it resolves truthy; rejects after `timeout` ms.
async function waitForCondition(check, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout
    for (;;) {
        if (await check()) return
        if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
        await sleep(interval)
    }
}

// A fresh device name for this process; the resource is `webim_web_<name>`.
function newDeviceId(label) {
    deviceCounter += 1
    return `${label}${process.pid % 10000}x${deviceCounter}`
}

// Logs `user` in on the device `deviceId` (same id, same resource); `ext` is set with
// setLoginInfoCustomExt before the login. (Every client records onMultiDeviceEvent, lib/sdk.js.)
async function onDevice(server, sdkName, user, deviceId, { ext } = {}) {
    const client = await Client.create({ sdkName, server, user: user.username, connectionOptions: { deviceId } })
    if (ext !== undefined) client.conn.setLoginInfoCustomExt(ext)
    await client.login(await credentials(server, 'agoraToken', user))
    assert.equal(client.conn.clientResource, `webim_web_${deviceId}`, 'the server kept the device resource')
    return client
}

// Sends `n` numbered texts from `client` to `to`, all in flight at once; returns the server ids.
async function sendNumbered(client, to, n, prefix) {
    const sends = []
    for (let msgIdx = 0; msgIdx < n; msgIdx++) sends.push(client.sendText(to, `${prefix} #${msgIdx}`, { timeout: 30000 }))
    const ids = (await Promise.all(sends)).map((r) => String(r.serverMsgId))
    assert.equal(new Set(ids).size, n, 'every send() got its own serverMsgId')
    return ids
}

// Roy sends a fence to Leo; resolves once every client of `leoDevices` received it.
async function fence(royClient, leoName, leoDevices, label = 'fence') {
    const sent = await royClient.sendText(leoName, label)
    const id = String(sent.serverMsgId)
    await Promise.all(leoDevices.map((device) => device.waitFor('onTextMessage', { predicate: (m) => m.id === id, timeout: 15000 })))
    return id
}

// The texts a device got before the fence with id `fenceId` (the fence must be the last one).
function textsBeforeFence(device, fenceId) {
    const texts = device.all('onTextMessage')
    assert.equal(texts.length > 0 && texts[texts.length - 1].id, fenceId, `${device.user}: the fence is the last text; got ${JSON.stringify(texts.map((m) => m.msg))}`)
    return texts.slice(0, -1)
}

function view(message) {
    const { id, msg, from, to, chatType } = message
    return { id, msg, from, to, chatType }
}

function expectedViews(ids, prefix, from, to) {
    return ids.map((id, msgIdx) => ({ id, msg: `${prefix} #${msgIdx}`, from, to, chatType: 'singleChat' }))
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test(`Roy sends ${N_MESSAGES}: each of Leo's two devices gets all of them in order, once`, { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const leo2 = await onDevice(server, sdkName, leo, newDeviceId('two'))
            const royClient = await loggedIn(server, sdkName, roy)

            const ids = await sendNumbered(royClient, leo.username, N_MESSAGES, 'roy')
            const fenceId = await fence(royClient, leo.username, [leo1, leo2])
            for (const device of [leo1, leo2]) {
                assert.deepEqual(textsBeforeFence(device, fenceId).map(view), expectedViews(ids, 'roy', roy.username, leo.username))
            }
        }))

        test(`Leo sends ${N_MESSAGES} from device 1: device 2 gets them (from Leo, to Roy) in order once, device 1 none, Roy all`, { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const leo2 = await onDevice(server, sdkName, leo, newDeviceId('two'))
            const royClient = await loggedIn(server, sdkName, roy)

            const ids = await sendNumbered(leo1, roy.username, N_MESSAGES, 'leo')
            await royClient.waitForCount('onTextMessage', N_MESSAGES, { timeout: 30000 })
            assert.deepEqual(royClient.all('onTextMessage').map(view), expectedViews(ids, 'leo', leo.username, roy.username))
            const fenceId = await fence(royClient, leo.username, [leo1, leo2])
            assert.deepEqual(textsBeforeFence(leo2, fenceId).map(view), expectedViews(ids, 'leo', leo.username, roy.username),
                'device 2 sees Leo\'s own messages as sent from Leo to Roy')
            assert.deepEqual(textsBeforeFence(leo1, fenceId).map(view), [], 'the sending device gets none of its own messages back')
            // Leo's own messages are not acknowledged back to Roy by Leo's devices.
            assert.equal(royClient.count('onDeliveredMessage') + royClient.count('onReadMessage'), 0)
        }))

        test('device 2 offline while both sides send: it catches up in order once at its next login; a new device starts empty', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const device2 = newDeviceId('two')
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const leo2 = await onDevice(server, sdkName, leo, device2)
            const royClient = await loggedIn(server, sdkName, roy)
            await leo2.close()

            // Alternating, each acknowledged before the next: their id order is this order.
            const expected = []
            for (let round = 0; round < 5; round++) {
                const fromRoy = await royClient.sendText(leo.username, `roy #${round}`)
                expected.push({ id: String(fromRoy.serverMsgId), msg: `roy #${round}`, from: roy.username, to: leo.username, chatType: 'singleChat' })
                const fromLeo = await leo1.sendText(roy.username, `leo #${round}`)
                expected.push({ id: String(fromLeo.serverMsgId), msg: `leo #${round}`, from: leo.username, to: roy.username, chatType: 'singleChat' })
            }

            // The fence follows the 10 in the queue, whether they come by the login's UNREAD or not.
            const back = await onDevice(server, sdkName, leo, device2)
            const fenceId = await fence(royClient, leo.username, [back, leo1])
            assert.deepEqual(textsBeforeFence(back, fenceId).map(view), expected, 'the device that was offline gets all 10, in order, once')

            const leo3 = await onDevice(server, sdkName, leo, newDeviceId('three'))
            const fence3 = await fence(royClient, leo.username, [leo3, back], 'fence for the new device')
            assert.deepEqual(textsBeforeFence(leo3, fence3), [], 'a new device gets no earlier message as new')
            const history = await leo3.conn.getHistoryMessages({ targetId: roy.username, chatType: 'singleChat', pageSize: 50, searchDirection: 'down' })
            assert.deepEqual(history.messages.filter((m) => m.id !== fenceId && m.id !== fence3).map(view), expected,
                'history roaming still has them, as the devices saw them')
        }))

        test('one device taking its messages leaves them to the other: device 1 reads all, device 2 logs in and still gets them', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const device2 = newDeviceId('two')
            // Device 2 is known to the server: it logged in once before.
            await (await onDevice(server, sdkName, leo, device2)).close()
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const royClient = await loggedIn(server, sdkName, roy)

            const ids = await sendNumbered(royClient, leo.username, 10, 'roy')
            const fenceId = await fence(royClient, leo.username, [leo1])
            assert.deepEqual(textsBeforeFence(leo1, fenceId).map(view), expectedViews(ids, 'roy', roy.username, leo.username))
            // Device 1 also reads the conversation, then leaves: its pulls and acks are done.
            await leo1.conn.send(leo1.sdk.message.create({ type: 'channel', chatType: 'singleChat', to: roy.username }))
            await royClient.waitFor('onChannelMessage', { predicate: (m) => m.from === leo.username })
            await leo1.close()

            const leo2 = await onDevice(server, sdkName, leo, device2)
            const fence2 = await fence(royClient, leo.username, [leo2])
            assert.deepEqual(textsBeforeFence(leo2, fence2).map(view).filter((m) => m.id !== fenceId),
                expectedViews(ids, 'roy', roy.username, leo.username), 'device 2 still gets every message device 1 took')
            const channel = await leo2.waitFor('onChannelMessage', { timeout: 10000 })
            assert.deepEqual([channel.from, channel.to], [leo.username, roy.username], 'and device 1\'s read ack')
        }))

        test('getSelfIdsOnOtherPlatform lists the other device as leo/<resource>, and not after it left', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const leo2 = await onDevice(server, sdkName, leo, newDeviceId('two'))

            const seenBy1 = await leo1.conn.getSelfIdsOnOtherPlatform()
            assert.deepEqual(seenBy1.data, [`${leo.username}/${leo2.conn.clientResource}`], JSON.stringify(seenBy1))
            const seenBy2 = await leo2.conn.getSelfIdsOnOtherPlatform()
            assert.deepEqual(seenBy2.data, [`${leo.username}/${leo1.conn.clientResource}`], JSON.stringify(seenBy2))

            await leo2.close()
            // The server sees the socket close a moment after the client does.
            await waitForCondition(async () => {
                const now = await leo1.conn.getSelfIdsOnOtherPlatform()
                return Array.isArray(now.data) && now.data.length === 0
            }, { timeout: 10000, what: 'device 2 gone from the list' })

            // The REST shape behind it, with the app token: data[].res.
            const listed = await server.rest('GET', `/users/${leo.username}/resources`, { token: await server.appToken() })
            assert.equal(listed.status, 200, listed.text)
            assert.deepEqual(listed.json.data.map((d) => d.res), [leo1.conn.clientResource], listed.text)
        }))

        test('read and conversation read acks from device 1 reach device 2 and Roy', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const leo2 = await onDevice(server, sdkName, leo, newDeviceId('two'))
            const royClient = await loggedIn(server, sdkName, roy)
            const { message } = leo1.sdk

            const sent = await royClient.sendText(leo.username, 'read me')
            const mid = String(sent.serverMsgId)
            await Promise.all([leo1, leo2].map((d) => d.waitFor('onTextMessage', { predicate: (m) => m.id === mid })))

            const read = await leo1.conn.send(message.create({ type: 'read', chatType: 'singleChat', to: roy.username, id: mid }))
            const channel = await leo1.conn.send(message.create({ type: 'channel', chatType: 'singleChat', to: roy.username }))
            for (const client of [royClient, leo2]) {
                const gotRead = await client.waitFor('onReadMessage', { predicate: (m) => m.mid === mid })
                assert.deepEqual([gotRead.id, gotRead.from, gotRead.to], [String(read.serverMsgId), leo.username, roy.username], `${client.user}: onReadMessage`)
                const gotChannel = await client.waitFor('onChannelMessage')
                assert.deepEqual(
                    [gotChannel.id, gotChannel.type, gotChannel.chatType, gotChannel.from, gotChannel.to],
                    [String(channel.serverMsgId), 'channel', 'singleChat', leo.username, roy.username], `${client.user}: onChannelMessage`)
            }
            await fence(royClient, leo.username, [leo1, leo2])
            assert.equal(leo1.count('onReadMessage') + leo1.count('onChannelMessage'), 0, 'the device that sent the acks does not get them back')
            assert.equal(leo2.count('onReadMessage') + leo2.count('onChannelMessage'), 2, 'device 2 gets each once')
        }))

        test('pin, mark, removeHistoryMessages and deleteConversation on device 1: onMultiDeviceEvent on device 2 only', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const leo2 = await onDevice(server, sdkName, leo, newDeviceId('two'))
            const royClient = await loggedIn(server, sdkName, roy)
            const sent = await royClient.sendText(leo.username, 'a conversation')
            await Promise.all([leo1, leo2].map((d) => d.waitFor('onTextMessage', { predicate: (m) => m.id === String(sent.serverMsgId) })))
            const conversation = { conversationId: roy.username, conversationType: 'singleChat' }

            const steps = [
                ['pinnedConversation', () => leo1.conn.pinConversation({ ...conversation, isPinned: true })],
                ['unpinnedConversation', () => leo1.conn.pinConversation({ ...conversation, isPinned: false })],
                ['markConversation', () => leo1.conn.addConversationMark({ conversations: [conversation], mark: 3 })],
                ['unMarkConversation', () => leo1.conn.removeConversationMark({ conversations: [conversation], mark: 3 })],
                ['deleteRoaming', () => leo1.conn.removeHistoryMessages({ targetId: roy.username, chatType: 'singleChat', messageIds: [String(sent.serverMsgId)] })],
                ['deleteConversation', () => leo1.conn.deleteConversation({ channel: roy.username, chatType: 'singleChat', deleteRoam: false })],
            ]
            const started = Date.now()
            for (const [operation, call] of steps) {
                await call()
                const event = await leo2.waitFor('onMultiDeviceEvent', { predicate: (e) => e.operation === operation, timeout: 10000 })
                if (operation === 'deleteRoaming') {
                    assert.deepEqual(event, { operation, conversationId: roy.username, chatType: 'singleChat', resource: leo1.conn.clientResource })
                } else {
                    const { timestamp, ...rest } = event
                    const mark = operation === 'markConversation' || operation === 'unMarkConversation' ? { conversationMark: 3 } : {}
                    assert.deepEqual(rest, { operation, conversationId: roy.username, conversationType: 'singleChat', ...mark }, JSON.stringify(event))
                    assert.ok(typeof timestamp === 'number' && timestamp >= started - 1000 && timestamp <= Date.now() + 1000, `timestamp ${timestamp}`)
                }
            }
            assert.deepEqual(leo2.all('onMultiDeviceEvent').map((e) => e.operation), steps.map(([operation]) => operation), 'each once, in order')

            // Roy's devices hear nothing of Leo's conversation settings; his fence is Leo's text.
            const leoFence = await leo2.sendText(roy.username, 'fence for roy')
            await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(leoFence.serverMsgId) })
            assert.equal(royClient.count('onMultiDeviceEvent'), 0)
            await fence(royClient, leo.username, [leo1, leo2])
            assert.equal(leo1.count('onMultiDeviceEvent'), 0, 'the acting device gets no event')
        }))

        test('a later login on the same resource kicks the first with 206 and the new login\'s loginInfoCustomExt', { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const deviceId = newDeviceId('same')
            const first = await onDevice(server, sdkName, leo, deviceId)
            const ext = JSON.stringify({ device: 'tablet', note: 'logged in from the kitchen' })
            const second = await onDevice(server, sdkName, leo, deviceId, { ext })

            const disconnected = await first.waitFor('onDisconnected', { timeout: 10000 })
            const error = await first.waitFor('onError', { predicate: (e) => e && e.type === LOGIN_ANOTHER_DEVICE, timeout: 5000 })
            t.diagnostic(`onDisconnected ${describeError(disconnected)}; data ${JSON.stringify(disconnected && disconnected.data)}`)
            for (const [what, payload] of [['onDisconnected', disconnected], ['onError', error]]) {
                assert.equal(payload.type, LOGIN_ANOTHER_DEVICE, `${what}: ${describeError(payload)}`)
                assert.equal(payload.message, 'the user is already logged on another device')
                assert.deepEqual(payload.data, { loginInfoCustomExt: ext }, `${what} carries the new login's ext`)
            }
            assert.equal(first.count('onReconnecting'), 0, 'the kicked device does not reconnect')
            assert.equal(second.count('onDisconnected'), 0)
            assert.equal(second.isOpened(), true)
        }))

        test('REST disconnect of one device: that device gets 217, the other stays', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leo1 = await onDevice(server, sdkName, leo, newDeviceId('one'))
            const leo2 = await onDevice(server, sdkName, leo, newDeviceId('two'))
            const royClient = await loggedIn(server, sdkName, roy)

            const res = await server.rest('DELETE', `/users/${leo.username}/disconnect/${leo1.conn.clientResource}`, { token: await server.appToken() })
            assert.equal(res.status, 200, res.text)
            assert.equal(res.json.action, 'delete', res.text)
            assert.deepEqual(res.json.data, { result: true }, res.text)
            assert.deepEqual(res.json.entities, [], res.text)

            const disconnected = await leo1.waitFor('onDisconnected', { timeout: 10000 })
            assert.equal(disconnected.type, KICKED_BY_OTHER_DEVICE, describeError(disconnected))
            assert.equal(disconnected.message, 'the user was kicked by other device')
            assert.equal(leo1.count('onReconnecting'), 0)
            await fence(royClient, leo.username, [leo2])
            assert.equal(leo2.count('onDisconnected') + leo2.count('onError'), 0, 'the other device stays logged in')

            // Once more: that resource is no longer logged in (the hosted doc's `result: false`).
            const again = await server.rest('DELETE', `/users/${leo.username}/disconnect/${leo1.conn.clientResource}`, { token: await server.appToken() })
            assert.equal(again.status, 200, again.text)
            assert.deepEqual(again.json.data, { result: false }, again.text)
        }))

        test('REST disconnect of all devices: every device gets 217', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            const devices = [await onDevice(server, sdkName, leo, newDeviceId('one')), await onDevice(server, sdkName, leo, newDeviceId('two'))]

            const res = await server.rest('GET', `/users/${leo.username}/disconnect`, { token: await server.appToken() })
            assert.equal(res.status, 200, res.text)
            assert.deepEqual([res.json.action, res.json.data, res.json.entities], ['get', { result: true }, []], res.text)
            for (const device of devices) {
                const disconnected = await device.waitFor('onDisconnected', { timeout: 10000 })
                assert.equal(disconnected.type, KICKED_BY_OTHER_DEVICE, describeError(disconnected))
                assert.equal(device.count('onReconnecting'), 0)
            }
        }))
    })
}
