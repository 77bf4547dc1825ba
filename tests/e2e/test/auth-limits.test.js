'use strict'
// What the SDKs see of the account limits (issue 15): a token of a deleted user does not
// open the next user of that name, wrong passwords lock the account for a while (the right
// one too, with the hosted rate-limit error), and a user has at most `max_per_user` sessions.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test } = require('node:test')
const { Client, settle, sleep } = require('../lib/sdk')
const { userTokenIssuedAt } = require('../lib/server')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const MAX_PER_USER = 2
const FAILURES_BEFORE_LOCK = 3
const LOCK_SECS = 2
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-limits-'))
const configFile = path.join(configDir, 'confab.toml')
fs.writeFileSync(configFile, [
    '[sessions]',
    `max_per_user = ${MAX_PER_USER}`,
    '[auth]',
    `failures_before_lock = ${FAILURES_BEFORE_LOCK}`,
    `first_lock_secs = ${LOCK_SECS}`,
    '',
].join('\n'))

const ctx = useServer({ label: 'auth-limits', flags: ['--config', configFile] })

// SDK error types (PROTOCOL.md Appendix B).
const TOKEN_NOT_ASSIGN = 28
const OPEN_ERROR = 1
const MAX_LIMIT = 50
// A login over the device limit: status TOO_MANY_DEVICES, "Sorry, you devices is overflow?";
// easemob-websdk maps the code to 214, agora-chat keeps 2 (auth failed) with the text.
const OVER_THE_DEVICE_LIMIT = {
    'agora-chat': { type: 2, message: 'Sorry, you devices is overflow?' },
    'easemob-websdk': { type: 214, message: 'the number of devices the user is logged in to exceeds the limit' },
}

async function openRejected(sdkName, username, credentials) {
    const client = await Client.create({ sdkName, server: ctx.server, user: username })
    const result = await settle(client.open(credentials, { timeout: 20000 }), 20000, 'open()')
    await client.close()
    assert.equal(result.ok, false, `open() must reject; resolved with ${JSON.stringify(result.value)}`)
    return result.error
}

async function recreate(server, user) {
    const appToken = await server.appToken()
    const deleted = await server.rest('DELETE', `/users/${user.username}`, { token: appToken })
    assert.equal(deleted.status, 200, deleted.text)
    await server.registerUsers([{ username: user.username, password: user.password }])
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('a token of a deleted user does not open the next user of that name (28)', { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            // From the password grant (names the user's UUID), and one an app server built for
            // the name before the user existed.
            const granted = (await server.passwordGrant(leo.username, leo.password)).access_token
            const older = userTokenIssuedAt(server.app, leo.username, Math.floor(Date.now() / 1000) - 60, 3600)
            await sleep(1100) // the new user is created in a later second than the old one
            await recreate(server, leo)
            for (const [what, token] of [['granted', granted], ['built before the user', older]]) {
                const error = await openRejected(sdkName, leo.username, { accessToken: token })
                t.diagnostic(`${what}: ${describeError(error)}`)
                assert.equal(error.type, TOKEN_NOT_ASSIGN, `${what}: ${describeError(error)}`)
            }
            const renewed = await server.rest('GET', `/sdk/users/${leo.username}/token/expires`, { token: granted })
            assert.equal(renewed.status, 401, renewed.text)
            // The new user's own tokens work.
            const fresh = await loggedIn(server, sdkName, leo, { mode: 'accessToken' })
            await fresh.close()
        }))

        test(`${FAILURES_BEFORE_LOCK} wrong passwords lock the account for ${LOCK_SECS} s, the right one too; then it opens`, { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo } = await freshUsers(server, ['leo'])
            for (let i = 0; i < FAILURES_BEFORE_LOCK; i++) {
                const error = await openRejected(sdkName, leo.username, { pwd: 'wrong-password' })
                assert.deepEqual([error.type, error.message], [OPEN_ERROR, 'invalid password'], describeError(error))
            }
            const locked = await openRejected(sdkName, leo.username, { pwd: leo.password })
            t.diagnostic(`during the lock: ${describeError(locked)}`)
            // The SDK's open() wraps the grant's failure: type 1, and in `data` the REST error,
            // which it maps to 50 (MAX_LIMIT) by the 429 and its text.
            assert.equal(locked.type, OPEN_ERROR, describeError(locked))
            assert.equal(locked.data && locked.data.type, MAX_LIMIT, describeError(locked))
            assert.match(locked.message, /The request has reached the maximum limit/)
            await sleep(LOCK_SECS * 1000 + 200)
            const client = await loggedIn(server, sdkName, leo, { mode: 'pwd' })
            await client.close()
        }))

        test(`a login beyond ${MAX_PER_USER} sessions of one user is refused; the others stay`, { timeout: 60000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const sessions = []
            for (let i = 0; i < MAX_PER_USER; i++) sessions.push(await loggedIn(server, sdkName, leo))
            const error = await openRejected(sdkName, leo.username, { agoraToken: server.userToken(leo.username) })
            t.diagnostic(`over the cap: ${describeError(error)}`)
            assert.deepEqual({ type: error.type, message: error.message }, OVER_THE_DEVICE_LIMIT[sdkName])
            // The sessions in place stay, and a message still reaches the user.
            await sleep(500)
            for (const session of sessions) {
                assert.equal(session.isOpened(), true)
                assert.equal(session.count('onDisconnected'), 0)
            }
            const royClient = await loggedIn(server, sdkName, roy)
            await royClient.sendText(leo.username, 'still here')
            await Promise.any(sessions.map((session) =>
                session.waitFor('onTextMessage', { predicate: (m) => m.msg === 'still here' })))
            for (const client of [...sessions, royClient]) await client.close()
        }))
    })
}
