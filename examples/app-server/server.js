#!/usr/bin/env node
'use strict'
// The "app server" of the Agora Chat quickstarts, for Confab: your users log in here with
// the app's own user table, and get back a Chat user token minted with the app certificate.
// The certificate never leaves this process (and is never logged).
//
//   node server.js add-user NAME PASSWORD    add a user (or set a new password)
//   node server.js remove-user NAME
//   node server.js                            serve POST /login
//
// Configuration comes from the environment; see README.md.

const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const path = require('node:path')
const { ChatTokenBuilder } = require('agora-token')

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 64 }
const MAX_BODY_BYTES = 16 * 1024
// Chat user names as Agora Chat / Easemob accept them.
const CHAT_USERNAME = /^[a-z0-9_.-]{1,64}$/

function config(env = process.env) {
    const expireSeconds = Number(env.TOKEN_EXPIRE_SECONDS || 3600)
    if (!Number.isInteger(expireSeconds) || expireSeconds < 60 || expireSeconds > 86400) {
        throw new Error('TOKEN_EXPIRE_SECONDS must be an integer between 60 and 86400')
    }
    return {
        appId: env.APP_ID || '',
        appCertificate: env.APP_CERTIFICATE || '',
        host: env.HOST || '127.0.0.1',
        port: Number(env.PORT === undefined ? 3000 : env.PORT),
        usersFile: path.resolve(env.USERS_FILE || path.join(__dirname, 'users.json')),
        expireSeconds,
        corsOrigin: env.CORS_ORIGIN === undefined ? '*' : env.CORS_ORIGIN,
        tlsCert: env.TLS_CERT || '',
        tlsKey: env.TLS_KEY || '',
        // Optional: create the Chat user in Confab on first login.
        confabUrl: (env.CONFAB_URL || '').replace(/\/+$/, ''),
        appKey: env.APP_KEY || '',
    }
}

// ------------------------------------------------------------------ the user table

function readUsers(file) {
    try {
        const parsed = JSON.parse(fs.readFileSync(file, 'utf8'))
        if (!parsed || typeof parsed.users !== 'object') throw new Error(`${file}: no "users" object`)
        return parsed
    } catch (e) {
        if (e.code === 'ENOENT') return { version: 1, users: {} }
        throw e
    }
}

function writeUsers(file, table) {
    const tmp = `${file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, `${JSON.stringify(table, null, 2)}\n`, { mode: 0o600 })
    fs.renameSync(tmp, file)
}

function scrypt(password, salt, params) {
    return new Promise((resolve, reject) => {
        crypto.scrypt(password, salt, params.keylen, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 }, (err, key) => {
            if (err) reject(err)
            else resolve(key)
        })
    })
}

async function hashPassword(password) {
    const salt = crypto.randomBytes(16)
    const hash = await scrypt(password, salt, SCRYPT)
    return { salt: salt.toString('base64'), hash: hash.toString('base64'), scrypt: { ...SCRYPT } }
}

// Used for unknown users, so that a wrong name costs as much time as a wrong password.
const DUMMY_RECORD = { salt: crypto.randomBytes(16).toString('base64'), hash: crypto.randomBytes(64).toString('base64'), scrypt: { ...SCRYPT } }

async function verifyPassword(record, password) {
    const expected = Buffer.from(record.hash, 'base64')
    const actual = await scrypt(password, Buffer.from(record.salt, 'base64'), { ...SCRYPT, ...record.scrypt, keylen: expected.length })
    return expected.length === actual.length && crypto.timingSafeEqual(expected, actual)
}

function normalizeName(name) {
    return String(name || '').trim().toLowerCase()
}

async function addUser(file, name, password) {
    const username = normalizeName(name)
    if (!CHAT_USERNAME.test(username)) {
        throw new Error('NAME must be 1-64 characters of a-z, 0-9, "_", "-", "." (it is also the Chat user name)')
    }
    if (typeof password !== 'string' || password.length < 8) throw new Error('PASSWORD must have at least 8 characters')
    const table = readUsers(file)
    const existed = Boolean(table.users[username])
    table.users[username] = { ...(await hashPassword(password)), chatUsername: username, updatedAt: new Date().toISOString() }
    writeUsers(file, table)
    return { username, existed }
}

// ------------------------------------------------------------------ Chat users in Confab

// Creates the Chat user in Confab the first time someone logs in, with an app token minted
// from the same certificate (POST /{org}/{app}/users). Skipped unless CONFAB_URL and
// APP_KEY are set; then create users yourself (see README.md).
function chatUserProvisioner(cfg) {
    if (!cfg.confabUrl || !cfg.appKey) return null
    const [org, app] = cfg.appKey.split('#')
    if (!org || !app) throw new Error('APP_KEY must look like org#app')
    const base = `${cfg.confabUrl}/${encodeURIComponent(org)}/${encodeURIComponent(app)}`
    const known = new Set()
    return async function ensureChatUser(username) {
        if (known.has(username)) return
        const appToken = ChatTokenBuilder.buildAppToken(cfg.appId, cfg.appCertificate, 300)
        const headers = { Authorization: `Bearer ${appToken}`, 'Content-Type': 'application/json' }
        const existing = await fetch(`${base}/users/${encodeURIComponent(username)}`, { headers })
        if (existing.status === 200) {
            known.add(username)
            return
        }
        if (existing.status !== 404) throw new Error(`GET user: HTTP ${existing.status}`)
        // The Chat password is never used (clients log in with tokens); a random one.
        const created = await fetch(`${base}/users`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ username, password: crypto.randomBytes(24).toString('base64url') }),
        })
        const text = await created.text()
        if (created.status !== 200 && !/duplicate_unique_property_exists/.test(text)) {
            throw new Error(`POST users: HTTP ${created.status}`)
        }
        known.add(username)
    }
}

// ------------------------------------------------------------------ HTTP

function send(res, cfg, status, body) {
    const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }
    if (cfg.corsOrigin) {
        headers['Access-Control-Allow-Origin'] = cfg.corsOrigin
        headers['Access-Control-Allow-Methods'] = 'POST, GET, OPTIONS'
        headers['Access-Control-Allow-Headers'] = 'Content-Type'
        headers['Access-Control-Max-Age'] = '600'
        if (cfg.corsOrigin !== '*') headers.Vary = 'Origin'
    }
    if (status === 204) {
        res.writeHead(204, headers)
        res.end()
        return
    }
    res.writeHead(status, headers)
    res.end(JSON.stringify(body))
}

function readJson(req) {
    return new Promise((resolve, reject) => {
        const chunks = []
        let size = 0
        req.on('data', (chunk) => {
            size += chunk.length
            if (size > MAX_BODY_BYTES) {
                reject(Object.assign(new Error('body too large'), { status: 413 }))
                req.destroy()
                return
            }
            chunks.push(chunk)
        })
        req.on('end', () => {
            try {
                resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'))
            } catch (e) {
                reject(Object.assign(new Error('body is not JSON'), { status: 400 }))
            }
        })
        req.on('error', reject)
    })
}

function createHandler(cfg, { log = (line) => process.stdout.write(`${line}\n`) } = {}) {
    const ensureChatUser = chatUserProvisioner(cfg)
    return async function handle(req, res) {
        const url = new URL(req.url, 'http://app-server')
        try {
            if (req.method === 'OPTIONS') return send(res, cfg, 204)
            if (req.method === 'GET' && url.pathname === '/health') return send(res, cfg, 200, { ok: true })
            if (url.pathname !== '/login') return send(res, cfg, 404, { error: 'not_found' })
            if (req.method !== 'POST') return send(res, cfg, 405, { error: 'method_not_allowed' })
            const body = await readJson(req)
            const username = normalizeName(body.username)
            const password = typeof body.password === 'string' ? body.password : ''
            const record = readUsers(cfg.usersFile).users[username]
            const ok = await verifyPassword(record || DUMMY_RECORD, password)
            if (!record || !ok) {
                log(`login refused for ${JSON.stringify(username.slice(0, 64))}`)
                return send(res, cfg, 401, { error: 'invalid_credentials', message: 'wrong user name or password' })
            }
            const chatUsername = record.chatUsername || username
            if (ensureChatUser) {
                try {
                    await ensureChatUser(chatUsername)
                } catch (e) {
                    log(`could not create the Chat user ${chatUsername} in Confab: ${e.message}`)
                    return send(res, cfg, 502, { error: 'chat_user_unavailable', message: 'the chat service is not reachable' })
                }
            }
            const token = ChatTokenBuilder.buildUserToken(cfg.appId, cfg.appCertificate, chatUsername, cfg.expireSeconds)
            log(`login ok for ${chatUsername}`)
            return send(res, cfg, 200, { token, expiresIn: cfg.expireSeconds, chatUsername })
        } catch (e) {
            if (e.status) return send(res, cfg, e.status, { error: 'bad_request', message: e.message })
            log(`error: ${e.message}`)
            return send(res, cfg, 500, { error: 'internal_error' })
        }
    }
}

function serve(cfg) {
    if (!cfg.appId || !cfg.appCertificate) throw new Error('APP_ID and APP_CERTIFICATE must be set (from `confab app create`)')
    if (!/^[0-9a-f]{32}$/i.test(cfg.appCertificate)) throw new Error('APP_CERTIFICATE must be 32 hex characters')
    const handler = createHandler(cfg)
    const secure = Boolean(cfg.tlsCert && cfg.tlsKey)
    const server = secure
        ? https.createServer({ cert: fs.readFileSync(cfg.tlsCert), key: fs.readFileSync(cfg.tlsKey) }, handler)
        : http.createServer(handler)
    server.listen(cfg.port, cfg.host, () => {
        const { address, port } = server.address()
        const host = address.includes(':') ? `[${address}]` : address
        process.stdout.write(`app-server listening on ${secure ? 'https' : 'http'}://${host}:${port}\n`)
    })
    const stop = () => server.close(() => process.exit(0))
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    return server
}

async function main(argv) {
    const cfg = config()
    const [command, ...args] = argv
    if (command === 'add-user') {
        if (args.length !== 2) throw new Error('usage: node server.js add-user NAME PASSWORD')
        const { username, existed } = await addUser(cfg.usersFile, args[0], args[1])
        process.stdout.write(`${existed ? 'updated' : 'added'} ${username} in ${cfg.usersFile}\n`)
        // Create the Chat user now, so others can message them before their first login.
        const ensureChatUser = cfg.appId && cfg.appCertificate ? chatUserProvisioner(cfg) : null
        if (ensureChatUser) {
            try {
                await ensureChatUser(username)
                process.stdout.write(`Chat user ${username} exists in Confab\n`)
            } catch (e) {
                process.stdout.write(`could not create the Chat user ${username} in Confab yet (${e.message}); it is created at the first login\n`)
            }
        }
        return
    }
    if (command === 'remove-user') {
        if (args.length !== 1) throw new Error('usage: node server.js remove-user NAME')
        const table = readUsers(cfg.usersFile)
        delete table.users[normalizeName(args[0])]
        writeUsers(cfg.usersFile, table)
        return
    }
    if (command && command !== 'serve') throw new Error(`unknown command ${command}; use add-user, remove-user or serve`)
    serve(cfg)
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((e) => {
        process.stderr.write(`app-server: ${e.message}\n`)
        process.exit(1)
    })
}

module.exports = { config, createHandler, addUser, readUsers, verifyPassword, hashPassword }
