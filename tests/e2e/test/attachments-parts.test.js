'use strict'
// Multipart upload of a large attachment with both web SDKs (PROTOCOL.md §2.7): a file over
// 1.5 × the 5 MiB part size goes through `/sdk/chatfiles/part-upload` (init, parts, complete);
// the receiver downloads the same bytes. Over the limit (10 MB, the hosted default) the SDK
// stops after init.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'attachment-parts' })
const MB = 1024 * 1024

function send(client, options) {
    return client.conn.send(client.sdk.message.create({ chatType: 'singleChat', ...options }))
}

function fileOption(bytes, filename) {
    const data = new File([bytes], filename, { type: 'application/octet-stream' })
    return { url: URL.createObjectURL(data), filename, filetype: 'bin', data }
}

// Every XHR the SDK opens (method + path), to see which upload path it took.
const opened = []
const realOpen = XMLHttpRequest.prototype.open
XMLHttpRequest.prototype.open = function recordingOpen(method, url) {
    opened.push(`${String(method).toUpperCase()} ${new URL(String(url)).pathname}`)
    return realOpen.call(this, method, url)
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('an 8 MB file is uploaded in parts by the SDK and downloads byte for byte', { timeout: 90000 }, scenario(ctx, async () => {
            const { server } = ctx
            const dns = await (await fetch(`${server.httpUrl}/easemob/server.json?app_key=${encodeURIComponent(server.app.appKey)}`)).json()
            assert.equal(dns.uploadinparts_enable, 'true')
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const received = []
            royClient.conn.addEventHandler('parts', { onFileMessage: (m) => received.push(m) })
            const leoClient = await loggedIn(server, sdkName, leo)
            const bytes = Buffer.alloc(8 * MB)
            for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(i ^ 0x5a5a5a5a, i)
            const first = opened.length
            const sent = await send(leoClient, { type: 'file', to: roy.username, file: fileOption(bytes, 'big.bin') })
            assert.match(String(sent.serverMsgId), /^\d+$/, JSON.stringify(sent))
            const got = await royClient.waitFor('onMessage', { timeout: 10000, predicate: () => received.length > 0 }).then(() => received[0])
            assert.equal(got.type, 'file')
            assert.equal(got.file_length, bytes.length)
            const downloaded = await fetch(got.url)
            assert.equal(downloaded.status, 200)
            assert.ok(Buffer.from(await downloaded.arrayBuffer()).equals(bytes), 'same bytes as uploaded')
            // Init, two 5 MiB-or-less parts, complete; never the one-request upload.
            const base = `/${server.app.orgName}/${server.app.appName}`
            const uuid = got.url.slice(got.url.lastIndexOf('/') + 1, got.url.indexOf('?'))
            const calls = opened.slice(first).filter((c) => c.includes('chatfiles'))
            assert.deepEqual(calls, [
                `POST ${base}/sdk/chatfiles/part-upload`,
                `PUT ${base}/sdk/chatfiles/part-upload/${uuid}`,
                `PUT ${base}/sdk/chatfiles/part-upload/${uuid}`,
                `POST ${base}/sdk/chatfiles/part-upload/${uuid}`,
            ])
            await leoClient.close()
            await royClient.close()
        }))

        // agora-chat 1.4.0 calls its own upload-error callback recursively here (as for any
        // upload error it routes there), so its send() never settles; easemob's rejects.
        if (sdkName === 'easemob-websdk') {
            test('a file over the limit: the SDK aborts after init and send() rejects with WEBIM_UPLOADFILE_ERROR', { timeout: 60000 }, scenario(ctx, async () => {
                const { server } = ctx
                const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
                const leoClient = await loggedIn(server, sdkName, leo)
                const first = opened.length
                const error = await send(leoClient, {
                    type: 'file', to: roy.username, file: fileOption(Buffer.alloc(10 * MB + 1, 3), 'huge.bin'),
                }).then(() => null, (e) => e)
                assert.ok(error, 'send() must reject')
                assert.equal(error.type, leoClient.sdk.statusCode.WEBIM_UPLOADFILE_ERROR)
                assert.equal(error.message, 'The file size exceeds the maximum limit')
                const base = `/${server.app.orgName}/${server.app.appName}`
                const calls = opened.slice(first).filter((c) => c.includes('chatfiles'))
                assert.equal(calls[0], `POST ${base}/sdk/chatfiles/part-upload`)
                assert.match(calls[1], new RegExp(`^DELETE ${base}/sdk/chatfiles/part-upload/[0-9a-f-]{36}$`))
                assert.equal(calls.length, 2)
                await leoClient.close()
            }))
        }
    })
}
