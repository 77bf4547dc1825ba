'use strict'
// Attachments with both web SDKs (PROTOCOL.md §2.7, §4.7, §5.2): image and file messages sent
// through the SDK's own upload path (`conn.send` with a `file` object, FormData over the XHR
// shim), received with `url` re-based to apiUrl, downloaded with the share secret byte for
// byte; the thumbnail URL; and an upload over the server's limit failing with the SDK's error.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const { describe, test } = require('node:test')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

// A small limit so the too-large case needs no 10 MB buffer.
const LIMIT = 200000
const ctx = useServer({ label: 'attachments', flags: ['--max-attachment-bytes', String(LIMIT)] })

function crc32(bytes) {
    let crc = ~0
    for (const byte of bytes) {
        crc ^= byte
        for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
    }
    return ~crc >>> 0
}

function chunk(type, data) {
    const out = Buffer.alloc(12 + data.length)
    out.writeUInt32BE(data.length, 0)
    out.write(type, 4, 'latin1')
    data.copy(out, 8)
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
    return out
}

// An RGB PNG of width x height with a gradient (so it is not trivially compressible).
function makePng(width, height) {
    const header = Buffer.alloc(13)
    header.writeUInt32BE(width, 0)
    header.writeUInt32BE(height, 4)
    header[8] = 8 // bit depth
    header[9] = 2 // RGB
    const rows = Buffer.alloc((width * 3 + 1) * height)
    for (let y = 0; y < height; y++) {
        const row = y * (width * 3 + 1)
        for (let x = 0; x < width; x++) {
            rows[row + 1 + x * 3] = x & 255
            rows[row + 2 + x * 3] = y & 255
            rows[row + 3 + x * 3] = (x * y) & 255
        }
    }
    return Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk('IHDR', header),
        chunk('IDAT', zlib.deflateSync(rows)),
        chunk('IEND', Buffer.alloc(0)),
    ])
}

function pngSize(bytes) {
    assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG')
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }
}

// Width and height from a baseline or progressive JPEG's SOF segment.
function jpegSize(bytes) {
    assert.equal(bytes.readUInt16BE(0), 0xffd8, 'a JPEG')
    for (let at = 2; at + 9 < bytes.length;) {
        const marker = bytes.readUInt16BE(at)
        if (marker === 0xffc0 || marker === 0xffc2) return { width: bytes.readUInt16BE(at + 7), height: bytes.readUInt16BE(at + 5) }
        at += 2 + bytes.readUInt16BE(at + 2)
    }
    throw new Error('no SOF segment')
}

// An H.264 mp4 of 160x120, first frame red (crates/confab-server/tests/fixtures).
const VIDEO = fs.readFileSync(path.join(__dirname, '../../../crates/confab-server/tests/fixtures/first-frame-red.mp4'))

// The SDK's `file` option, as a browser app builds it from an <input type=file>.
function fileOption(bytes, filename, type) {
    const data = new File([bytes], filename, { type })
    return { url: URL.createObjectURL(data), filename, filetype: type.split('/')[1], data }
}

// Records the attachment callbacks of a client alongside the harness's events.
function recordAttachments(client) {
    client.conn.addEventHandler('attachments', {
        onImageMessage: (message) => client._record('onImageMessage', message),
        onFileMessage: (message) => client._record('onFileMessage', message),
        onVideoMessage: (message) => client._record('onVideoMessage', message),
    })
}

function send(client, options) {
    const message = client.sdk.message.create({ chatType: 'singleChat', ...options })
    return client.conn.send(message)
}

async function fetchBytes(url, headers = {}) {
    const response = await fetch(url, { headers })
    return { status: response.status, type: response.headers.get('content-type'), bytes: Buffer.from(await response.arrayBuffer()) }
}

function assertRebased(server, url, secret) {
    const prefix = `${server.httpUrl}/${server.app.orgName}/${server.app.appName}/chatfiles/`
    assert.ok(url.startsWith(prefix), `${url} is under ${prefix}`)
    assert.ok(url.endsWith(`?em-redirect=true&share-secret=${secret}`), url)
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('image message: uploaded by the SDK, received, downloaded byte for byte, thumbnail', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            recordAttachments(royClient)
            const leoClient = await loggedIn(server, sdkName, leo)
            const png = makePng(320, 240)
            const sent = await send(leoClient, {
                type: 'img', to: roy.username, file: fileOption(png, 'cat.png', 'image/png'),
                width: 320, height: 240, thumbnailWidth: 80, thumbnailHeight: 80,
            })
            assert.match(String(sent.serverMsgId), /^\d+$/, JSON.stringify(sent))

            const got = await royClient.waitFor('onImageMessage', { timeout: 10000 })
            assert.equal(got.id, String(sent.serverMsgId))
            assert.equal(got.from, leo.username)
            assert.equal(got.to, roy.username)
            assert.equal(got.type, 'img')
            assert.equal(got.width, 320)
            assert.equal(got.height, 240)
            assert.equal(typeof got.secret, 'string')
            assert.ok(got.secret.length > 0)
            assertRebased(server, got.url, got.secret)

            const original = await fetchBytes(got.url)
            assert.equal(original.status, 200)
            assert.equal(original.type, 'image/png')
            assert.ok(original.bytes.equals(png), 'same bytes as uploaded')

            assert.equal(got.thumb, `${got.url}&thumbnail=true`)
            const thumb = await fetchBytes(got.thumb)
            assert.equal(thumb.status, 200)
            assert.deepEqual(pngSize(thumb.bytes), { width: 80, height: 60 })

            // Without the secret: the SDK's 403 body.
            const bare = got.url.slice(0, got.url.indexOf('?'))
            const denied = await fetchBytes(bare)
            assert.equal(denied.status, 403)
            assert.equal(JSON.parse(denied.bytes.toString()).error_description, 'chatfile no permission')
            // The secret as the SDK's `utils.download` sends it, in a header.
            const byHeader = await fetchBytes(bare, { 'share-secret': got.secret })
            assert.ok(byHeader.bytes.equals(png))
            await leoClient.close()
            await royClient.close()
        }))

        test('file message: uploaded by the SDK, received offline, downloaded byte for byte', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const bytes = Buffer.alloc(150000)
            for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) % 256
            const sent = await send(leoClient, {
                type: 'file', to: roy.username, file: fileOption(bytes, 'report.bin', 'application/octet-stream'),
            })
            assert.match(String(sent.serverMsgId), /^\d+$/, JSON.stringify(sent))
            await leoClient.close()

            const royClient = await loggedIn(server, sdkName, roy)
            recordAttachments(royClient)
            const got = await royClient.waitFor('onFileMessage', { timeout: 10000 })
            assert.equal(got.id, String(sent.serverMsgId))
            assert.equal(got.from, leo.username)
            assert.equal(got.type, 'file')
            assert.equal(got.filename, 'report.bin')
            assert.equal(got.file_length, bytes.length)
            assertRebased(server, got.url, got.secret)
            const downloaded = await fetchBytes(got.url)
            assert.equal(downloaded.status, 200)
            assert.ok(downloaded.bytes.equals(bytes), 'same bytes as uploaded')
            await royClient.close()
        }))

        test('video message: uploaded by the SDK, received with thumb = its first frame (ffmpeg on the server)', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            recordAttachments(royClient)
            const leoClient = await loggedIn(server, sdkName, leo)
            const sent = await send(leoClient, { type: 'video', to: roy.username, file: fileOption(VIDEO, 'clip.mp4', 'video/mp4'), length: 1 })
            const got = await royClient.waitFor('onVideoMessage', { predicate: (m) => m.id === String(sent.serverMsgId) })
            assert.equal(got.from, leo.username)
            assert.equal(got.filename, 'clip.mp4')
            assert.equal(got.file_length, VIDEO.length)
            assert.equal(got.length, 1)
            assertRebased(server, got.url, got.secret)
            assert.ok((await fetchBytes(got.url)).bytes.equals(VIDEO), 'same bytes as uploaded')
            // The first frame: the SDK set thumbnailRemotePath to `<url>?vframe=true` with the
            // file's secret; the receiver gets it re-based as `thumb` with `thumb_secret`.
            assert.ok(got.thumb.startsWith(`${server.httpUrl}/`) && got.thumb.endsWith('?vframe=true'), got.thumb)
            assert.equal(got.thumb_secret, got.secret)
            const frame = await fetchBytes(got.thumb, { 'share-secret': got.thumb_secret })
            assert.equal(frame.status, 200, frame.bytes.toString())
            assert.equal(frame.type, 'image/jpeg')
            assert.deepEqual(jpegSize(frame.bytes), { width: 160, height: 120 })
            assert.equal((await fetchBytes(got.thumb)).status, 403, 'not without the secret')
            await leoClient.close()
            await royClient.close()
        }))

        test('a file over the attachment limit: send() rejects with WEBIM_UPLOADFILE_ERROR', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            const big = Buffer.alloc(LIMIT + 1, 7)
            const error = await send(leoClient, {
                type: 'file', to: roy.username, file: fileOption(big, 'big.bin', 'application/octet-stream'),
            }).then(() => null, (e) => e)
            assert.ok(error, 'send() must reject')
            assert.equal(error.type, 101, JSON.stringify(error))
            assert.equal(error.type, leoClient.sdk.statusCode.WEBIM_UPLOADFILE_ERROR)
            assert.equal(error.message, 'Failed to upload the file')
            assert.equal(error.data?.error, 'file_too_large', 'the server body reaches the app')
            await leoClient.close()
        }))
    })
}
