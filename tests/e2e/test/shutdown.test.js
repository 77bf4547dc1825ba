'use strict'
// A graceful shutdown (SIGTERM) in the middle of a burst of sends: every send the SDK saw
// succeed was stored, and every message stored was acknowledged to the SDK — a send the SDK
// saw fail was not stored, so an app that resends it makes no duplicate. After a restart,
// Roy gets exactly the acknowledged messages, in order, once each.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { sleep, settle, withTimeout } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')

const ctx = useServer({ label: 'shutdown' })
const N_MESSAGES = 2000
const ACKS_BEFORE_SIGTERM = 200

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('SIGTERM mid-burst: acknowledged == stored, in order, no duplicates', { timeout: 120000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const leoClient = await loggedIn(server, sdkName, leo)
            // Sent ten at a time, letting acknowledgements in between; SIGTERM goes out from the
            // callback of an acknowledgement, while later sends are still on their way. No send
            // starts after it (the SDK would hold those for its next connection).
            let acked = 0
            let inFlightAtSignal = 0
            let stopping = null
            const sends = []
            const started = Date.now()
            for (let i = 0; i < N_MESSAGES && !stopping; i++) {
                const sent = leoClient.sendText(roy.username, `burst #${i}`, { timeout: 60000 })
                sent.then(() => {
                    acked += 1
                    if (acked === ACKS_BEFORE_SIGTERM) {
                        inFlightAtSignal = sends.length - acked
                        stopping = server.stop({ timeout: 20000 })
                    }
                }, () => {})
                sends.push(sent)
                if (i % 10 === 9) await sleep(0)
            }
            const deadline = Date.now() + 30000
            while (!stopping && Date.now() < deadline) await sleep(5)
            assert.ok(stopping, `only ${acked} acknowledgements in 30 s`)
            const stopped = await stopping
            t.diagnostic(`SIGTERM ${Date.now() - started} ms after the burst began`)
            assert.ok(stopped && !stopped.forced, `confab exited by itself after SIGTERM: ${JSON.stringify(stopped)}`)
            // Every send settles: acknowledged, or failed when the socket closed.
            const outcomes = await Promise.all(sends.map((sent, i) => settle(sent, 30000, `send #${i}`)))
            await leoClient.close()
            const ackedTexts = []
            const failedTexts = []
            outcomes.forEach((outcome, i) => (outcome.ok ? ackedTexts : failedTexts).push(`burst #${i}`))
            t.diagnostic(`${inFlightAtSignal} sends in flight at SIGTERM; ${ackedTexts.length} acknowledged, ${failedTexts.length} failed`)
            assert.ok(inFlightAtSignal > 0, 'the shutdown came in the middle of the burst')

            await server.serve()
            const royClient = await loggedIn(server, sdkName, roy)
            if (ackedTexts.length > 0) await royClient.waitForCount('onTextMessage', ackedTexts.length, { timeout: 30000 })
            await sleep(1500) // anything stored beyond the acknowledged would arrive by now
            const received = royClient.all('onTextMessage').map((m) => m.msg)
            const storedButFailed = received.filter((text) => failedTexts.includes(text))
            assert.deepEqual(storedButFailed, [], 'stored, but the SDK saw the send fail')
            assert.deepEqual(received, ackedTexts, 'exactly the acknowledged messages, in order, once each')
            await royClient.close()
        }))
    })
}
