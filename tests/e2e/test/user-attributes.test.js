'use strict'
// User attributes and the nickname with both web SDKs (API-SURFACE.md section 6):
// updateOwnUserInfo (object form, form-encoded) and updateUserInfo (key, value form) merge into
// the user's attributes; fetchUserInfoById reads them for any user of the app, with the keys
// asked for; updateCurrentUserNick sets the nickname the REST user shows. Bad input: over the
// size limit, too many targets, an empty update, another user's path.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test } = require('node:test')
const { settle } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn, describeError } = require('../lib/harness')

const MAX_BYTES = 256
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-attributes-'))
const configFile = path.join(configDir, 'confab.toml')
fs.writeFileSync(configFile, `max_user_attribute_bytes = ${MAX_BYTES}\n`)
const ctx = useServer({ label: 'user-attributes', flags: ['--config', configFile] })

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test('updateOwnUserInfo, updateUserInfo, fetchUserInfoById, updateCurrentUserNick', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { amy, bob } = await freshUsers(server, ['amy', 'bob'])
            const amyClient = await loggedIn(server, sdkName, amy)
            const bobClient = await loggedIn(server, sdkName, bob)

            const set = await amyClient.conn.updateOwnUserInfo({ nickname: 'Amy & Co', avatarurl: 'https://img.example/a b.png', ext: '{"level":3}' })
            assert.deepEqual(set.data, { nickname: 'Amy & Co', avatarurl: 'https://img.example/a b.png', ext: '{"level":3}' })
            await amyClient.conn.updateUserInfo('mail', 'amy@example.com')

            const some = await bobClient.conn.fetchUserInfoById([amy.username, bob.username, 'nobody_here'], ['nickname', 'mail'])
            assert.deepEqual(some.data, {
                [amy.username]: { nickname: 'Amy & Co', mail: 'amy@example.com' },
                [bob.username]: {},
            })
            const all = await bobClient.conn.fetchUserInfoById(amy.username)
            assert.deepEqual(all.data, {
                [amy.username]: { nickname: 'Amy & Co', avatarurl: 'https://img.example/a b.png', ext: '{"level":3}', mail: 'amy@example.com' },
            })

            await amyClient.conn.updateCurrentUserNick('Amy on the lock screen')
            const user = await server.rest('GET', `/users/${amy.username}`, { token: await server.appToken() })
            assert.equal(user.json.entities[0].nickname, 'Amy on the lock screen')
        }))

        test('bad input: over the size limit, too many targets, an empty update, another user', { timeout: 60000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { cal, dan } = await freshUsers(server, ['cal', 'dan'])
            const calClient = await loggedIn(server, sdkName, cal)
            await calClient.conn.updateOwnUserInfo({ nickname: 'Cal' })

            const big = await settle(calClient.conn.updateOwnUserInfo({ sign: 'x'.repeat(MAX_BYTES) }), 10000, 'an update over the limit')
            assert.equal(big.ok, false)
            assert.deepEqual([big.error.type, big.error.message], [17, `the user's attributes would take more than ${MAX_BYTES} bytes`], describeError(big.error))
            // Nothing of it was written.
            assert.deepEqual((await calClient.conn.fetchUserInfoById(cal.username)).data, { [cal.username]: { nickname: 'Cal' } })

            const many = Array.from({ length: 101 }, (_, i) => `user${i}`)
            const tooMany = await settle(calClient.conn.fetchUserInfoById(many), 10000, 'too many targets')
            assert.equal(tooMany.ok, false)
            assert.deepEqual([tooMany.error.type, tooMany.error.message], [17, 'targets must name 1 to 100 users'], describeError(tooMany.error))

            const token = calClient.conn.context.accessToken
            const empty = await server.rest('PUT', `/metadata/user/${cal.username}`, { token, rawBody: '', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
            assert.deepEqual([empty.status, empty.json.error, empty.json.error_description], [400, 'illegal_argument', 'no attribute to set'])
            const other = await server.rest('PUT', `/metadata/user/${dan.username}`, { token, rawBody: 'nickname=Mallory', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
            assert.equal(other.status, 401)
            const garbage = await server.rest('POST', '/metadata/user/get', { token, rawBody: '{"targets":' })
            assert.deepEqual([garbage.status, garbage.json.error], [400, 'json_parse'])
            const anonymous = await server.rest('POST', '/metadata/user/get', { body: { targets: [cal.username] } })
            assert.equal(anonymous.status, 401)
            const longNick = await server.rest('PUT', `/users/${cal.username}`, { token, body: { nickname: 'n'.repeat(101) } })
            assert.deepEqual([longNick.status, longNick.json.error], [400, 'illegal_argument'])
            const nickGarbage = await server.rest('PUT', `/users/${cal.username}`, { token, rawBody: 'nickname' })
            assert.deepEqual([nickGarbage.status, nickGarbage.json.error], [400, 'json_parse'])
        }))
    })
}
