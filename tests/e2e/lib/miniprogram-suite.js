'use strict'
// The mini-program scenarios, defined once and run per platform by
// test/miniprogram-wechat.test.js and test/miniprogram-qq.test.js (one process each).
//
// 1. The quickstart, driven like taps on the example page: Leo logs in with the app
//    server's token, sends "Hi, how are you doing?", logs out; Roy logs in and the page
//    shows the toast with Leo's message. Over wss/https, TLS verified against the test CA.
// 2. The platform drops Roy's socket while Leo's burst of messages is in flight (the app
//    goes to the background; the network drops): the SDK reconnects and Roy's page shows
//    every message exactly once, in order.
// 3. HttpDNS left on: the SDK fetches server.json from its hard-coded vendor host (mapped
//    to Confab by the phone's DNS), connects to the host Confab names (im.confab.test) and
//    logs in; with an app key and with an App ID.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const {
    SDK_FILE, IM_HOST, useMiniProgramEnv, newRuntime, launchQuickstart, appUsers, pageLogs,
    loginOnPage, logoutOnPage, scenario, waitUntil, sleep,
} = require('./miniprogram')

const TEXT = 'Hi, how are you doing?'
const BURST = 50

function defineMiniProgramSuite(platform) {
    const name = platform === 'wx' ? 'WeChat' : 'QQ'
    const ctx = useMiniProgramEnv({ label: `mp-${platform}` })

    describe(`${name} mini program (easemob-websdk 4.21.1 miniProgram build)`, () => {
        test('quickstart page: Leo sends and logs out; Roy logs in and sees the toast', { timeout: 60000 }, scenario(ctx, async () => {
            const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])

            const leoPhone = launchQuickstart(ctx, { platform, label: `${platform}-leo` })
            assert.deepEqual(leoPhone.unboundHandlers(), [], 'every bindtap/bindinput of the page names a page method')
            await loginOnPage(leoPhone, leo)
            // The token came from the app server, over https, before the socket opened.
            const requests = leoPhone.control.callsTo('request')
            assert.deepEqual(requests.map((c) => `${c.method} ${c.url}`), ['POST https://app.confab.test/login'])
            assert.deepEqual(leoPhone.control.callsTo('connectSocket').map((c) => c.url), [`wss://${IM_HOST}/websocket`])

            const { conn } = leoPhone.app.globalData
            assert.match(conn.context.jid.clientResource, new RegExp(`^webim_${platform}_`), `the SDK saw platform ${platform}`)
            leoPhone.type('Peer user ID', roy.username)
            leoPhone.type('Message', TEXT)
            assert.equal(leoPhone.page.data.peerId, roy.username, 'the peer field sets the peer id')
            assert.equal(leoPhone.page.data.message, TEXT)
            await leoPhone.tap('Send')
            assert.ok(pageLogs(leoPhone).includes(`Message sent to ${roy.username}: ${TEXT}`), JSON.stringify(pageLogs(leoPhone)))
            await logoutOnPage(leoPhone)

            const royPhone = launchQuickstart(ctx, { platform, label: `${platform}-roy` })
            await loginOnPage(royPhone, roy)
            const toast = await waitUntil(() => royPhone.control.toasts.find((t) => t.title === `${leo.username}: ${TEXT}`), {
                timeout: 10000,
                what: () => `Roy's toast; toasts ${JSON.stringify(royPhone.control.toasts)}`,
            })
            assert.equal(toast.icon, 'none')
            assert.equal(royPhone.control.toasts.length, 1, 'one message, one toast')
            assert.ok(pageLogs(royPhone).includes(`Message from ${leo.username}: ${TEXT}`))
            await logoutOnPage(royPhone)
        }))

        test('pasted token: login with a token typed into the page (no app server call)', { timeout: 60000 }, scenario(ctx, async () => {
            const { leo } = await appUsers(ctx, ['leo'])
            const phone = launchQuickstart(ctx, { platform, label: `${platform}-leo-token` })
            await loginOnPage(phone, leo, { usePassword: false, token: ctx.server.userToken(leo.username) })
            assert.deepEqual(phone.control.callsTo('request'), [], 'no REST call for a token login')
            await logoutOnPage(phone)
        }))

        for (const [how, drop, restore] of [
            ['the app goes to the background', (rt) => rt.control.hideApp(), (rt) => rt.control.showApp()],
            ['the network drops', (rt) => rt.control.setNetwork(false), (rt) => rt.control.setNetwork(true)],
        ]) {
            test(`socket dropped by the platform while ${BURST} messages are in flight (${how}): all arrive once, in order`, { timeout: 90000 }, scenario(ctx, async () => {
                const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
                const royPhone = launchQuickstart(ctx, { platform, label: `${platform}-roy` })
                await loginOnPage(royPhone, roy)
                const leoPhone = launchQuickstart(ctx, { platform, label: `${platform}-leo` })
                await loginOnPage(leoPhone, leo)
                leoPhone.type('Peer user ID', roy.username)

                const texts = Array.from({ length: BURST }, (_, i) => `burst ${String(i + 1).padStart(2, '0')}`)
                const sends = []
                let deliveredAtDrop = null
                for (const text of texts) {
                    leoPhone.type('Message', text)
                    sends.push(leoPhone.tap('Send'))
                    await sleep(15)
                    // Drop Roy's socket mid-stream: some messages shown, the rest on their way.
                    if (deliveredAtDrop === null && royPhone.control.toasts.length >= 5) {
                        deliveredAtDrop = royPhone.control.toasts.length
                        await drop(royPhone)
                    }
                }
                await Promise.all(sends)
                const sent = pageLogs(leoPhone).filter((l) => l.startsWith('Message sent to'))
                assert.equal(sent.length, BURST, `Leo's sends all acknowledged: ${JSON.stringify(pageLogs(leoPhone).slice(-5))}`)
                assert.ok(deliveredAtDrop !== null && deliveredAtDrop < BURST, `dropped mid-stream (${deliveredAtDrop} shown at the drop)`)
                // While dropped, the SDK's reconnect attempt fails (no network for the app yet).
                await waitUntil(() => royPhone.control.callsTo('connectSocket').length >= 2, { timeout: 5000, what: 'a reconnect attempt while dropped' })
                assert.ok(royPhone.control.toasts.length < BURST, 'not everything arrived before the reconnect')
                restore(royPhone)

                const expected = texts.map((t) => `${leo.username}: ${t}`)
                await waitUntil(() => royPhone.control.toasts.length >= BURST, {
                    timeout: 30000,
                    what: () => `${BURST} toasts on Roy's page (have ${royPhone.control.toasts.length}); log ${JSON.stringify(pageLogs(royPhone).slice(-8))}`,
                })
                await sleep(500) // a duplicate would show up here
                assert.deepEqual(royPhone.control.toasts.map((t) => t.title), expected, 'every message once, in order')
                assert.ok(royPhone.control.callsTo('connectSocket').length >= 3, 'Roy reconnected after the app came back')
                assert.equal(royPhone.page.data.loggedInAs, roy.username)
                await logoutOnPage(leoPhone)
                await logoutOnPage(royPhone)
            }))
        }

        for (const init of ['appKey', 'appId']) {
            test(`HttpDNS left on (${init}): server.json from the vendor host, socket to ${IM_HOST}`, { timeout: 60000 }, scenario(ctx, async () => {
                const { server } = ctx
                const { leo, roy } = await appUsers(ctx, ['leo', 'roy'])
                const phone = newRuntime(ctx, { platform, label: `${platform}-httpdns-${init}` })
                const SDK = phone.loadModule(SDK_FILE)
                const ChatSDK = SDK.default || SDK
                const options = init === 'appKey' ? { appKey: server.app.appKey } : { appId: server.app.appId }
                const conn = new ChatSDK.connection(options) // isHttpDNS defaults to true; no url, no apiUrl
                const received = []
                conn.addEventHandler('test', { onTextMessage: (m) => received.push(m) })
                await conn.open({ user: leo.username, accessToken: server.userToken(leo.username) })

                const dns = phone.control.callsTo('request')[0]
                assert.ok(dns, 'a request was made')
                // What the platform requested: the SDK's query (app_key unencoded, `#` and all)
                // merged with its `data` the way the base library does it.
                const dnsUrl = new URL(dns.requestedUrl)
                assert.equal(`${dnsUrl.origin}${dnsUrl.pathname}`, 'https://rs.easemob.com/easemob/server.json')
                if (init === 'appKey') assert.equal(dnsUrl.searchParams.get('app_key'), server.app.appKey)
                else assert.equal(dnsUrl.searchParams.get('app_id'), server.app.appId)
                assert.deepEqual(phone.control.callsTo('connectSocket').map((c) => c.url), [`wss://${IM_HOST}/websocket`])
                if (init === 'appId') assert.equal(conn.appKey, server.app.appKey, 'the app key came from server.json')

                // And it chats: Roy (another phone, the quickstart) gets Leo's message.
                const royPhone = launchQuickstart(ctx, { platform, label: `${platform}-roy` })
                await loginOnPage(royPhone, roy)
                const message = ChatSDK.message.create({ chatType: 'singleChat', type: 'txt', to: roy.username, msg: TEXT })
                await conn.send(message)
                await waitUntil(() => royPhone.control.toasts.find((t) => t.title === `${leo.username}: ${TEXT}`), { timeout: 10000, what: 'Roy\'s toast' })
                conn.close()
                await waitUntil(() => phone.control.openSockets().length === 0, { timeout: 5000, what: 'HttpDNS phone closed' })
                await logoutOnPage(royPhone)
            }))
        }
    })
}

module.exports = { defineMiniProgramSuite }
