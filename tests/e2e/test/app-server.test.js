'use strict'
// The example app server (examples/app-server) on its own: the user table (scrypt hashes,
// never the password), POST /login answers, CORS, and the token it mints (parsed with the
// official agora-token package). Plain HTTP, no Confab: Chat-user creation is covered by
// the mini-program tests, which run it over https against Confab.

const assert = require('node:assert/strict')
const { spawn, execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { before, after, test } = require('node:test')
const { decodeToken, E2E_DIR } = require('../lib/server')

const APP_SERVER = path.resolve(E2E_DIR, '../../examples/app-server/server.js')
const APP_ID = crypto.randomBytes(16).toString('hex')
const APP_CERTIFICATE = crypto.randomBytes(16).toString('hex')

let dir
let env
let proc
let base
const output = []

before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-app-server-'))
    env = {
        PATH: process.env.PATH,
        NODE_PATH: path.join(E2E_DIR, 'node_modules'),
        APP_ID,
        APP_CERTIFICATE,
        PORT: '0',
        USERS_FILE: path.join(dir, 'users.json'),
        TOKEN_EXPIRE_SECONDS: '600',
    }
    execFileSync(process.execPath, [APP_SERVER, 'add-user', 'Leo', 'correct horse battery'], { env })
    proc = spawn(process.execPath, [APP_SERVER], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stderr.on('data', (d) => output.push(String(d)))
    const lines = readline.createInterface({ input: proc.stdout })
    base = await new Promise((resolve, reject) => {
        lines.on('line', (line) => {
            output.push(`${line}\n`)
            const match = /^app-server listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)
            if (match) resolve(match[1])
        })
        proc.once('exit', (code) => reject(new Error(`app server exited ${code}: ${output.join('')}`)))
    })
})

after(() => {
    if (proc) proc.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
})

function login(body, init = {}) {
    return fetch(`${base}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), ...init })
}

test('the user table holds a salted scrypt hash, not the password, readable by the owner only', () => {
    const text = fs.readFileSync(env.USERS_FILE, 'utf8')
    assert.doesNotMatch(text, /correct horse/)
    const { users } = JSON.parse(text)
    assert.deepEqual(Object.keys(users), ['leo'], 'names are the Chat user names, lower-cased')
    assert.equal(Buffer.from(users.leo.salt, 'base64').length, 16)
    assert.equal(Buffer.from(users.leo.hash, 'base64').length, 64)
    assert.equal(fs.statSync(env.USERS_FILE).mode & 0o777, 0o600)
})

test('POST /login: a Chat user token for the right password, 401 otherwise', async () => {
    const res = await login({ username: 'leo', password: 'correct horse battery' })
    assert.equal(res.status, 200)
    const body = await res.json()
    assert.deepEqual(Object.keys(body).sort(), ['chatUsername', 'expiresIn', 'token'])
    assert.equal(body.chatUsername, 'leo')
    assert.equal(body.expiresIn, 600)
    const token = decodeToken(body.token)
    assert.equal(token.appId, APP_ID)
    assert.equal(token.expire, 600)

    for (const wrong of [{ username: 'leo', password: 'nope' }, { username: 'nobody', password: 'correct horse battery' }, { username: 'leo' }]) {
        const refused = await login(wrong)
        assert.equal(refused.status, 401, JSON.stringify(wrong))
        assert.equal((await refused.json()).error, 'invalid_credentials')
    }
    const bad = await fetch(`${base}/login`, { method: 'POST', body: 'not json' })
    assert.equal(bad.status, 400)
    assert.equal((await fetch(`${base}/login`)).status, 405)
    assert.equal((await fetch(`${base}/elsewhere`)).status, 404)
})

test('CORS for local web development; the certificate never appears in the output', async () => {
    const preflight = await fetch(`${base}/login`, { method: 'OPTIONS', headers: { Origin: 'http://localhost:8080', 'Access-Control-Request-Method': 'POST' } })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*')
    assert.match(preflight.headers.get('access-control-allow-headers'), /Content-Type/)
    const res = await login({ username: 'leo', password: 'correct horse battery' })
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    const all = output.join('')
    assert.match(all, /login ok for leo/)
    assert.doesNotMatch(all, new RegExp(APP_CERTIFICATE))
    assert.doesNotMatch(all, /correct horse/)
})
