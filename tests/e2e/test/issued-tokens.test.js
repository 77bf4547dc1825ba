'use strict'
// Scenario 10: tokens Confab issues from POST /token verify with the official checker
// (shared/token/check-token.js on top of agora-token), and the SDK logs in with them.

const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const path = require('node:path')
const { describe, test } = require('node:test')
const { SDK_NAMES, useServer, scenario, freshUsers, loggedIn } = require('../lib/harness')
const { E2E_DIR } = require('../lib/server')

const ctx = useServer({ label: 'issued-tokens' })
// A verbatim copy of shared/token/check-token.js, so that the suite runs from a clean clone alone.
const CHECK_TOKEN = path.resolve(__dirname, '../tools/check-token.js')
const AGORA_TOKEN_DIR = path.join(E2E_DIR, 'node_modules', 'agora-token')

function checkToken(args) {
    return new Promise((resolve) => {
        execFile(process.execPath, [CHECK_TOKEN, ...args], {
            timeout: 15000,
            env: { ...process.env, AGORA_TOKEN_DIR },
        }, (error, stdout, stderr) => {
            let json = null
            try { json = JSON.parse(stdout) } catch (e) { /* reported below */ }
            resolve({ code: error ? error.code : 0, stdout, stderr, json })
        })
    })
}

describe('tokens issued by POST /token', () => {
    test('password grant: the access_token is a 007 Chat user token for leo\'s UUID (check-token.js --use login exits 0)', { timeout: 30000 }, scenario(ctx, async (t) => {
        const { server } = ctx
        const users = [{ username: 'leo', password: 'leo-password' }]
        await server.registerUsers(users)
        const grant = await server.passwordGrant('leo', 'leo-password')
        assert.equal(typeof grant.expires_in, 'number', JSON.stringify(grant))
        assert.equal(grant.user && grant.user.username, 'leo', JSON.stringify(grant))
        const { appId, appCertificate } = server.app
        // It names the user's UUID, as Agora's buildUserToken(appId, cert, userUuid, …) does, so a
        // later user of the same name (another UUID) does not accept it.
        const checked = await checkToken([appId, appCertificate, grant.access_token, '--user', 'leo', '--uuid', grant.user.uuid, '--use', 'login'])
        t.diagnostic(`check-token.js: exit ${checked.code}, result ${checked.json && checked.json.result}`)
        assert.equal(checked.code, 0, `check-token.js exit ${checked.code}\nstdout: ${checked.stdout}\nstderr: ${checked.stderr}`)
        // expires_in (seconds) agrees with the token's own deadline.
        const nowSeconds = Math.floor(Date.now() / 1000)
        t.diagnostic(`expires_in ${grant.expires_in} s; token issueTs ${checked.json.issueTs}, expire ${checked.json.expire}, effective deadline ${checked.json.effectiveExpiresAt}`)
        assert.ok(Math.abs(checked.json.effectiveExpiresAt - (nowSeconds + grant.expires_in)) <= 5,
            `expires_in ${grant.expires_in} s vs the token deadline ${checked.json.effectiveExpiresAt - nowSeconds} s from now`)
        assert.equal(checked.json.appId, appId)
        assert.equal(checked.json.chat.userId, grant.user.uuid)
    }))

    test('client_credentials grant: the access_token verifies as an app token (--use rest-app)', { timeout: 30000 }, scenario(ctx, async (t) => {
        const { server } = ctx
        const { appId, appCertificate } = server.app
        const token = await server.appToken()
        const checked = await checkToken([appId, appCertificate, token, '--use', 'rest-app'])
        t.diagnostic(`check-token.js: exit ${checked.code}, result ${checked.json && checked.json.result}`)
        assert.equal(checked.code, 0, `check-token.js exit ${checked.code}\nstdout: ${checked.stdout}\nstderr: ${checked.stderr}`)
    }))

    test('a password-grant token is not accepted for another user (check-token.js --user roy exits 1)', { timeout: 30000 }, scenario(ctx, async () => {
        const { server } = ctx
        const { leo } = await freshUsers(server, ['leo'])
        const grant = await server.passwordGrant(leo.username, leo.password)
        const { appId, appCertificate } = server.app
        const checked = await checkToken([appId, appCertificate, grant.access_token, '--user', 'roy', '--use', 'login'])
        assert.equal(checked.code, 1, checked.stdout)
    }))

    for (const sdkName of SDK_NAMES) {
        test(`${sdkName}: accessToken login with the issued token, and a message goes through`, { timeout: 30000 }, scenario(ctx, async () => {
            const { server } = ctx
            const { leo, roy } = await freshUsers(server, ['leo', 'roy'])
            const royClient = await loggedIn(server, sdkName, roy, { mode: 'accessToken' })
            const leoClient = await loggedIn(server, sdkName, leo, { mode: 'accessToken' })
            const sent = await leoClient.sendText(roy.username, 'token from confab')
            const got = await royClient.waitFor('onTextMessage', { timeout: 10000 })
            assert.equal(got.id, String(sent.serverMsgId))
            await leoClient.close()
            await royClient.close()
        }))
    }
})
