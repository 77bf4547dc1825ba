'use strict'
// The console in headless Chromium (Debian's `chromium`, driven by playwright-core): first
// start → setup link → sign out and in → create an app → create users Leo and Roy → generate
// a user token for Leo; then the official SDK logs Leo in with that token and sends Roy a
// message that Roy receives. Then the Groups page: groups made over REST with the console's
// app token are listed (paged, with their member counts), a group's members open with their
// roles, joined and muted times, and a disband asks first, then removes the group while its
// members' SDKs hear `destroy`; stale and bad requests are refused. Screenshots of each page
// go to tests/e2e/artifacts/.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test } = require('node:test')
const { chromium } = require('playwright-core')
const { Client, settle } = require('../lib/sdk')
const { useServer, scenario } = require('../lib/harness')
const { E2E_DIR } = require('../lib/server')

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARTIFACTS = path.join(E2E_DIR, 'artifacts')
const ADMIN = { username: 'admin', password: 'console-e2e-password' }

const ctx = useServer({ label: 'console', apps: [] })

// The one-time setup link `confab serve` logs on stderr when no admin exists.
function setupLink(server) {
    const log = fs.readFileSync(server.logPath, 'utf8')
    const match = /(http:\/\/\S+\/console\/setup\?token=[0-9a-f]+)/.exec(log)
    assert.ok(match, `no setup link in the server log:\n${log.slice(-4000)}`)
    return match[1]
}

async function shot(page, name) {
    await page.screenshot({ path: path.join(ARTIFACTS, `console-${name}.png`), fullPage: true })
}

// Headless Chromium with a fresh profile, closed (and its profile removed) when `body` ends.
// `body` gets the page and the script errors it saw.
async function withBrowser(body) {
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-chromium-'))
    const browser = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1200, height: 900 },
    })
    const pageErrors = []
    try {
        const page = browser.pages()[0] || await browser.newPage()
        page.on('pageerror', (error) => pageErrors.push(error.message))
        page.setDefaultTimeout(15000)
        await body(page, pageErrors)
    } finally {
        await browser.close()
        fs.rmSync(userDataDir, { recursive: true, force: true })
    }
}

test('console: set up, sign in, create an app, users and a token; the SDK uses it', { timeout: 120000 }, scenario(ctx, async () => {
    const { server } = ctx
    await withBrowser(async (page, pageErrors) => {
        // First start: the setup link creates the admin and signs in.
        await page.goto(setupLink(server))
        await page.locator('#setup-form').waitFor()
        await shot(page, '1-setup')
        await page.fill('#setup-form input[name=username]', ADMIN.username)
        await page.fill('#setup-form input[name=password]', ADMIN.password)
        await page.fill('#setup-form input[name=repeat]', ADMIN.password)
        await page.click('#setup-form button[type=submit]')
        await page.locator('#create-app-form').waitFor()

        // Sign out, then sign in with the password.
        await page.click('#sign-out')
        await page.locator('#login-form').waitFor()
        await page.fill('#login-form input[name=username]', ADMIN.username)
        await page.fill('#login-form input[name=password]', 'wrong password')
        await page.click('#login-form button[type=submit]')
        await page.getByRole('alert').waitFor()
        await page.fill('#login-form input[name=password]', ADMIN.password)
        await shot(page, '2-sign-in')
        await page.click('#login-form button[type=submit]')

        // Apps: create one; the page moves to its overview.
        await page.locator('#create-app-form').waitFor()
        await page.fill('#create-app-form input[name=org]', 'consoleorg')
        await page.fill('#create-app-form input[name=name]', 'consoleapp')
        await shot(page, '3-apps')
        await page.click('#create-app-form button[type=submit]')
        await page.locator('#app-key').waitFor()
        assert.equal(await page.textContent('#app-key'), 'consoleorg#consoleapp')
        const appId = (await page.textContent('#app-id')).trim()
        assert.match(appId, /^[0-9a-f]{32}$/)
        assert.equal((await page.textContent('#websocket-url')).trim(), server.wsUrl)
        assert.equal((await page.textContent('#rest-url')).trim(), server.httpUrl)
        assert.equal(await page.locator('#app-certificate').count(), 0, 'the certificate is hidden until revealed')

        // Users: Leo and Roy.
        await page.click('nav >> text=Users')
        await page.locator('#create-user-form').waitFor()
        for (const name of ['Leo', 'Roy']) {
            await page.fill('#create-user-form input[name=username]', name)
            await page.fill('#create-user-form input[name=password]', `${name}-password`)
            await page.click('#create-user-form button[type=submit]')
            await page.locator(`tr[data-user="${name.toLowerCase()}"]`).waitFor()
        }
        await shot(page, '4-users')

        // Tokens: a user token for Leo.
        await page.click('nav >> text=Tokens')
        await page.locator('#user-token-form').waitFor()
        await page.fill('#user-token-form input[name=username]', 'leo')
        await page.click('#user-token-form button[type=submit]')
        const tokenText = page.locator('#user-token [data-token]')
        await tokenText.waitFor()
        const leoToken = (await tokenText.textContent()).trim()
        assert.match(leoToken, /^007/)
        await shot(page, '5-tokens')

        // The official SDK: Leo logs in with the console's token and messages Roy.
        const app = { appKey: 'consoleorg#consoleapp', appId, orgName: 'consoleorg', appName: 'consoleapp' }
        const leo = await Client.create({ sdkName: 'agora-chat', server, user: 'leo', app })
        await leo.login({ agoraToken: leoToken })
        const roy = await Client.create({ sdkName: 'agora-chat', server, user: 'roy', app })
        await roy.login({ pwd: 'Roy-password' })
        const sent = await leo.sendText('roy', 'Hello from the console quickstart')
        const got = await roy.waitFor('onTextMessage', { timeout: 10000 })
        assert.equal(got.msg, 'Hello from the console quickstart')
        assert.equal(got.id, String(sent.serverMsgId))

        // The overview now counts them: 2 users, 2 online, 1 message today.
        await page.click('nav >> text=Overview')
        await page.locator('#users-count').waitFor()
        assert.equal(await page.textContent('#users-count'), '2')
        assert.equal(await page.textContent('#online-count'), '2')
        assert.equal(await page.textContent('#messages-today'), '1')
        await page.click('#reveal')
        await page.locator('#app-certificate').waitFor()
        assert.match(await page.textContent('#app-certificate'), /^[0-9a-f]{32}$/)
        await shot(page, '6-overview')

        // Leo and Roy become contacts and Leo sets a nickname; Leo's details show both.
        await leo.conn.addContact('roy', 'from the console test')
        await roy.waitFor('onContactInvited', { timeout: 10000 })
        await roy.conn.acceptContactInvite('leo')
        await leo.waitFor('onContactAgreed', { timeout: 10000 })
        await leo.conn.updateOwnUserInfo({ nickname: 'Leo <b>bold</b>' })
        await leo.conn.publishPresence({ description: 'at the <desk>' })
        await page.click('nav >> text=Users')
        await page.locator('tr[data-user="leo"]').waitFor()
        await page.click('tr[data-user="leo"] >> text=Details')
        const details = page.locator('tr[data-details-of="leo"]')
        await details.waitFor()
        assert.deepEqual(await details.locator('[data-details=contacts] li').allTextContents(), ['roy'])
        assert.equal(await details.locator('[data-details=blocked]').textContent(), 'Blocked usersNobody blocked.')
        assert.equal(await details.locator('[data-details=devices] li').count(), 1)
        assert.equal(await details.locator('[data-details=presence] p').textContent(), 'at the <desk>')
        assert.deepEqual(await details.locator('[data-details=presence] li').allTextContents(), [`${leo.conn.clientResource}: online`])
        // Shown as text, never as markup.
        assert.deepEqual(await details.locator('[data-details=attributes] li').allTextContents(), ['nickname: Leo <b>bold</b>'])
        await shot(page, '7-user-details')

        // Roy reports Leo's message; the reports page lists it, as text.
        await roy.conn.reportMessage({ reportType: 'spam', reportReason: '<i>too</i> cheerful', messageId: String(sent.serverMsgId) })
        await page.click('nav >> text=Reports')
        const report = page.locator('#report-list tbody tr')
        await report.waitFor()
        const cells = await report.locator('td').allTextContents()
        assert.deepEqual(cells.slice(1), ['roy', String(sent.serverMsgId), 'spam', '<i>too</i> cheerful'])
        await shot(page, '8-reports')

        // Contacts only, switched on the overview: contacts still write to each other; once
        // Roy ends the contact, Leo's send fails with 221; switched off, anyone writes again.
        await page.click('nav >> text=Overview')
        await page.locator('#contacts-only').waitFor()
        await page.check('#contacts-only')
        await page.locator('#settings-status', { hasText: 'contacts only' }).waitFor()
        const between = await leo.sendText('roy', 'contacts may write')
        await roy.waitFor('onTextMessage', { predicate: (m) => m.id === String(between.serverMsgId), timeout: 10000 })
        await roy.conn.deleteContact('leo')
        await leo.waitFor('onContactDeleted', { timeout: 10000 })
        const refused = await settle(leo.sendText('roy', 'still there?'), 10000, 'a send to a former contact')
        assert.equal(refused.ok, false, 'a send to a non-contact fails')
        assert.equal(refused.error.type, 221, JSON.stringify(refused.error))
        // The other SDK reads the same answer the same way.
        const leoEasemob = await Client.create({ sdkName: 'easemob-websdk', server, user: 'leo', app })
        await leoEasemob.login({ agoraToken: leoToken })
        const refusedToo = await settle(leoEasemob.sendText('roy', 'and from easemob?'), 10000, 'an easemob send to a former contact')
        assert.equal(refusedToo.ok, false, 'a send to a non-contact fails')
        assert.equal(refusedToo.error.type, 221, JSON.stringify(refusedToo.error))
        await leoEasemob.close()
        await shot(page, '9-settings')
        await page.reload()
        await page.locator('#contacts-only').waitFor()
        assert.equal(await page.isChecked('#contacts-only'), true, 'the setting is stored')
        await page.uncheck('#contacts-only')
        await page.locator('#settings-status', { hasText: 'anyone' }).waitFor()
        const again = await leo.sendText('roy', 'anyone may write again')
        await roy.waitFor('onTextMessage', { predicate: (m) => m.id === String(again.serverMsgId), timeout: 10000 })

        await leo.close()
        await roy.close()
        assert.deepEqual(pageErrors, [], 'no script errors on any page')
    })
}))

// Signs the page in as ADMIN, creating the admin with the setup link if no test did yet; ends
// on the apps page.
async function signIn(page, server) {
    const probe = await fetch(`${server.httpUrl}/console/api/session`).then((response) => response.json())
    if (probe.setup) {
        await page.goto(setupLink(server))
        await page.locator('#setup-form').waitFor()
        await page.fill('#setup-form input[name=username]', ADMIN.username)
        await page.fill('#setup-form input[name=password]', ADMIN.password)
        await page.fill('#setup-form input[name=repeat]', ADMIN.password)
        await page.click('#setup-form button[type=submit]')
    } else {
        await page.goto(`${server.httpUrl}/console/login`)
        await page.locator('#login-form').waitFor()
        await page.fill('#login-form input[name=username]', ADMIN.username)
        await page.fill('#login-form input[name=password]', ADMIN.password)
        await page.click('#login-form button[type=submit]')
    }
    await page.locator('#create-app-form').waitFor()
}

// The rows of the Groups page as [id, name, owner, members, type].
async function groupRows(page) {
    const rows = await page.locator('#group-list tbody tr[data-group]').all()
    return Promise.all(rows.map(async (row) => (await row.locator('td').allTextContents()).slice(0, 5)))
}

test('console: the Groups page lists groups, shows members and disbands a group', { timeout: 120000 }, scenario(ctx, async () => {
    const { server } = ctx
    await withBrowser(async (page, pageErrors) => {
        await signIn(page, server)
        await page.fill('#create-app-form input[name=org]', 'grouporg')
        await page.fill('#create-app-form input[name=name]', 'groupapp')
        await page.click('#create-app-form button[type=submit]')
        await page.locator('#app-id').waitFor()
        const app = { appKey: 'grouporg#groupapp', appId: (await page.textContent('#app-id')).trim(), orgName: 'grouporg', appName: 'groupapp' }

        // An app token from the Tokens page, for the REST admin API (as a server would use it).
        await page.click('nav >> text=Tokens')
        await page.click('#app-token-form button[type=submit]')
        const tokenText = page.locator('#app-token [data-token]')
        await tokenText.waitFor()
        const token = (await tokenText.textContent()).trim()
        const rest = (method, pathAndQuery, body) => server.rest(method, pathAndQuery, { app, token, body })

        // Gwen's book club with Hugo (made admin) and Ivy (muted until unmuted), then a quiet
        // private group and 50 more: 52 groups, two pages of 50.
        const users = ['gwen', 'hugo', 'ivy'].map((username) => ({ username, password: `${username}-password` }))
        assert.equal((await rest('POST', '/users', users)).status, 200)
        const createGroup = async (body) => {
            const created = await rest('POST', '/chatgroups', { owner: 'gwen', maxusers: 200, ...body })
            assert.equal(created.status, 200, created.text)
            return created.json.data.groupid
        }
        const club = await createGroup({ groupname: 'Book <i>club</i>', desc: '', public: true, members: ['hugo', 'ivy'] })
        const quiet = await createGroup({ groupname: 'Quiet', desc: '', public: false, members: ['hugo'] })
        for (let n = 1; n <= 50; n++) await createGroup({ groupname: `Bulk ${n}`, desc: '', public: false, members: [] })
        assert.equal((await rest('POST', `/chatgroups/${club}/admin`, { newadmin: 'hugo' })).status, 200)
        assert.equal((await rest('POST', `/chatgroups/${club}/mute`, { usernames: ['ivy'], mute_duration: -1 })).status, 200)

        // Hugo and Ivy are online and record their group events.
        const members = {}
        for (const name of ['hugo', 'ivy']) {
            const client = await Client.create({ sdkName: 'agora-chat', server, user: name, app })
            client.conn.addEventHandler('console-groups', { onGroupEvent: (event) => client._record('onGroupEvent', event) })
            await client.login({ pwd: `${name}-password` })
            members[name] = client
        }

        // The list: oldest first, 50 a page, member counts and types; names are text, not markup.
        await page.click('nav >> text=Groups')
        await page.locator(`#group-list tr[data-group="${club}"]`).waitFor()
        let rows = await groupRows(page)
        assert.equal(rows.length, 50)
        assert.deepEqual(rows[0], [club, 'Book <i>club</i>', 'gwen', '3', 'public'])
        assert.deepEqual(rows[1], [quiet, 'Quiet', 'gwen', '2', 'private'])
        assert.equal(await page.locator('#group-list i').count(), 0, 'a group name is never markup')
        await shot(page, '10-groups')
        await page.click('#group-list >> text=Next page')
        await page.locator('#group-list tbody tr[data-group]', { hasText: 'Bulk 50' }).waitFor()
        rows = await groupRows(page)
        assert.deepEqual(rows.map((row) => row[1]), ['Bulk 49', 'Bulk 50'])
        await page.click('#group-list >> text=Previous page')
        await page.locator(`#group-list tr[data-group="${club}"]`).waitFor()

        // The club's members: owner, admin, member, each with the time they joined; Ivy muted.
        await page.click(`tr[data-group="${club}"] >> text=Members`)
        const memberRows = page.locator(`tr[data-members-of="${club}"] tbody tr`)
        await memberRows.first().waitFor()
        const memberCells = await Promise.all((await memberRows.all()).map((row) => row.locator('td').allTextContents()))
        assert.deepEqual(memberCells.map(([user, role]) => [user, role]), [['gwen', 'owner'], ['hugo', 'admin'], ['ivy', 'member']])
        for (const [user, , joined] of memberCells) assert.ok(joined.length > 0, `${user} has a joined time`)
        assert.deepEqual(memberCells.map((cells) => cells[3]), ['', '', 'until unmuted'])
        assert.equal(await page.textContent(`tr[data-members-of="${club}"] .row-actions`), '', 'no more members to page to')
        await shot(page, '11-group-members')

        // A group gone behind the page's back: its members and its disband show the not-found
        // error, and the list is left as it was.
        assert.equal((await rest('DELETE', `/chatgroups/${quiet}`)).status, 200)
        await page.click(`tr[data-group="${quiet}"] >> text=Members`)
        await page.locator('#group-status [role=alert]', { hasText: 'do not find this group' }).waitFor()
        page.once('dialog', (dialog) => dialog.accept())
        await page.click(`tr[data-group="${quiet}"] >> text=Disband`)
        await page.locator('#group-status [role=alert]', { hasText: 'do not find this group' }).waitFor()
        assert.equal(await page.locator(`tr[data-members-of="${quiet}"]`).count(), 0)

        // Disband asks first: declined, nothing happens; accepted, the group is gone and its
        // members hear `destroy`.
        let asked = ''
        page.once('dialog', (dialog) => { asked = dialog.message(); dialog.dismiss() })
        await page.click(`tr[data-group="${club}"] >> text=Disband`)
        assert.match(asked, /^Disband Book <i>club<\/i> \(\d+\)\? Its 3 members are told/)
        assert.equal((await rest('GET', `/chatgroups/${club}`)).status, 200, 'a declined disband keeps the group')
        page.once('dialog', (dialog) => dialog.accept())
        await page.click(`tr[data-group="${club}"] >> text=Disband`)
        await page.locator('#group-status [role=status]', { hasText: 'disbanded' }).waitFor()
        await page.locator(`tr[data-group="${club}"]`).waitFor({ state: 'detached' })
        for (const client of Object.values(members)) {
            const event = await client.waitFor('onGroupEvent', { predicate: (e) => e.operation === 'destroy' && e.id === club, timeout: 10000 })
            assert.deepEqual({ operation: event.operation, id: event.id, from: event.from }, { operation: 'destroy', id: club, from: 'gwen' })
        }
        rows = await groupRows(page)
        assert.equal(rows.length, 50)
        assert.equal(rows[0][1], 'Bulk 1')
        await shot(page, '12-group-disbanded')

        // Bad input, each refused: an unknown group (members, mute list, disband), a cursor
        // this server never gave, no token; and the app token needs the console's CSRF token.
        for (const [method, pathAndQuery] of [['GET', `/chatgroups/${club}/users?limit=100`], ['GET', `/chatgroups/${club}/mute`], ['DELETE', `/chatgroups/${club}`], ['DELETE', '/chatgroups/no-such-group']]) {
            const refused = await rest(method, pathAndQuery)
            assert.deepEqual([refused.status, refused.json.error_description], [404, 'do not find this group'], `${method} ${pathAndQuery}`)
        }
        for (const query of ['?cursor=not-a-cursor', '?limit=0']) {
            const refused = await rest('GET', `/chatgroups${query}`)
            assert.deepEqual([refused.status, refused.json.error], [400, 'illegal_argument'], query)
        }
        assert.equal((await server.rest('GET', '/chatgroups', { app })).status, 401)
        const noCsrf = await page.evaluate(async (api) => {
            const response = await fetch(api, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{}' })
            return { status: response.status, body: await response.json() }
        }, '/console/api/apps/grouporg/groupapp/app-token')
        assert.deepEqual([noCsrf.status, noCsrf.body.error], [403, 'bad_csrf'])

        for (const client of Object.values(members)) await client.close()
        assert.deepEqual(pageErrors, [], 'no script errors on any page')
    })
}))
