'use strict'
// Nobody speaks for anyone else: the SDK shows a message as from `MessageBody.from` to
// `MessageBody.to`, and the server relays the body as it is, so a body that names another
// sender (or another recipient than the meta's) is refused with FAIL "Sorry, You do not
// have permission" (the SDK's 603), for every kind of meta that carries a body. Mallory sends
// them over a raw socket (the SDK always names its own user); Bob, on the published SDK,
// must see none of them, and then Mallory's honest message, from Mallory.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { COMMAND, RawSocket, encodeFrame, encodeProvisionFrame, CommSyncUL, CommSyncDL, MessageBody, decodeFrame } = require('../lib/raw-msync')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'impersonation' })
const FAIL = 1
const NO_PERMISSION = 'Sorry, You do not have permission'

// MessageBody.Type (msync.proto).
const BODY = { CHAT: 1, READ_ACK: 4, DELIVER_ACK: 5, RECALL: 6, CHANNEL_ACK: 7, EDIT: 8 }

async function rawLogin(server, user) {
    const sock = new RawSocket(server.wsUrl)
    await sock.opened
    const since = sock.messages.length
    await sock.send(encodeProvisionFrame({
        appKey: server.app.appKey, user: user.username, token: server.userToken(user.username, 3600), resource: `raw_${Date.now()}`,
    }))
    const reply = await sock.nextFrame(COMMAND.PROVISION, since, 5000)
    assert.equal((reply.decoded.status && reply.decoded.status.errorCode) || 0, 0, 'raw login accepted')
    return sock
}

// Sends one CHAT meta to `to` with `body`, and resolves with the CommSyncDL answering it.
async function sendMeta(sock, clientId, to, body) {
    const payload = MessageBody.encode(MessageBody.fromObject(body)).finish()
    const ul = CommSyncUL.encode(CommSyncUL.fromObject({
        meta: { id: clientId, ns: 1, to: { name: to, domain: 'easemob.com' }, payload },
    })).finish()
    const since = sock.messages.length
    await sock.send(encodeFrame({ version: 0, command: COMMAND.SYNC, encryptType: [0], payload: ul }), { binary: true })
    return sock.until(() => {
        for (const m of sock.messages.slice(since)) {
            const frame = decodeFrame(m.data)
            if (frame.command !== COMMAND.SYNC) continue
            const dl = CommSyncDL.toObject(CommSyncDL.decode(frame.payload), { longs: String })
            if (dl.metaId === String(clientId)) return dl
        }
        return null
    }, 5000, `the answer to meta ${clientId}`)
}

const text = (msg) => [{ type: 0, text: msg }]

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('bodies naming another sender or recipient are refused (603) and never reach anyone', { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { alice, bob, carol, mallory } = await freshUsers(server, ['alice', 'bob', 'carol', 'mallory'])
            const bobClient = await loggedIn(server, sdkName, bob)
            const aliceClient = await loggedIn(server, sdkName, alice)
            const sent = await aliceClient.sendText(bob.username, 'a real one from alice')
            const target = sent.serverMsgId
            await bobClient.waitFor('onTextMessage', { predicate: (m) => m.msg === 'a real one from alice' })

            const sock = await rawLogin(server, mallory)
            const asAlice = { name: alice.username }
            const toBob = { name: bob.username }
            const forged = [
                ['a text from alice', { type: BODY.CHAT, from: asAlice, to: toBob, contents: text('forged') }],
                ['a text with no from', { type: BODY.CHAT, to: toBob, contents: text('anonymous') }],
                ['a text to carol, routed to bob', { type: BODY.CHAT, from: { name: mallory.username }, to: { name: carol.username }, contents: text('misrouted') }],
                ['a read ack from alice', { type: BODY.READ_ACK, from: asAlice, to: toBob, ackMessageId: target, contents: [{}] }],
                ['a delivery ack from alice', { type: BODY.DELIVER_ACK, from: asAlice, to: toBob, ackMessageId: target }],
                ['a conversation read ack from alice', { type: BODY.CHANNEL_ACK, from: asAlice, to: toBob }],
                ['a recall of alice\'s message, as alice', { type: BODY.RECALL, from: asAlice, to: toBob, ackMessageId: target }],
                ['an edit of alice\'s message, as alice', { type: BODY.EDIT, from: asAlice, to: toBob, editMessageId: target, editScope: 1, contents: text('edited') }],
            ]
            let clientId = 1000
            for (const [what, body] of forged) {
                clientId += 1
                const dl = await sendMeta(sock, clientId, bob.username, body)
                t.diagnostic(`${what}: ${JSON.stringify(dl.status)}`)
                assert.deepEqual([dl.status.errorCode, dl.status.reason], [FAIL, NO_PERMISSION], what)
                assert.equal(dl.serverId, undefined, `${what}: no server id`)
            }
            // Mallory's own, honest message arrives, from Mallory; nothing forged came before it.
            const honest = await sendMeta(sock, clientId + 1, bob.username,
                { type: BODY.CHAT, from: { name: mallory.username }, to: toBob, contents: text('honest') })
            assert.equal(honest.status.errorCode || 0, 0)
            const got = await bobClient.waitFor('onTextMessage', { predicate: (m) => m.msg === 'honest' })
            assert.equal(got.from, mallory.username)
            assert.deepEqual(bobClient.all('onTextMessage').map((m) => [m.from, m.msg]),
                [[alice.username, 'a real one from alice'], [mallory.username, 'honest']])
            for (const event of ['onReadMessage', 'onDeliveredMessage', 'onChannelMessage', 'onRecallMessage', 'onModifiedMessage']) {
                assert.equal(bobClient.count(event), 0, `${event} reached bob`)
            }
            await sock.close()
        }))
    })
}
