'use strict'
// Every message kind over msync (PROTOCOL.md §4.7), with `ext` of every value type (§4.8):
// what Leo's SDK sends arrives field by field in Roy's kind-specific callback. Attachment URLs
// are any `{apiUrl}/{org}/{app}/chatfiles/{uuid}`: the bytes are the attachments tests' job.
// Attachment messages get the `body` the SDK sets after its upload. Combined messages: from
// a raw client (every field of the wire), and from the SDK, which uploads the message list.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { COMMAND, RawSocket, encodeFrame, encodeProvisionFrame, CommSyncUL, MessageBody } = require('../lib/raw-msync')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'message-kinds' })

// Every JS value type of §4.8, and what the receiver decodes it to.
const EXT = { i: 7, neg: -3, s: 'str', b: true, f: false, d: 1.5, o: { k: [1, 2] }, a: ['x', 1], empty: '' }

function fileUrl(server, uuid) {
    const [org, app] = server.app.appKey.split('#')
    return `${server.httpUrl}/${org}/${app}/chatfiles/${uuid}`
}

// Sends `fields` as a message of `type` from Leo to Roy; returns [sent, received].
async function roundTrip(leoClient, royClient, callback, fields) {
    const { body, ...createFields } = fields
    const message = leoClient.sdk.message.create({ chatType: 'singleChat', to: royClient.user, ext: EXT, ...createFields })
    // What the SDK itself sets once an upload completed (create() keeps no `body`), so the
    // send goes out without uploading anything.
    if (body) message.body = body
    const sent = await leoClient.conn.send(message)
    const got = await royClient.waitFor(callback, { predicate: (m) => m.id === sent.serverMsgId })
    // Common fields of every kind (§4.6).
    assert.equal(got.type, fields.type)
    assert.equal(got.chatType, 'singleChat')
    assert.equal(got.from, leoClient.user)
    assert.equal(got.to, royClient.user)
    assert.deepEqual(got.ext, EXT)
    assert.equal(typeof got.time, 'number')
    assert.equal(got.time, sent.message.time, 'receiver time = ack timestamp')
    return [sent, got]
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('txt, img, audio, video, file, loc, cmd, custom arrive field by field with every ext type', { timeout: 40000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)
            const url = fileUrl(server, '00000000-aaaa-bbbb-cccc-000000000001')
            const rebased = (secret) => `${url}?em-redirect=true&share-secret=${secret}`

            let [, got] = await roundTrip(leoClient, royClient, 'onTextMessage', { type: 'txt', msg: 'hello ✓ 你好' })
            assert.equal(got.msg, 'hello ✓ 你好')

            ;[, got] = await roundTrip(leoClient, royClient, 'onImageMessage', {
                type: 'img', body: { url, filename: 'cat.png', secret: 'img-secret', file_length: 1234, size: { width: 640, height: 480 } },
            })
            assert.equal(got.url, rebased('img-secret'))
            assert.equal(got.thumb, `${rebased('img-secret')}&thumbnail=true`)
            assert.equal(got.secret, 'img-secret')
            assert.equal(got.thumb_secret, 'img-secret')
            assert.equal(got.width, 640)
            assert.equal(got.height, 480)
            assert.equal(got.file_length, 1234)
            assert.ok(!got.isGif, 'not a gif')

            ;[, got] = await roundTrip(leoClient, royClient, 'onAudioMessage', {
                type: 'audio', body: { url, filename: 'voice.amr', secret: 'audio-secret', file_length: 2048, length: 9 },
            })
            assert.equal(got.url, rebased('audio-secret'))
            assert.equal(got.secret, 'audio-secret')
            assert.equal(got.filename, 'voice.amr')
            assert.equal(got.file_length, 2048)
            assert.equal(got.length, 9)

            ;[, got] = await roundTrip(leoClient, royClient, 'onVideoMessage', {
                type: 'video', body: { url, filename: 'clip.mp4', secret: 'video-secret', file_length: 4096, length: 12 },
            })
            assert.equal(got.url, rebased('video-secret'))
            assert.equal(got.secret, 'video-secret')
            assert.equal(got.filename, 'clip.mp4')
            assert.equal(got.file_length, 4096)
            assert.equal(got.length, 12)

            ;[, got] = await roundTrip(leoClient, royClient, 'onFileMessage', {
                type: 'file', body: { url, filename: 'report.pdf', secret: 'file-secret', file_length: 8192 },
            })
            assert.equal(got.url, rebased('file-secret'))
            assert.equal(got.secret, 'file-secret')
            assert.equal(got.filename, 'report.pdf')
            assert.equal(got.file_length, 8192)

            ;[, got] = await roundTrip(leoClient, royClient, 'onLocationMessage', {
                type: 'loc', lat: 48.8584, lng: 2.2945, addr: 'Champ de Mars', buildingName: 'Tour Eiffel',
            })
            assert.equal(got.lat, 48.8584)
            assert.equal(got.lng, 2.2945)
            assert.equal(got.addr, 'Champ de Mars')
            assert.equal(got.buildingName, 'Tour Eiffel')

            ;[, got] = await roundTrip(leoClient, royClient, 'onCmdMessage', { type: 'cmd', action: 'refresh' })
            assert.equal(got.action, 'refresh')

            ;[, got] = await roundTrip(leoClient, royClient, 'onCustomMessage', {
                type: 'custom', customEvent: 'gift', customExts: { sku: 'rose', n: '3' },
            })
            assert.equal(got.customEvent, 'gift')
            assert.deepEqual(got.customExts, { sku: 'rose', n: '3' })

            // Everything but cmd also comes in the `onMessage` batch.
            assert.equal(royClient.all('onMessage').flat().filter((m) => m.type === 'cmd').length, 0)
            await leoClient.close()
            await royClient.close()
        }))

        test('combine (from a raw client) arrives in onCombineMessage', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const sock = new RawSocket(server.wsUrl)
            await sock.opened
            try {
                let since = sock.messages.length
                await sock.send(encodeProvisionFrame({
                    appKey: server.app.appKey, user: leo.username, token: server.userToken(leo.username, 3600), resource: `raw_${Date.now()}`,
                }))
                await sock.nextFrame(COMMAND.PROVISION, since, 5000)
                const url = fileUrl(server, '00000000-aaaa-bbbb-cccc-000000000002')
                const body = MessageBody.encode(MessageBody.fromObject({
                    type: 1, from: { name: leo.username }, to: { name: roy.username },
                    contents: [{
                        type: 0, subType: 0, text: '[Chat history]', displayName: 'history', remotePath: url,
                        secretKey: 'cm-secret', fileLength: 77, title: 'Chats of Leo', summary: 'leo: hi', combineLevel: 1,
                    }],
                })).finish()
                since = sock.messages.length
                await sock.send(encodeFrame({
                    version: 0, command: COMMAND.SYNC, encryptType: [0],
                    payload: CommSyncUL.encode(CommSyncUL.fromObject({
                        meta: { id: '123456789', to: { appKey: server.app.appKey, name: roy.username, domain: 'easemob.com' }, ns: 1, payload: body },
                    })).finish(),
                }))
                const ack = await sock.nextFrame(COMMAND.SYNC, since, 5000)
                const serverId = ack.decoded.serverId
                const got = await royClient.waitFor('onCombineMessage', { predicate: (m) => m.id === serverId })
                assert.equal(got.type, 'combine')
                assert.equal(got.from, leo.username)
                assert.equal(got.to, roy.username)
                assert.equal(got.title, 'Chats of Leo')
                assert.equal(got.summary, 'leo: hi')
                assert.equal(got.compatibleText, '[Chat history]')
                assert.equal(got.combineLevel, 1)
                assert.equal(got.secret, 'cm-secret')
                assert.equal(got.file_length, 77)
                assert.equal(got.filename, 'history')
                assert.ok(got.url.startsWith(url), got.url)
            } finally {
                await sock.close()
            }
            await royClient.close()
        }))

        test('combine sent by the SDK (it uploads the message list), received, and parsed back with downloadAndParseCombineMessage', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy, amy } = await freshUsers(server, ['leo', 'roy', 'amy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const amyClient = await loggedIn(server, sdkName, amy)
            await amyClient.conn.send(amyClient.textMessage(leo.username, 'first', { ext: { k: 'v' } }))
            await amyClient.conn.send(amyClient.sdk.message.create({ chatType: 'singleChat', type: 'custom', to: leo.username, customEvent: 'poke', customExts: { n: '1' } }))
            const forwarded = [...await leoClient.waitForCount('onTextMessage', 1), ...await leoClient.waitForCount('onCustomMessage', 1)]
            const royClient = await loggedIn(server, sdkName, roy)

            const combine = leoClient.sdk.message.create({
                chatType: 'singleChat', type: 'combine', to: roy.username, ext: EXT,
                compatibleText: '[Chat history]', title: 'Chats of Amy', summary: 'amy: first', messageList: forwarded,
            })
            const sent = await leoClient.conn.send(combine)
            const got = await royClient.waitFor('onCombineMessage', { predicate: (m) => m.id === sent.serverMsgId })
            assert.deepEqual(
                { type: got.type, from: got.from, to: got.to, title: got.title, summary: got.summary, compatibleText: got.compatibleText, combineLevel: got.combineLevel, ext: got.ext },
                { type: 'combine', from: leo.username, to: roy.username, title: 'Chats of Amy', summary: 'amy: first', compatibleText: '[Chat history]', combineLevel: 1, ext: EXT },
            )
            assert.ok(got.url.startsWith(`${fileUrl(server, '')}`), got.url)
            assert.ok(got.secret, 'the list was uploaded with a secret')
            const parsed = await royClient.conn.downloadAndParseCombineMessage({ url: got.url, secret: got.secret })
            assert.deepEqual(
                parsed.map((m) => [m.id, m.type, m.from, m.to, m.msg, m.customEvent, m.ext]),
                forwarded.map((m) => [m.id, m.type, m.from, m.to, m.msg, m.customEvent, m.ext]),
            )
            // Bad input: a secret that is not the file's.
            const denied = await royClient.conn.downloadAndParseCombineMessage({ url: got.url.replace(/share-secret=[^&]*/, 'share-secret=wrong'), secret: 'wrong' }).then(() => null, (e) => e)
            assert.ok(denied, 'rejects')
            assert.equal(denied.type, royClient.sdk.statusCode.WEBIM_DOWNLOADFILE_ERROR, describeError(denied))
            await leoClient.close()
            await amyClient.close()
            await royClient.close()
        }))

        test('deliverOnlineOnly: delivered to Roy online, never queued for Roy offline', { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const onlineOnly = (msg) => leoClient.conn.send(leoClient.textMessage(roy.username, msg, { deliverOnlineOnly: true }))
            const missed = await onlineOnly('only if you are here')
            assert.ok(missed.serverMsgId, 'acknowledged even though nobody receives it')
            await leoClient.sendText(roy.username, 'queued as usual')

            const royClient = await loggedIn(server, sdkName, roy)
            await royClient.waitFor('onTextMessage', { predicate: (m) => m.msg === 'queued as usual' })
            const live = await onlineOnly('you are here')
            const got = await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === live.serverMsgId })
            assert.equal(got.msg, 'you are here')
            assert.equal(got.from, leo.username)
            assert.deepEqual(royClient.all('onTextMessage').map((m) => m.msg), ['queued as usual', 'you are here'])
            // Bad input: nobody of that name, online or not.
            const error = await leoClient.conn.send(leoClient.textMessage('nobody_here', 'hi', { deliverOnlineOnly: true })).then(() => null, (e) => e)
            assert.equal(error && error.type, 204, describeError(error))
            await leoClient.close()
            await royClient.close()
        }))

        test('bad input: a text over the 5 KB limit is refused with the SDK\'s size error', { timeout: 20000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const message = leoClient.textMessage(roy.username, 'x'.repeat(5 * 1024 + 1))
            const error = await leoClient.conn.send(message).then(() => null, (e) => e)
            assert.ok(error, 'send() rejects')
            assert.equal(error.type, 511, describeError(error))
            assert.equal(error.message, 'Sorry, data is too large')
            await leoClient.close()
        }))
    })
}
