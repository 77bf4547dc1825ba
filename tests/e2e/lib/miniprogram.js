'use strict'
// Wiring for the mini-program tests: a test CA, Confab serving https/wss with it (and a
// `[[data_centers]]` config naming im.confab.test), the example app server
// (examples/app-server) over https, and the example quickstart mini programs launched in
// the mini-program runtime with their config pointed at those hosts.

const assert = require('node:assert/strict')
const { spawn, execFile } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')
const { before, after } = require('node:test')
const { ConfabServer, E2E_DIR } = require('./server')
const { createTestCa, VENDOR_DNS_HOSTS } = require('./test-ca')
const { createRuntime } = require('./miniprogram-runtime')

const SDK_FILE = require.resolve('easemob-websdk/miniProgram/Easemob-chat.js')
const EXAMPLES_DIR = path.resolve(E2E_DIR, '../../examples')
const APP_SERVER = path.join(EXAMPLES_DIR, 'app-server', 'server.js')
const QUICKSTART_DIRS = { wx: path.join(EXAMPLES_DIR, 'wechat-quickstart'), qq: path.join(EXAMPLES_DIR, 'qq-quickstart') }

// The public names of this test deployment; the runtimes' `hosts` map sends them to loopback.
const IM_HOST = 'im.confab.test'
const APP_HOST = 'app.confab.test'

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms))
}

// Polls `check` until it returns a truthy value; rejects after `timeout` ms with `what()`.
async function waitUntil(check, { timeout = 10000, interval = 20, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout
    for (;;) {
        const value = await check()
        if (value) return value
        if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`)
        await sleep(interval)
    }
}

// The example app server, run as its README says, with a temp user table. `NODE_PATH` lets it
// use this suite's pinned `agora-token` (CI installs npm packages in tests/e2e only).
class AppServer {
    constructor({ dir, env }) {
        this.dir = dir
        this.env = env
        this.proc = null
        this.port = null
        this.output = []
    }

    static async start({ dir, ca, app, confabUrl }) {
        const env = {
            PATH: process.env.PATH,
            NODE_PATH: path.join(E2E_DIR, 'node_modules'),
            NODE_EXTRA_CA_CERTS: ca.caPath,
            APP_ID: app.appId,
            APP_CERTIFICATE: app.appCertificate,
            APP_KEY: app.appKey,
            CONFAB_URL: confabUrl,
            HOST: '127.0.0.1',
            PORT: '0',
            USERS_FILE: path.join(dir, 'users.json'),
            TLS_CERT: ca.certPath,
            TLS_KEY: ca.keyPath,
        }
        const server = new AppServer({ dir, env })
        await server.serve()
        return server
    }

    serve() {
        const proc = spawn(process.execPath, [APP_SERVER], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
        this.proc = proc
        this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
        proc.stderr.on('data', (d) => this.output.push(`stderr: ${d}`))
        const lines = readline.createInterface({ input: proc.stdout })
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`app server did not start: ${this.output.join('')}`)), 15000)
            lines.on('line', (line) => {
                this.output.push(`${line}\n`)
                const match = /^app-server listening on https:\/\/127\.0\.0\.1:(\d+)$/.exec(line)
                if (match) {
                    clearTimeout(timer)
                    this.port = Number(match[1])
                    resolve(this)
                }
            })
            this.exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`app server exited (${code}): ${this.output.join('')}`)) })
        })
    }

    // `node server.js add-user NAME PASSWORD`, as an operator runs it.
    addUser(name, password) {
        return new Promise((resolve, reject) => {
            execFile(process.execPath, [APP_SERVER, 'add-user', name, password], { env: this.env, timeout: 15000 }, (error, stdout, stderr) => {
                if (error) reject(new Error(`add-user ${name}: ${error.message}\n${stdout}${stderr}`))
                else resolve(stdout)
            })
        })
    }

    async stop() {
        if (!this.proc) return
        this.proc.kill('SIGTERM')
        await Promise.race([this.exited, sleep(3000)])
        if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL')
        this.proc = null
    }
}

// One file's environment: CA, Confab (http + https, data centers), app server. Returns a
// context filled in `before`.
function useMiniProgramEnv({ label }) {
    const ctx = { runtimes: new Set() }
    before(async () => {
        ctx.ca = createTestCa()
        const configPath = path.join(ctx.ca.dir, 'confab.toml')
        fs.writeFileSync(configPath, [
            '[[data_centers]]',
            'name = "test"',
            `rest = "https://${IM_HOST}"`,
            `websocket = "wss://${IM_HOST}/websocket"`,
            '',
        ].join('\n'))
        ctx.server = await ConfabServer.start({
            label,
            flags: ['--config', configPath],
            tls: { cert: ctx.ca.certPath, key: ctx.ca.keyPath },
        })
        ctx.appServer = await AppServer.start({
            dir: ctx.ca.dir,
            ca: ctx.ca,
            app: ctx.server.app,
            confabUrl: `https://localhost:${ctx.server.tlsPort}`,
        })
        // DNS of the test phones: our two names, and the vendor HttpDNS hosts the SDK has
        // hard-coded, all to loopback. TLS is verified against these names.
        ctx.hosts = {
            [IM_HOST]: `127.0.0.1:${ctx.server.tlsPort}`,
            [APP_HOST]: `127.0.0.1:${ctx.appServer.port}`,
        }
        for (const name of VENDOR_DNS_HOSTS) ctx.hosts[name] = `127.0.0.1:${ctx.server.tlsPort}`
    }, { timeout: 60000 })
    after(async () => {
        for (const rt of ctx.runtimes) rt.dispose()
        if (ctx.appServer) await ctx.appServer.stop()
        if (ctx.server) await ctx.server.cleanup()
        if (ctx.ca) ctx.ca.cleanup()
    }, { timeout: 30000 })
    return ctx
}

// A new phone: a runtime of `platform` trusting the test CA, with the test DNS.
function newRuntime(ctx, { platform, label, ...options }) {
    const rt = createRuntime({ platform, ca: ctx.ca.ca, hosts: ctx.hosts, label, ...options })
    ctx.runtimes.add(rt)
    return rt
}

// The example's config.js, as an operator fills it in for this deployment.
function quickstartConfig(ctx, platform) {
    const config = {
        url: `wss://${IM_HOST}/websocket`,
        apiUrl: `https://${IM_HOST}`,
        appServerUrl: `https://${APP_HOST}`,
    }
    if (platform === 'qq') config.appId = ctx.server.app.appId
    else config.appKey = ctx.server.app.appKey
    return config
}

// Launches the example quickstart of `platform` on a new phone: its own app.js, app.json and
// pages/index/index.js, unmodified; `config.js` answered with this deployment's values and
// `utils/Easemob-chat.js` with the npm package's mini-program build (what `npm run copy-sdk`
// copies there).
function launchQuickstart(ctx, { platform, label }) {
    const rt = newRuntime(ctx, { platform, label })
    rt.launch({
        root: QUICKSTART_DIRS[platform],
        modules: {
            'config.js': { exports: quickstartConfig(ctx, platform) },
            'utils/Easemob-chat.js': { file: SDK_FILE },
        },
    })
    return rt
}

let userCounter = 0

// Users added with the app server's `add-user`, which also creates them as Chat users in Confab.
async function appUsers(ctx, names) {
    userCounter += 1
    const suffix = `${process.pid % 10000}x${userCounter}`
    const users = {}
    for (const name of names) {
        users[name] = { username: `${name}_${suffix}`, password: `${name}-pass-${suffix}` }
        await ctx.appServer.addUser(users[name].username, users[name].password)
    }
    return users
}

function pageLogs(rt) {
    return rt.page.data.logs.map((l) => l.text.replace(/^\d\d:\d\d:\d\d /, '')).reverse()
}

// Types the credentials and taps Login; resolves once the page says it is logged in.
async function loginOnPage(rt, user, { usePassword = true, token } = {}) {
    rt.type('User name', user.username)
    if (usePassword) rt.type('Password', user.password)
    if (token) rt.type('Or paste a Chat user token', token)
    await rt.tap('Login')
    await waitUntil(() => rt.page.data.loggedInAs === user.username, {
        timeout: 15000,
        what: () => `${rt.label} logged in; page log: ${JSON.stringify(pageLogs(rt))}`,
    })
}

async function logoutOnPage(rt) {
    rt.tap('Logout')
    await waitUntil(() => rt.control.openSockets().length === 0, { timeout: 5000, what: `${rt.label}: socket closed after Logout` })
}

// Wraps a test body: prints the runtimes' logs and the server log on failure; disposes the
// runtimes; checks that no runtime was refused a URL or saw an exception in app code.
function scenario(ctx, body) {
    return async (t) => {
        const before = new Set(ctx.runtimes)
        let failed = false
        try {
            await body(t)
        } catch (e) {
            failed = true
            throw e
        } finally {
            const mine = Array.from(ctx.runtimes).filter((rt) => !before.has(rt))
            if (failed) {
                for (const rt of mine) process.stderr.write(`\n----- mini program ${rt.label} (last log lines) -----\n${rt.logText(150)}\n`)
                if (ctx.server) process.stderr.write(`\n[${t.name}] failed; ${ctx.server.logTail(12000)}\n`)
            }
            for (const rt of mine) {
                rt.dispose()
                ctx.runtimes.delete(rt)
            }
            if (!failed) {
                for (const rt of mine) {
                    assert.deepEqual(rt.control.refused, [], `${rt.label}: only the deployment's hosts over https/wss`)
                    assert.deepEqual(rt.control.errors.map(String), [], `${rt.label}: no exception in app code`)
                }
            }
        }
    }
}

// A phone of its own running the mini-program build, logged in as `user` on the device
// `deviceId` (resource `webim_<platform>_<deviceId>`); records the SDK events named in
// `events` (onConnected always). `ext`: its setLoginInfoCustomExt.
async function miniProgramPhone(ctx, user, { platform, deviceId, ext, events: names = [] }) {
    const label = `${platform}-${user.username}-${deviceId}`
    const rt = newRuntime(ctx, { platform, label })
    const exported = rt.loadModule(SDK_FILE)
    const sdk = exported.default || exported
    const conn = new sdk.connection({
        appKey: ctx.server.app.appKey, isHttpDNS: false, url: `wss://${IM_HOST}/websocket`, apiUrl: `https://${IM_HOST}`,
        deviceId, isFixedDeviceId: false,
    })
    const events = []
    const handlers = {}
    for (const name of new Set(['onConnected', ...names])) handlers[name] = (payload) => events.push({ name, payload })
    conn.addEventHandler('e2e', handlers)
    if (ext !== undefined) conn.setLoginInfoCustomExt(ext)
    const all = (name) => events.filter((e) => e.name === name).map((e) => e.payload)
    const client = {
        rt, sdk, conn, user: user.username, all,
        count: (name) => all(name).length,
        waitFor: (name, predicate = () => true, timeout = 10000) =>
            waitUntil(() => events.find((e) => e.name === name && predicate(e.payload)), {
                timeout, what: () => `${label}: ${name} (have ${JSON.stringify(events.map((e) => e.name))})`,
            }).then((e) => e.payload),
        text: (to, msg) => conn.send(sdk.message.create({ chatType: 'singleChat', type: 'txt', to, msg })),
    }
    await conn.open({ user: user.username, accessToken: ctx.server.userToken(user.username) })
    await client.waitFor('onConnected')
    assert.equal(conn.clientResource, `webim_${platform}_${deviceId}`)
    return client
}

module.exports = {
    SDK_FILE, EXAMPLES_DIR, QUICKSTART_DIRS, IM_HOST, APP_HOST,
    sleep, waitUntil, useMiniProgramEnv, newRuntime, launchQuickstart, quickstartConfig,
    appUsers, pageLogs, loginOnPage, logoutOnPage, scenario, AppServer, miniProgramPhone,
}
