'use strict'
// Traffic control ([sessions] in the config): a send over the connection's rate is answered
// as the hosted service does, Status FAIL "traffic control happened, retry later", which both
// SDK builds surface as a rejected send() (type 503, the text as its message). The session
// stays, nothing is delivered for the refused send, and sends pass again once the bucket refills.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test } = require('node:test')
const { settle, sleep } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, assertStillServes, describeError } = require('../lib/harness')

const BURST = 3
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-traffic-'))
const configFile = path.join(configDir, 'confab.toml')
fs.writeFileSync(configFile, [
    '[sessions]',
    'connection_sends_per_sec = 1',
    `connection_send_burst = ${BURST}`,
    'user_sends_per_sec = 0',
    '',
].join('\n'))

const ctx = useServer({ label: 'traffic-control', flags: ['--config', configFile] })

const TRAFFIC_CONTROL = 'traffic control happened, retry later'
// SDK type 503 SERVER_UNKNOWN_ERROR: FAIL with a text the SDK does not map itself.
const SERVER_UNKNOWN_ERROR = 503

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test(`a send over the rate rejects with "${TRAFFIC_CONTROL}"; after a pause sends pass again`, { timeout: 30000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy)
            const leoClient = await loggedIn(server, sdkName, leo)

            for (let i = 0; i < BURST; i++) await leoClient.sendText(roy.username, `burst ${i}`)
            const result = await settle(leoClient.sendText(roy.username, 'one too many'), 20000, 'send()')
            assert.equal(result.ok, false, `send() must reject; resolved with ${JSON.stringify(result.value)}`)
            t.diagnostic(`send() over the rate rejected with ${describeError(result.error)}`)
            assert.equal(result.error.type, SERVER_UNKNOWN_ERROR, describeError(result.error))
            assert.equal(result.error.message, TRAFFIC_CONTROL, describeError(result.error))
            assert.equal(leoClient.count('onReconnecting'), 0, 'a refused send does not cost the session')

            await sleep(1200) // one send a second
            const sent = await leoClient.sendText(roy.username, 'after the pause')
            const got = await royClient.waitFor('onTextMessage', { predicate: (m) => m.id === String(sent.serverMsgId), timeout: 10000 })
            assert.equal(got.msg, 'after the pause')
            const texts = royClient.all('onTextMessage').map((m) => m.msg)
            assert.deepEqual(texts, ['burst 0', 'burst 1', 'burst 2', 'after the pause'], 'the refused send was not delivered')
            await leoClient.close()
            await royClient.close()
        }))
    })
}

test('the server still serves', { timeout: 30000 }, scenario(ctx, async () => {
    await assertStillServes(ctx.server, SDK_NAMES[0])
}))
