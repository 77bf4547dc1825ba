'use strict'
// A graceful shutdown (SIGTERM) in the middle of a burst of sends: every send the SDK saw
// succeed was stored, and every message stored was acknowledged to the SDK — a send the SDK
// saw fail was not stored, so an app that resends it makes no duplicate. After a restart,
// Roy gets exactly the acknowledged messages, in order, once each.

const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const { describe, test } = require('node:test')
const { sleep, settle, withTimeout } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'shutdown' })
const N_MESSAGES = 3000
const SIGTERM_AFTER_MS = 250

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('SIGTERM mid-burst: acknowledged == stored, in order, no duplicates', { timeout: 120000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            // SIGTERM comes from another process, on its own clock, while the SDK is still
            // writing the burst (its sends are synchronous work for this process) and the
            // server is still storing it.
            const pid = server.proc.pid
            const signal = execFile('sh', ['-c', `sleep ${SIGTERM_AFTER_MS / 1000}; kill -TERM ${pid}`])
            const sends = []
            for (let i = 0; i < N_MESSAGES; i++) {
                const sent = leoClient.sendText(roy.username, `burst #${i}`, { timeout: 60000 })
                sent.catch(() => {}) // settled below, after the exit
                sends.push(sent)
            }
            await new Promise((resolve) => signal.once('exit', resolve))
            const exit = await withTimeout(server.exited, 20000, 'confab to exit after SIGTERM')
            assert.deepEqual(exit, { code: 0, signal: null }, 'a clean exit')
            // Every send settles: acknowledged, or failed when the socket closed.
            const outcomes = await Promise.all(sends.map((sent, i) => settle(sent, 30000, `send #${i}`)))
            await leoClient.close()
            const ackedTexts = []
            const failedTexts = []
            outcomes.forEach((outcome, i) => (outcome.ok ? ackedTexts : failedTexts).push(`burst #${i}`))
            t.diagnostic(`${ackedTexts.length} acknowledged, ${failedTexts.length} failed`)
            assert.ok(failedTexts.length > 0, 'the shutdown came in the middle of the burst')

            await server.serve()
            const royClient = await loggedIn(server, sdkName, roy)
            if (ackedTexts.length > 0) await royClient.waitForCount('onTextMessage', ackedTexts.length, { timeout: 30000 })
            await sleep(1500) // anything stored beyond the acknowledged would arrive by now
            const received = royClient.all('onTextMessage').map((m) => m.msg)
            const storedButFailed = received.filter((text) => failedTexts.includes(text))
            assert.deepEqual(storedButFailed, [], 'stored, but the SDK saw the send fail')
            assert.deepEqual(received, ackedTexts, 'exactly the acknowledged messages, in order, once each')
            assert.ok(ackedTexts.length > 0, 'some of the burst was stored before the shutdown')
            await royClient.close()
        }))
    })
}
