'use strict'
// Scenario 9: frames the SDK never sends, over a raw WebSocket (the `ws` package and
// protobufjs on crates/confab-proto/proto/msync.proto): malformed bytes, a truncated protobuf, a text frame,
// an unknown command, an oversized frame. Each gets its exact answer or close (below),
// and SDK sessions opened before it keep sending and receiving.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { COMMAND, RawSocket, encodeFrame, encodeProvisionFrame, decodeFrame, CommSyncUL, CommSyncDL } = require('../lib/raw-msync')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'raw-socket' })
const MAX_FRAME_BYTES = 65536 // confab serve default (--max-frame-bytes)

// Opens a raw socket and logs in as a fresh user; returns the socket.
async function rawLoggedIn(server) {
    const { raw } = await freshUsers(server, ['raw'])
    const sock = new RawSocket(server.wsUrl)
    await sock.opened
    const since = sock.messages.length
    await sock.send(encodeProvisionFrame({
        appKey: server.app.appKey, user: raw.username, token: server.userToken(raw.username, 3600), resource: `raw_${Date.now()}`,
    }))
    const reply = await sock.nextFrame(COMMAND.PROVISION, since, 5000)
    const status = reply.decoded && reply.decoded.status
    assert.equal((status && status.errorCode) || 0, 0, `raw PROVISION accepted: ${JSON.stringify(reply.decoded)}`)
    return sock
}

function describeOutcome(sock, since) {
    const answers = sock.messages.slice(since).map((m) => {
        if (!m.isBinary) return `text ${JSON.stringify(m.data.toString().slice(0, 80))}`
        try {
            const frame = decodeFrame(m.data)
            return `frame command ${frame.command} ${JSON.stringify(frame.decoded || {})}`
        } catch (e) {
            return `undecodable ${m.data.toString('hex').slice(0, 80)}`
        }
    })
    return `answers [${answers.join('; ')}]; close ${sock.closed ? `${sock.closed.code} ${JSON.stringify(sock.closed.reason)}` : 'none'}`
}

// Before login, a frame that is not a PROVISION gets a PROVISION answer with status
// FAIL (4) and the socket is closed with 1008 (policy violation).
async function expectLoginRefused(sock, since, reason) {
    const answer = await sock.nextFrame(COMMAND.PROVISION, since, 5000)
    assert.equal(answer.decoded.status.errorCode, 4)
    assert.equal(answer.decoded.status.reason, reason)
    const closed = await sock.closedWith(5000)
    assert.deepEqual([closed.code, closed.reason], [1008, 'login failed'])
}

async function expectClosed(sock, code, reason) {
    const closed = await sock.closedWith(5000)
    assert.deepEqual([closed.code, closed.reason], [code, reason])
}

// Bad inputs: `send(sock)` puts the bad frame on a socket from `connect(server)`;
// `expect(sock, since)` checks the exact outcome.
const CASES = [
    {
        name: 'malformed bytes as the first frame',
        connect: async (server) => { const s = new RawSocket(server.wsUrl); await s.opened; return s },
        send: (sock) => sock.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x4a, 0x7f]), { binary: true }),
        expect: (sock, since) => expectLoginRefused(sock, since, 'frame is not a valid MSync envelope'),
    },
    {
        name: 'a truncated protobuf as the first frame',
        connect: async (server) => { const s = new RawSocket(server.wsUrl); await s.opened; return s },
        send: (sock, server) => {
            const full = encodeProvisionFrame({ appKey: server.app.appKey, user: 'nobody', token: 'x'.repeat(100), resource: 'raw_trunc' })
            return sock.send(full.subarray(0, Math.floor(full.length / 2)), { binary: true })
        },
        expect: (sock, since) => expectLoginRefused(sock, since, 'frame is not a valid MSync envelope'),
    },
    {
        name: 'a text (non-binary) frame as the first frame',
        connect: async (server) => { const s = new RawSocket(server.wsUrl); await s.opened; return s },
        send: (sock) => sock.send('{"command":"PROVISION"}', { binary: false }),
        expect: (sock) => expectClosed(sock, 1003, 'binary frames only'),
    },
    {
        name: 'a text (non-binary) frame after login',
        connect: rawLoggedIn,
        send: (sock) => sock.send('hello', { binary: false }),
        expect: (sock) => expectClosed(sock, 1003, 'binary frames only'),
    },
    {
        name: 'an unknown command number (9) after login',
        connect: rawLoggedIn,
        // MSync{version: 0, command: 9}: field 1 varint 0, field 8 varint 9.
        send: (sock) => sock.send(Buffer.from([0x08, 0x00, 0x40, 0x09]), { binary: true }),
        // An unknown command is answered (same command, a CommSyncDL whose status is
        // UNKNOWN_COMMAND, 9) and the connection stays usable.
        expect: async (sock, since) => {
            const answer = await sock.nextFrame(9, since, 5000)
            const dl = CommSyncDL.decode(answer.payload)
            assert.equal(dl.status.errorCode, 9)
            const before = sock.messages.length
            await sock.send(encodeFrame({ version: 0, command: COMMAND.UNREAD, encryptType: [0] }))
            await sock.nextFrame(COMMAND.UNREAD, before, 5000)
            assert.equal(sock.closed, null)
        },
    },
    {
        name: `a frame over ${MAX_FRAME_BYTES} bytes after login`,
        connect: rawLoggedIn,
        send: (sock) => {
            const ul = CommSyncUL.encode(CommSyncUL.fromObject({
                meta: { id: 1, ns: 1, to: { name: 'nobody', domain: 'easemob.com' }, payload: Buffer.alloc(MAX_FRAME_BYTES + 100, 0x61) },
            })).finish()
            const frame = encodeFrame({ version: 0, command: COMMAND.SYNC, encryptType: [0], payload: ul })
            assert.ok(frame.length > MAX_FRAME_BYTES)
            return sock.send(frame, { binary: true })
        },
        expect: (sock) => expectClosed(sock, 1009, 'frame too large'),
    },
    {
        name: 'a frame over the limit as the first frame',
        connect: async (server) => { const s = new RawSocket(server.wsUrl); await s.opened; return s },
        send: (sock) => sock.send(Buffer.alloc(MAX_FRAME_BYTES * 2, 0x00), { binary: true }),
        expect: (sock, since) => expectLoginRefused(sock, since, `frame of ${MAX_FRAME_BYTES * 2} bytes exceeds the limit of ${MAX_FRAME_BYTES}`),
    },
]

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        for (const badCase of CASES) {
            test(`${badCase.name}: the exact answer or close; SDK sessions keep working`, { timeout: 45000 }, scenario(ctx, async (t) => {
                const { server } = ctx
                const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
                const royClient = await loggedIn(server, sdkName, roy)
                const leoClient = await loggedIn(server, sdkName, leo)

                const sock = await badCase.connect(server)
                const since = sock.messages.length
                await badCase.send(sock, server)
                try {
                    await badCase.expect(sock, since)
                } finally {
                    t.diagnostic(describeOutcome(sock, since))
                }
                await sock.close()

                const sent = await leoClient.sendText(roy.username, `after: ${badCase.name}`)
                const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
                assert.equal(got.id, String(sent.serverMsgId))
                const reply = await royClient.sendText(leo.username, 'and back')
                const back = await leoClient.waitFor('onTextMessage', { timeout: 10000 })
                assert.equal(back.id, String(reply.serverMsgId))
                for (const client of [leoClient, royClient]) {
                    assert.equal(client.count('onDisconnected'), 0, `${client.user} stayed connected`)
                    assert.equal(client.count('onReconnecting'), 0, `${client.user} did not reconnect`)
                }
                await leoClient.close()
                await royClient.close()
            }))
        }
    })
}
