'use strict'
// Attachments on the mini-program build (easemob-websdk 4.21.1 miniProgram, `wx` runtime,
// https/wss with a test CA): the app uploads with `wx.uploadFile` to `conn.getChatFilesUrl()`
// (header `Authorization` only, as the SDK's own `wx.uploadFile` calls do), sends the image by
// `url` (`message.create` keeps no `body` or secret for `img`, so such files are uploaded
// without `restrict-access`), and the receiving phone gets `onImageMessage` with the URL
// re-based to its apiUrl and downloads the same bytes with `wx.downloadFile`.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { useMiniProgramEnv, launchQuickstart, appUsers, loginOnPage, logoutOnPage, scenario, waitUntil, IM_HOST } = require('../lib/miniprogram')

const ctx = useMiniProgramEnv({ label: 'mp-attachments' })

function call(api, name, options) {
    return new Promise((resolve, reject) => api[name]({ ...options, success: resolve, fail: reject }))
}

describe('WeChat mini program attachments (easemob-websdk 4.21.1 miniProgram build)', () => {
    test('wx.uploadFile to getChatFilesUrl(), image message by url, wx.downloadFile of the same bytes', { timeout: 60000 }, scenario(ctx, async () => {
        const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
        const royPhone = launchQuickstart(ctx, { platform: 'wx', label: 'wx-roy' })
        await loginOnPage(royPhone, roy)
        const received = []
        royPhone.app.globalData.conn.addEventHandler('attachments', { onImageMessage: (m) => received.push(m) })
        const leoPhone = launchQuickstart(ctx, { platform: 'wx', label: 'wx-leo' })
        await loginOnPage(leoPhone, leo)
        const { conn } = leoPhone.app.globalData
        const wx = leoPhone.api

        const bytes = Buffer.alloc(50000)
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13 + 5) % 256
        const filePath = `${wx.env.USER_DATA_PATH}/photo.jpg`
        wx.getFileSystemManager().writeFileSync(filePath, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))

        const url = conn.getChatFilesUrl()
        assert.equal(url, `https://${IM_HOST}/${conn.orgName}/${conn.appName}/chatfiles`)
        const uploaded = await call(wx, 'uploadFile', {
            url, filePath, name: 'file',
            header: { Authorization: `Bearer ${conn.token}` },
        })
        assert.equal(uploaded.statusCode, 200, uploaded.data)
        const entity = JSON.parse(uploaded.data).entities[0]
        assert.equal(entity['file-metadata']['content-length'], bytes.length)

        const sdk = require('easemob-websdk/miniProgram/Easemob-chat.js')
        const sent = await conn.send((sdk.default || sdk).message.create({
            type: 'img', chatType: 'singleChat', to: roy.username,
            url: `${url}/${entity.uuid}`, width: 10, height: 10, file_length: bytes.length,
        }))
        assert.match(String(sent.serverMsgId), /^\d+$/, JSON.stringify(sent))

        const got = await waitUntil(() => received[0], { timeout: 10000, what: 'onImageMessage on Roy\'s phone' })
        assert.equal(got.from, leo.username)
        assert.equal(got.secret, '', 'the mini-program build sends no secret for a url-only image')
        assert.equal(got.url, `https://${IM_HOST}/${conn.orgName}/${conn.appName}/chatfiles/${entity.uuid}?em-redirect=true`)
        const downloaded = await call(royPhone.api, 'downloadFile', { url: got.url })
        assert.equal(downloaded.statusCode, 200)
        const back = Buffer.from(royPhone.api.getFileSystemManager().readFileSync(downloaded.tempFilePath))
        assert.ok(back.equals(bytes), 'same bytes as uploaded')

        await logoutOnPage(leoPhone)
        await logoutOnPage(royPhone)
    }))
})
