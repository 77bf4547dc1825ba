'use strict'
// Reporting, translation and speech with both web SDKs (API-SURFACE.md section 10):
// reportMessage by a party of the message is stored (the console lists it, console.test.js);
// by anyone else, or with bad input, it fails. Confab ships no translation or speech provider,
// so translateMessage, getSupportedLanguages and (easemob) voiceMessageToText fail with the
// hosted "service not open!" (505). With a provider the routes answer; that is tested with
// fake providers in crates/confab-server/tests/providers.rs.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { settle } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const ctx = useServer({ label: 'reports-translation' })

async function failure(promise, what) {
    const result = await settle(promise, 10000, what)
    assert.equal(result.ok, false, `${what} should fail`)
    return [result.error.type, result.error.message]
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('reportMessage by a party; by anyone else and bad input fail', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob, eve } = await freshUsers(server, ['amy', 'bob', 'eve'])
            const amyClient = await loggedIn(server, sdkName, amy)
            const bobClient = await loggedIn(server, sdkName, bob)
            const eveClient = await loggedIn(server, sdkName, eve)
            const sent = await amyClient.sendText(bob.username, 'report me')
            const messageId = String(sent.serverMsgId)
            await bobClient.waitFor('onTextMessage')

            await bobClient.conn.reportMessage({ reportType: 'abuse', reportReason: 'rude', messageId })
            await amyClient.conn.reportMessage({ reportType: 'other', reportReason: 'sent by mistake', messageId })
            assert.deepEqual(await failure(eveClient.conn.reportMessage({ reportType: 'abuse', reportReason: 'not mine', messageId }), 'a report by a stranger'),
                [17, `message ${messageId} does not exist`])
            assert.deepEqual(await failure(bobClient.conn.reportMessage({ reportType: 'x'.repeat(65), reportReason: 'long', messageId }), 'an over-long type'),
                [17, 'reportType must be 1 to 64 characters'])
            assert.deepEqual(await failure(bobClient.conn.reportMessage({ reportType: 'abuse', reportReason: 'r', messageId: 'not-an-id' }), 'a bad id'),
                [17, 'invalid message id not-an-id'])
        }))

        test('translateMessage and getSupportedLanguages: service not open (505)', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { cal } = await freshUsers(server, ['cal'])
            const calClient = await loggedIn(server, sdkName, cal)
            assert.deepEqual(await failure(calClient.conn.translateMessage({ text: 'hello', languages: ['fr'] }), 'translateMessage'), [505, 'service not open!'])
            assert.deepEqual(await failure(calClient.conn.getSupportedLanguages(), 'getSupportedLanguages'), [505, 'service not open!'])
            // easemob-websdk only; agora-chat 1.4.0 has no speech to text.
            assert.equal(typeof calClient.conn.voiceMessageToText, sdkName === 'easemob-websdk' ? 'function' : 'undefined')
            if (sdkName === 'easemob-websdk') {
                const voice = { url: `${server.httpUrl}/x/y/chatfiles/00000000-0000-0000-0000-000000000000`, type: 'audio' }
                const [type] = await failure(calClient.conn.voiceMessageToText(voice), 'voiceMessageToText')
                assert.equal(type, 505)
            }
        }))
    })
}
