'use strict'
// Starts and stops the real `confab` binary for a test file: a temp data dir, port 0,
// readiness from the one stdout line, stderr captured to a log file that is printed
// when a test fails. Also holds the REST setup helpers (app token, users, password
// grant) and token minting with the official `agora-token` package.

const { spawn, execFile } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { ChatTokenBuilder } = require('agora-token')
const { AccessToken2, ServiceChat } = require('agora-token/src/AccessToken2')

const E2E_DIR = path.resolve(__dirname, '..')
const CONFAB_BIN = process.env.CONFAB_BIN || path.resolve(E2E_DIR, '../../target/debug/confab')
const READY_LINE = /^confab listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/
const TLS_READY_LINE = /^confab listening on (https:\/\/127\.0\.0\.1:(\d+))\s*$/
const READY_TIMEOUT_MS = 30000

function runConfab(args, { timeout = 30000 } = {}) {
    return new Promise((resolve, reject) => {
        execFile(CONFAB_BIN, args, { timeout }, (error, stdout, stderr) => {
            if (error) {
                error.message += `\n--- confab ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`
                reject(error)
            } else {
                resolve({ stdout, stderr })
            }
        })
    })
}

function makeDataDir(label) {
    return fs.mkdtempSync(path.join(os.tmpdir(), `confab-e2e-${label || 'test'}-`))
}

// `confab app create` prints one JSON line with the app's credentials.
async function createApp(dataDir, { org, name, appId, appCertificate } = {}) {
    const args = ['app', 'create', '--org', org, '--name', name, '--data-dir', dataDir]
    if (appId) args.push('--app-id', appId)
    if (appCertificate) args.push('--app-certificate', appCertificate)
    const { stdout } = await runConfab(args)
    const line = stdout.trim().split('\n').filter(Boolean).pop()
    const app = JSON.parse(line)
    for (const field of ['orgName', 'appName', 'appKey', 'appId', 'appCertificate', 'clientId', 'clientSecret']) {
        if (typeof app[field] !== 'string' || app[field] === '') {
            throw new Error(`confab app create: field ${field} missing in ${line}`)
        }
    }
    return app
}

class ConfabServer {
    // tls: {cert, key} (PEM file paths) adds an https/wss listener on a free port.
    constructor({ dataDir, flags = [], label, tls = null }) {
        this.dataDir = dataDir
        this.flags = flags
        this.tls = tls
        this.tlsPort = null
        this.label = label || 'server'
        this.logPath = path.join(dataDir, 'confab-e2e.log')
        this.proc = null
        this.port = null
        this.generation = 0
        this.app = null
    }

    // Creates the data dir and the apps, then starts serving. `apps` = [{org, name}, …];
    // the first one becomes `server.app`.
    static async start({ label, apps = [{ org: 'e2eorg', name: 'e2eapp' }], flags = [], tls = null } = {}) {
        const dataDir = makeDataDir(label)
        const server = new ConfabServer({ dataDir, flags, label, tls })
        server.apps = []
        for (const app of apps) server.apps.push(await createApp(dataDir, app))
        server.app = server.apps[0]
        await server.serve()
        return server
    }

    get httpUrl() { return `http://127.0.0.1:${this.port}` }
    get wsUrl() { return `ws://127.0.0.1:${this.port}/websocket` }
    get httpsUrl() { return `https://127.0.0.1:${this.tlsPort}` }
    get wssUrl() { return `wss://127.0.0.1:${this.tlsPort}/websocket` }

    async serve() {
        if (this.proc) throw new Error('already running')
        this.generation += 1
        const log = fs.openSync(this.logPath, 'a')
        fs.writeSync(log, `\n===== confab serve #${this.generation} ${new Date().toISOString()} =====\n`)
        const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', this.dataDir, ...this.flags]
        if (this.tls) args.push('--tls-listen', '127.0.0.1:0', '--tls-cert', this.tls.cert, '--tls-key', this.tls.key)
        const proc = spawn(CONFAB_BIN, args, { stdio: ['ignore', 'pipe', log] })
        fs.closeSync(log)
        this.proc = proc
        this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
        this.exited.then(() => { if (this.proc === proc) this.proc = null })
        const lines = readline.createInterface({ input: proc.stdout })
        const stdoutLines = []
        let httpPort = null
        let tlsPort = null
        const ready = new Promise((resolve, reject) => {
            lines.on('line', (line) => {
                stdoutLines.push(line)
                const match = READY_LINE.exec(line)
                if (match && httpPort === null) httpPort = Number(match[2])
                const tlsMatch = TLS_READY_LINE.exec(line)
                if (tlsMatch && tlsPort === null) tlsPort = Number(tlsMatch[2])
                if (httpPort !== null && (!this.tls || tlsPort !== null)) resolve(httpPort)
            })
            proc.once('error', reject)
            this.exited.then(({ code, signal }) => reject(new Error(
                `confab serve exited before ready (code ${code}, signal ${signal}); stdout: ${stdoutLines.join('\\n')}\n${this.logTail()}`)))
        })
        this.port = null
        this.tlsPort = null
        let timer
        try {
            this.port = await Promise.race([ready, new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error(`confab serve printed no readiness line in ${READY_TIMEOUT_MS} ms; stdout: ${stdoutLines.join('\\n')}\n${this.logTail()}`)), READY_TIMEOUT_MS)
            })])
        } catch (e) {
            if (this.proc) await this.kill()
            throw e
        } finally {
            clearTimeout(timer)
        }
        this.tlsPort = tlsPort
        this.stdoutLines = stdoutLines
        return this
    }

    // SIGKILL: no chance to flush anything.
    async kill() {
        const proc = this.proc
        if (!proc) return
        proc.kill('SIGKILL')
        await this.exited
        this.proc = null
    }

    // SIGTERM, then SIGKILL after `timeout`.
    async stop({ timeout = 5000 } = {}) {
        const proc = this.proc
        if (!proc) return null
        proc.kill('SIGTERM')
        let timer
        const result = await Promise.race([
            this.exited,
            new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeout) }),
        ])
        clearTimeout(timer)
        if (result === null) {
            await this.kill()
            return { code: null, signal: 'SIGKILL', forced: true }
        }
        this.proc = null
        return result
    }

    async restart() {
        await this.stop()
        await this.serve()
    }

    async killAndRestart() {
        await this.kill()
        await this.serve()
    }

    logTail(maxBytes = 20000) {
        try {
            const text = fs.readFileSync(this.logPath, 'utf8')
            return `----- confab log (${this.logPath}) -----\n${text.slice(-maxBytes)}`
        } catch (e) {
            return `(no confab log: ${e.message})`
        }
    }

    async cleanup() {
        await this.stop()
        if (!process.env.KEEP_DATA) fs.rmSync(this.dataDir, { recursive: true, force: true })
    }

    // ---- REST helpers (setup only; the SDK makes its own calls) ----

    restBase(app = this.app) {
        return `${this.httpUrl}/${app.orgName}/${app.appName}`
    }

    async rest(method, pathAndQuery, { body, token, rawBody, headers = {}, app } = {}) {
        const init = { method, headers: { ...headers } }
        if (token) init.headers.Authorization = `Bearer ${token}`
        if (rawBody !== undefined) {
            init.headers['Content-Type'] = init.headers['Content-Type'] || 'application/json'
            init.body = rawBody
        } else if (body !== undefined) {
            init.headers['Content-Type'] = 'application/json'
            init.body = JSON.stringify(body)
        }
        const res = await fetch(`${this.restBase(app)}${pathAndQuery}`, init)
        const text = await res.text()
        let json = null
        try { json = JSON.parse(text) } catch (e) { /* not JSON; callers look at text */ }
        return { status: res.status, headers: res.headers, text, json }
    }

    async appToken(app = this.app) {
        const res = await this.rest('POST', '/token', {
            app,
            body: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret },
        })
        if (res.status !== 200 || !res.json || typeof res.json.access_token !== 'string') {
            throw new Error(`client_credentials grant failed: ${res.status} ${res.text}`)
        }
        return res.json.access_token
    }

    // users: [{username, password, nickname?}]
    async registerUsers(users, app = this.app) {
        const token = await this.appToken(app)
        const res = await this.rest('POST', '/users', { app, token, body: users })
        if (res.status !== 200 || !res.json || !Array.isArray(res.json.entities)) {
            throw new Error(`POST /users failed: ${res.status} ${res.text}`)
        }
        return res.json.entities
    }

    // Easemob password grant; returns the whole JSON body.
    async passwordGrant(username, password, app = this.app) {
        const res = await this.rest('POST', '/token', { app, body: { grant_type: 'password', username, password } })
        if (res.status !== 200 || !res.json || typeof res.json.access_token !== 'string') {
            throw new Error(`password grant for ${username} failed: ${res.status} ${res.text}`)
        }
        return res.json
    }

    userToken(user, expireSeconds = 3600, app = this.app) {
        return ChatTokenBuilder.buildUserToken(app.appId, app.appCertificate, user, expireSeconds)
    }
}

// A token minted by the official library with an explicit issue time (e.g. in the past).
function userTokenIssuedAt(app, user, issueTs, expireSeconds) {
    const token = new AccessToken2(app.appId, app.appCertificate, issueTs, expireSeconds)
    const chat = new ServiceChat(user)
    chat.add_privilege(ServiceChat.kPrivilegeUser, expireSeconds)
    token.add_service(chat)
    return token.build()
}

// {issueTs, expire} of a 007 token, parsed by the official library.
function decodeToken(token) {
    const parsed = new AccessToken2()
    if (!parsed.from_string(token)) throw new Error('token does not parse')
    return { issueTs: Math.floor(parsed.issueTs), expire: parsed.expire, appId: String(parsed.appId) }
}

module.exports = { ConfabServer, createApp, runConfab, makeDataDir, userTokenIssuedAt, decodeToken, CONFAB_BIN, E2E_DIR }
