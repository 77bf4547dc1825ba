'use strict'
// Multi-device sync (issue 16) on the mini-program build (easemob-websdk 4.21.1 miniProgram,
// unmodified, `wx` and `qq` runtimes, wss/https with the test CA): Leo on two phones, Roy on
// one. What the web tests check in test/multidevice.test.js, on this build: both directions
// reach Leo's other phone in order, once, and never the sending phone; a conversation pinned on
// one phone is an onMultiDeviceEvent on the other; a later login on the same resource kicks the
// first phone with 206 and the new login's loginInfoCustomExt. SDK facts: notes/sdk-multidevice.md.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { useMiniProgramEnv, appUsers, scenario, miniProgramPhone } = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-multidevice' })

const EVENTS = ['onConnected', 'onDisconnected', 'onError', 'onReconnecting', 'onTextMessage', 'onMultiDeviceEvent']

let deviceCounter = 0
function newDeviceId(label) {
    deviceCounter += 1
    return `${label}${process.pid % 10000}x${deviceCounter}`
}

// A phone logged in as `user` on `deviceId`, recording EVENTS.
function phone(user, options) {
    return miniProgramPhone(ctx, user, { ...options, events: EVENTS })
}

// Roy sends a fence; resolves with its id once every phone of `phones` received it.
async function fence(royPhone, leoName, phones) {
    const sent = await royPhone.text(leoName, 'fence')
    const id = String(sent.serverMsgId)
    await Promise.all(phones.map((p) => p.waitFor('onTextMessage', (m) => m.id === id, 15000)))
    return id
}

function view(m) {
    return { id: m.id, msg: m.msg, from: m.from, to: m.to }
}

for (const platform of ['wx', 'qq']) describe(`${platform === 'wx' ? 'WeChat' : 'QQ'} mini program multi-device (easemob-websdk 4.21.1 miniProgram build)`, () => {
    test('both directions reach Leo\'s other phone in order once, and never the sending phone', { timeout: 60000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const leo1 = await phone(leo, { platform, deviceId: newDeviceId('one') })
        const leo2 = await phone(leo, { platform, deviceId: newDeviceId('two') })
        const royPhone = await phone(roy, { platform, deviceId: newDeviceId('roy') })

        const expected = []
        for (let round = 0; round < 3; round++) {
            const fromRoy = await royPhone.text(leo.username, `roy #${round}`)
            expected.push({ id: String(fromRoy.serverMsgId), msg: `roy #${round}`, from: roy.username, to: leo.username })
            const fromLeo = await leo1.text(roy.username, `leo #${round}`)
            expected.push({ id: String(fromLeo.serverMsgId), msg: `leo #${round}`, from: leo.username, to: roy.username })
        }
        const fenceId = await fence(royPhone, leo.username, [leo1, leo2])
        const before = (p) => p.all('onTextMessage').map(view).filter((m) => m.id !== fenceId)
        assert.deepEqual(before(leo2), expected, 'phone 2: every message of the conversation, in order, once')
        assert.deepEqual(before(leo1), expected.filter((m) => m.from === roy.username), 'phone 1: only Roy\'s')
        assert.equal(leo1.all('onTextMessage').at(-1).id, fenceId)
    }))

    test('pinConversation on phone 1 is onMultiDeviceEvent on phone 2; a later login on phone 1\'s resource kicks it with the ext', { timeout: 60000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const device1 = newDeviceId('one')
        const leo1 = await phone(leo, { platform, deviceId: device1 })
        const leo2 = await phone(leo, { platform, deviceId: newDeviceId('two') })
        const royPhone = await phone(roy, { platform, deviceId: newDeviceId('roy') })
        const sent = await royPhone.text(leo.username, 'a conversation')
        await leo2.waitFor('onTextMessage', (m) => m.id === String(sent.serverMsgId))

        await leo1.conn.pinConversation({ conversationId: roy.username, conversationType: 'singleChat', isPinned: true })
        const event = await leo2.waitFor('onMultiDeviceEvent', (e) => e.operation === 'pinnedConversation')
        assert.deepEqual({ ...event, timestamp: typeof event.timestamp },
            { operation: 'pinnedConversation', conversationId: roy.username, conversationType: 'singleChat', timestamp: 'number' })

        const ext = JSON.stringify({ phone: 'new one' })
        await phone(leo, { platform, deviceId: device1, ext })
        const disconnected = await leo1.waitFor('onDisconnected')
        assert.deepEqual([disconnected.type, disconnected.message, disconnected.data],
            [206, 'the user is already logged on another device', { loginInfoCustomExt: ext }])
        assert.equal(leo1.count('onReconnecting'), 0)
        assert.equal(leo1.count('onMultiDeviceEvent'), 0, 'the acting phone gets no event')
        assert.equal(leo2.count('onDisconnected'), 0)
    }))
})
