'use strict'
// Scenario 4 for groups: an ack means durable for every member. A 200-member group (the owner
// and 200 members, with an app token: 150 at creation, 50 by invitation; maxusers 300, as the
// owner counts); the owner floods it with 300 pipelined group texts (one of the SDKs, both in
// turn) and the server is killed with SIGKILL from the sender's ack handler mid-flood, then
// restarted on the same data dir. Then every message whose ack the sender got reaches every
// member exactly once and in send order: 195 members drain the group's queue on a raw msync
// device (lib/raw-msync.js: pulls with acknowledging keys until `isLast`) and the other 5 log in
// with the SDK and get them as group texts in the offline sync. Messages stored whose ack the
// crash cut off may arrive too, in order, once, and the same ones for every member; nothing
// else does. The group and its members survive the restart, and it carries messages after it.

const assert = require('node:assert/strict')
const { describe, test } = require('node:test')
const { Client, sleep, withTimeout } = require('../lib/sdk')
const { SDK_NAMES, useServer, scenario, credentials, describeError } = require('../lib/harness')
const { COMMAND, RawSocket, encodeFrame, encodeProvisionFrame, CommSyncUL, MessageBody } = require('../lib/raw-msync')

const ctx = useServer({ label: 'crash-groups' })

const N_MEMBERS = 200
const MAX_USERS = 300 // the owner counts: 201 users need maxusers above the default 200
const N_MESSAGES = 300
const KILL_AFTER_ACKS = 60 // the kill is sent from the ack handler once this many acks are in
const INVITED = 50 // of the members, added by POST /chatgroups/{g}/invite after the creation
const SAMPLED = 5
const REGISTER_BATCH = 50 // POST /users takes at most 60 users
const RAW_CONCURRENCY = 20
const CONFERENCE_DOMAIN = 'conference.easemob.com'
const NS_CHAT = 1
const GROUPCHAT = 2 // MessageBody.Type

let runCounter = 0

// Registers the owner and N_MEMBERS members (batches of REGISTER_BATCH).
async function registerUsers(server) {
    runCounter += 1
    const suffix = `${process.pid % 10000}x${runCounter}`
    const user = (name) => ({ username: `${name}_${suffix}`, password: `${name}-secret-${suffix}` })
    const owner = user('leo')
    const members = Array.from({ length: N_MEMBERS }, (_, i) => user(`m${String(i).padStart(3, '0')}`))
    const all = [owner, ...members]
    for (let i = 0; i < all.length; i += REGISTER_BATCH) await server.registerUsers(all.slice(i, i + REGISTER_BATCH))
    return { owner, members }
}

// The text of message `index` of the flood.
function floodText(index) {
    return `flood #${String(index).padStart(3, '0')}`
}

function indexOf(text) {
    const match = /^flood #(\d{3})$/.exec(text)
    return match ? Number(match[1]) : null
}

// Checks one member's received group texts ([{id, msg, from, to}] in arrival order) against
// the acks: every acked message once, in send order; any other message one of the flood's
// (stored, ack lost), once, in order; nothing else.
function assertDelivery(who, received, acked, { owner, groupId }) {
    const indexes = received.map((m) => indexOf(m.msg))
    assert.ok(indexes.every((i) => i !== null && i < N_MESSAGES), `${who}: only the flood's texts: ${JSON.stringify(received.filter((m) => indexOf(m.msg) === null).slice(0, 3))}`)
    for (let k = 1; k < indexes.length; k++) {
        assert.ok(indexes[k] > indexes[k - 1], `${who}: in send order and once each; #${indexes[k]} came after #${indexes[k - 1]} (position ${k})`)
    }
    assert.equal(new Set(received.map((m) => m.id)).size, received.length, `${who}: every message id once`)
    const byIndex = new Map(received.map((m) => [indexOf(m.msg), m]))
    const missing = [...acked.keys()].filter((i) => !byIndex.has(i))
    assert.deepEqual(missing, [], `${who}: every acknowledged message arrives (${missing.length} of ${acked.size} missing)`)
    for (const [index, serverMsgId] of acked) {
        const m = byIndex.get(index)
        assert.deepEqual({ id: m.id, from: m.from, to: m.to }, { id: serverMsgId, from: owner, to: groupId }, `${who}: #${index} is the acknowledged message`)
    }
}

// A raw msync device of `user` (a resource of its own): logs in, then pulls the group's queue
// with acknowledging keys until `isLast`. Returns the group texts in the order pulled.
async function rawDrain(server, user, groupId) {
    const appKey = server.app.appKey
    const sock = new RawSocket(server.wsUrl)
    try {
        await sock.opened
        let since = sock.messages.length
        await sock.send(encodeProvisionFrame({ appKey, user, token: server.userToken(user, 3600), resource: `rawcrash_${user}` }))
        const login = await sock.nextFrame(COMMAND.PROVISION, since, 10000)
        const loginStatus = login.decoded && login.decoded.status
        assert.equal((loginStatus && loginStatus.errorCode) || 0, 0, `${user}: raw login: ${JSON.stringify(login.decoded)}`)
        const texts = []
        let key
        for (let page = 0; ; page++) {
            assert.ok(page <= N_MESSAGES, `${user}: the pull of ${groupId} ends`)
            since = sock.messages.length
            const ul = CommSyncUL.encode(CommSyncUL.fromObject({ queue: { appKey, name: groupId, domain: CONFERENCE_DOMAIN }, ...(key ? { key } : {}) })).finish()
            await sock.send(encodeFrame({ version: 0, command: COMMAND.SYNC, encryptType: [0], payload: ul }))
            const frame = await sock.nextFrame(COMMAND.SYNC, since, 15000)
            const dl = frame.decoded
            assert.ok(dl, `${user}: a pull answer that decodes (${frame.decodeError})`)
            assert.equal((dl.status && dl.status.errorCode) || 0, 0, `${user}: pull of ${groupId} (key ${key}): ${JSON.stringify(dl.status)}`)
            assert.equal(dl.queue && dl.queue.name, groupId, `${user}: the answer names the queue pulled`)
            for (const meta of dl.metas || []) {
                if (meta.ns !== NS_CHAT) continue // the MUC events of the group (directJoined …)
                const body = MessageBody.toObject(MessageBody.decode(meta.payload), { longs: String, enums: Number })
                assert.equal(body.type, GROUPCHAT, `${user}: a group message`)
                texts.push({ id: String(meta.id), msg: body.contents[0].text, from: body.from.name, to: body.to.name })
            }
            if (dl.isLast) break
            assert.ok(dl.metas && dl.metas.length > 0 && dl.nextKey, `${user}: a page that is not the last holds metas and a nextKey: ${JSON.stringify({ ...dl, metas: undefined })}`)
            key = dl.nextKey
        }
        return texts
    } finally {
        await sock.close()
    }
}

// Runs `fn` over `items`, `limit` at a time; resolves with the results in item order.
async function inBatches(items, limit, fn) {
    const results = []
    for (let i = 0; i < items.length; i += limit) results.push(...await Promise.all(items.slice(i, i + limit).map(fn)))
    return results
}

for (const sdkName of SDK_NAMES) {
    describe(sdkName, () => {
        test(`a ${N_MEMBERS}-member group: ${N_MESSAGES} pipelined group texts, kill -9 mid-flood, restart; every acknowledged one reaches every member once, in order`, { timeout: 120000 }, scenario(ctx, async (t) => {
            const { server } = ctx
            const t0 = Date.now()
            const { owner, members } = await registerUsers(server)

            // The group, by the app (REST admin API, app token): the owner and the first members
            // at creation, the rest invited (at most 60 users a call; added at once, as the group
            // needs no confirmation).
            const appToken = await server.appToken()
            const atCreation = members.slice(0, N_MEMBERS - INVITED)
            const created = await server.rest('POST', '/chatgroups', {
                token: appToken,
                body: {
                    owner: owner.username, groupname: 'crash room', desc: 'kill -9 mid-flood', public: false,
                    members: atCreation.map((m) => m.username), maxusers: MAX_USERS,
                },
            })
            assert.equal(created.status, 200, `POST /chatgroups with ${atCreation.length} members: ${created.text}`)
            const groupId = created.json.data.groupid
            assert.equal(typeof groupId, 'string')
            const invitees = members.slice(atCreation.length).map((m) => m.username)
            const invited = await server.rest('POST', `/chatgroups/${groupId}/invite`, { token: appToken, body: { usernames: invitees } })
            assert.equal(invited.status, 200, `POST /chatgroups/${groupId}/invite of ${invitees.length} users: ${invited.text}`)
            assert.deepEqual(invited.json.data.map((row) => [row.user, row.result]), invitees.map((u) => [u, true]))
            const info = await server.rest('GET', `/chatgroups/${groupId}`, { token: appToken })
            assert.equal(info.status, 200, info.text)
            assert.deepEqual({ count: info.json.data[0].affiliations_count, maxusers: info.json.data[0].maxusers }, { count: N_MEMBERS + 1, maxusers: MAX_USERS })
            const setupMs = Date.now() - t0

            // The flood: every send written at once; acks recorded as they come. The kill is sent
            // from the ack handler itself, so the rest of the flood is still on its way.
            const sender = await Client.create({ sdkName, server, user: owner.username })
            await sender.login(await credentials(server, 'agoraToken', owner))
            const acked = new Map() // index -> serverMsgId
            let ackedAtKill = null
            let killed
            const killedNow = new Promise((resolve) => { killed = resolve })
            const failures = []
            for (let index = 0; index < N_MESSAGES; index++) {
                const message = sender.sdk.message.create({ chatType: 'groupChat', type: 'txt', to: groupId, msg: floodText(index) })
                Promise.resolve(sender.conn.send(message)).then((res) => {
                    acked.set(index, String(res.serverMsgId))
                    if (ackedAtKill === null && acked.size >= KILL_AFTER_ACKS) {
                        ackedAtKill = acked.size
                        server.proc.kill('SIGKILL')
                        killed()
                    }
                }, (error) => failures.push({ index, error }))
            }
            await withTimeout(killedNow, 30000, `${KILL_AFTER_ACKS} acks of the flood`).catch((e) => {
                throw new Error(`${e.message} (have ${acked.size}; refused: ${failures.slice(0, 3).map((f) => describeError(f.error)).join('; ')})`)
            })
            await server.exited
            // Acks already on the wire may still come in: each one was sent after its commit.
            await sleep(300)
            await sender.close() // stops the SDK's reconnect attempts to the dead port
            const ackedFinal = new Map([...acked].sort((a, b) => a[0] - b[0]))
            assert.ok(ackedAtKill < N_MESSAGES, `killed mid-flood (${ackedAtKill} of ${N_MESSAGES} acknowledged at the kill)`)
            await server.serve()

            // The group and its members survived.
            const after = await server.rest('GET', `/chatgroups/${groupId}`, { token: await server.appToken() })
            assert.equal(after.status, 200, after.text)
            assert.equal(after.json.data[0].affiliations_count, N_MEMBERS + 1)

            // A sample of members will log in with the SDK; every other member drains the group's
            // queue on a raw device, its first one (a user's first device gets everything waiting).
            const step = Math.floor(N_MEMBERS / SAMPLED)
            const sample = Array.from({ length: SAMPLED }, (_, i) => members[i * step + (i === SAMPLED - 1 ? step - 1 : 0)])
            const others = members.filter((m) => !sample.includes(m))
            const drained = await inBatches(others, RAW_CONCURRENCY, (m) => rawDrain(server, m.username, groupId))
            others.forEach((m, i) => assertDelivery(`${m.username} (raw)`, drained[i], ackedFinal, { owner: owner.username, groupId }))
            // The group's log holds each message once for all: every member gets the same ones,
            // those stored whose ack the crash cut off included.
            const stored = drained[0].map((m) => m.id)
            for (const [i, list] of drained.entries()) assert.deepEqual(list.map((m) => m.id), stored, `${others[i].username}: the same messages as the other members`)

            // The sample logs in with the SDK: the offline sync brings the same texts, once each.
            const sampleClients = []
            for (const m of sample) {
                const client = await Client.create({ sdkName, server, user: m.username })
                await client.login(await credentials(server, 'agoraToken', m))
                sampleClients.push(client)
            }
            await Promise.all(sampleClients.map((c) => c.waitForCount('onTextMessage', stored.length, { timeout: 30000 })))
            await sleep(1000) // a duplicate would show up here
            for (const client of sampleClients) {
                const received = client.all('onTextMessage').map((m) => {
                    assert.equal(m.chatType, 'groupChat')
                    return { id: m.id, msg: m.msg, from: m.from, to: m.to }
                })
                assertDelivery(`${client.user} (SDK)`, received, ackedFinal, { owner: owner.username, groupId })
                assert.deepEqual(received.map((m) => m.id), stored, `${client.user} (SDK): the same messages as the other members`)
            }
            await Promise.all(sampleClients.map((c) => c.close()))

            // The group still carries messages after the restart.
            const leo = await Client.create({ sdkName, server, user: owner.username })
            await leo.login(await credentials(server, 'agoraToken', owner))
            const reader = await Client.create({ sdkName, server, user: sample[0].username })
            await reader.login(await credentials(server, 'agoraToken', sample[0]))
            const later = await leo.conn.send(leo.sdk.message.create({ chatType: 'groupChat', type: 'txt', to: groupId, msg: 'after the restart' }))
            const got = await reader.waitFor('onTextMessage', { predicate: (m) => m.id === String(later.serverMsgId), timeout: 15000 })
            assert.deepEqual({ msg: got.msg, from: got.from, to: got.to }, { msg: 'after the restart', from: owner.username, to: groupId })
            await leo.close()
            await reader.close()
            t.diagnostic(`setup ${setupMs} ms; ${ackedAtKill} acks at the kill, ${ackedFinal.size} in all, ${stored.length} stored; ${Date.now() - t0} ms`)
        }))
    })
}
