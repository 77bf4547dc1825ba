// Confab console. One script for every page: it reads the page from the path and renders it
// with DOM calls (never innerHTML with data). App, credential and token operations go to the
// console API (/console/api/…, session cookie + CSRF header); IM-user and group operations go
// to the hosted service's REST paths (/{org}/{app}/users…, /{org}/{app}/chatgroups…) with an
// app token, as any server would.
'use strict'

const state = { csrf: '', username: '', appToken: null }

function h(tag, attrs, ...children) {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value)
    else if (name === 'text') element.textContent = value
    else element.setAttribute(name, value === true ? '' : value)
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    element.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return element
}

const main = () => document.getElementById('main')

function render(...children) {
  const node = main()
  node.replaceChildren(...children)
  node.removeAttribute('aria-busy')
}

function message(text, kind) {
  return h('p', { class: kind === 'error' ? 'error' : '', role: kind === 'error' ? 'alert' : 'status', text })
}

async function consoleApi(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} }
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json'
    init.headers['X-CSRF-Token'] = state.csrf
    init.body = JSON.stringify(body || {})
  }
  const response = await fetch(path, init)
  const json = await response.json().catch(() => ({}))
  if (response.status === 401 && !path.endsWith('/login')) {
    location.assign('/console/login')
    throw new Error('not signed in')
  }
  if (!response.ok) throw new Error(json.message || json.error || `HTTP ${response.status}`)
  return json
}

// The hosted REST API, with an app token from the console API (refreshed when it expires).
async function rest(app, method, path, body) {
  if (!state.appToken || state.appToken.expiresAt < Date.now() + 60000) {
    const token = await consoleApi('POST', `${appApi(app)}/app-token`, {})
    state.appToken = { value: token.access_token, expiresAt: Date.now() + token.expires_in * 1000 }
  }
  const init = { method, headers: { Authorization: `Bearer ${state.appToken.value}` } }
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  const response = await fetch(`/${encodeURIComponent(app.org)}/${encodeURIComponent(app.name)}${path}`, init)
  const json = await response.json().catch(() => ({}))
  if (response.status !== 200) throw new Error(json.error_description || `HTTP ${response.status}`)
  return json
}

const appApi = (app) => `/console/api/apps/${encodeURIComponent(app.org)}/${encodeURIComponent(app.name)}`
const appPage = (app, section) => `/console/apps/${encodeURIComponent(app.org)}/${encodeURIComponent(app.name)}${section ? '/' + section : ''}`
const formValues = (form) => Object.fromEntries(new FormData(form).entries())
const when = (ms) => new Date(ms).toLocaleString()

function copyButton(getText) {
  const button = h('button', {
    type: 'button', class: 'secondary outline', text: 'Copy',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(getText())
        button.textContent = 'Copied'
      } catch (e) {
        button.textContent = 'Select and copy'
      }
    },
  })
  return button
}

function nav(app) {
  const items = [h('li', {}, h('a', { href: '/console/', text: 'Apps' }))]
  if (app) {
    items.push(
      h('li', {}, h('a', { href: appPage(app), text: 'Overview' })),
      h('li', {}, h('a', { href: appPage(app, 'users'), text: 'Users' })),
      h('li', {}, h('a', { href: appPage(app, 'groups'), text: 'Groups' })),
      h('li', {}, h('a', { href: appPage(app, 'tokens'), text: 'Tokens' })),
      h('li', {}, h('a', { href: appPage(app, 'reports'), text: 'Reports' })))
  }
  items.push(h('li', {}, h('button', {
    type: 'button', class: 'secondary outline', id: 'sign-out', text: `Sign out ${state.username}`,
    onclick: async () => { await consoleApi('POST', '/console/api/logout'); location.assign('/console/login') },
  })))
  document.getElementById('nav').replaceChildren(...items)
}

// ---- sign-in and setup ----

function loginPage(setupHint) {
  const status = h('div')
  const form = h('form', {
    id: 'login-form',
    onsubmit: async (event) => {
      event.preventDefault()
      try {
        await consoleApi('POST', '/console/api/login', formValues(form))
        location.assign('/console/')
      } catch (e) {
        status.replaceChildren(message(e.message, 'error'))
      }
    },
  },
  h('label', {}, 'Username', h('input', { name: 'username', autocomplete: 'username', required: true })),
  h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
  h('button', { type: 'submit', text: 'Sign in' }))
  render(h('article', {}, h('h1', { text: 'Sign in' }),
    setupHint ? message('No administrator yet: open the setup link that confab serve printed, or run confab admin create.') : null,
    form, status))
}

function setupPage() {
  const token = new URLSearchParams(location.search).get('token') || ''
  const status = h('div')
  const form = h('form', {
    id: 'setup-form',
    onsubmit: async (event) => {
      event.preventDefault()
      const values = formValues(form)
      if (values.password !== values.repeat) {
        status.replaceChildren(message('The passwords differ.', 'error'))
        return
      }
      try {
        await consoleApi('POST', '/console/api/setup', { token, username: values.username, password: values.password })
        location.assign('/console/')
      } catch (e) {
        status.replaceChildren(message(e.message, 'error'))
      }
    },
  },
  h('label', {}, 'Username', h('input', { name: 'username', value: 'admin', required: true })),
  h('label', {}, 'Password (8 characters or more)', h('input', { name: 'password', type: 'password', minlength: 8, required: true })),
  h('label', {}, 'Repeat password', h('input', { name: 'repeat', type: 'password', minlength: 8, required: true })),
  h('button', { type: 'submit', text: 'Create administrator' }))
  render(h('article', {}, h('h1', { text: 'Set up Confab' }),
    message('Create the first console administrator. This link works once.'), form, status))
}

// ---- apps ----

async function appsPage() {
  nav(null)
  const { apps } = await consoleApi('GET', '/console/api/apps')
  const status = h('div')
  const form = h('form', {
    id: 'create-app-form',
    onsubmit: async (event) => {
      event.preventDefault()
      try {
        const app = await consoleApi('POST', '/console/api/apps', formValues(form))
        location.assign(appPage({ org: app.orgName, name: app.appName }))
      } catch (e) {
        status.replaceChildren(message(e.message, 'error'))
      }
    },
  },
  h('fieldset', { role: 'group' },
    h('input', { name: 'org', placeholder: 'Org name', 'aria-label': 'Org name', required: true }),
    h('input', { name: 'name', placeholder: 'App name', 'aria-label': 'App name', required: true }),
    h('button', { type: 'submit', text: 'Create app' })))
  const rows = apps.map((app) => h('tr', {},
    h('td', {}, h('a', { href: appPage({ org: app.orgName, name: app.appName }), text: app.appKey })),
    h('td', { class: 'token', text: app.appId }),
    h('td', { text: when(app.created) })))
  render(
    h('h1', { text: 'Apps' }),
    apps.length
      ? h('table', { class: 'striped' }, h('thead', {}, h('tr', {}, h('th', { text: 'App Key' }), h('th', { text: 'App ID' }), h('th', { text: 'Created' }))), h('tbody', {}, rows))
      : message('No apps yet. Create one to get an App Key and App ID for the SDK.'),
    h('article', {}, h('h2', { text: 'New app' }), form, status))
}

// ---- one app: overview and credentials ----

async function overviewPage(app) {
  nav(app)
  const [details, overview] = await Promise.all([
    consoleApi('GET', appApi(app)),
    consoleApi('GET', `${appApi(app)}/overview`),
  ])
  const figure = (label, value, id) => h('article', {}, h('span', { class: 'figure', id, text: value }), label)
  const credentials = h('dl', { class: 'credentials', id: 'credentials' },
    h('dt', { text: 'App Key' }), h('dd', { id: 'app-key', text: details.appKey }),
    h('dt', { text: 'App ID' }), h('dd', { id: 'app-id', text: details.appId }),
    h('dt', { text: 'Org name' }), h('dd', { text: details.orgName }),
    h('dt', { text: 'App name' }), h('dd', { text: details.appName }),
    h('dt', { text: 'REST (apiUrl)' }), h('dd', { id: 'rest-url', text: details.restUrl }),
    h('dt', { text: 'WebSocket (url)' }), h('dd', { id: 'websocket-url', text: details.websocketUrl }),
    h('dt', { text: 'Client ID' }), h('dd', { text: details.clientId }),
    details.hasSecondaryCertificate
      ? [h('dt', { text: 'Old certificate' }), h('dd', { text: details.secondaryCertificateUntil ? `accepted until ${when(details.secondaryCertificateUntil)}` : 'accepted' })]
      : null)
  const secrets = h('div', { id: 'secrets' })
  const status = h('div')
  const reveal = h('button', {
    type: 'button', class: 'secondary', id: 'reveal', text: 'Reveal certificate and client secret',
    onclick: async () => {
      const revealed = await consoleApi('POST', `${appApi(app)}/credentials`)
      secrets.replaceChildren(h('dl', { class: 'credentials' },
        h('dt', { text: 'App certificate' }), h('dd', { id: 'app-certificate', text: revealed.appCertificate }),
        revealed.secondaryCertificate ? [h('dt', { text: 'Old certificate' }), h('dd', { text: revealed.secondaryCertificate })] : null,
        h('dt', { text: 'Client secret' }), h('dd', { id: 'client-secret', text: revealed.clientSecret })))
    },
  })
  const grace = h('select', { name: 'grace', 'aria-label': 'Grace period' },
    h('option', { value: 86400, text: 'old certificate works 24 hours more' }),
    h('option', { value: 3600, text: 'old certificate works 1 hour more' }),
    h('option', { value: 604800, text: 'old certificate works 7 days more' }),
    h('option', { value: 0, text: 'old certificate stops now' }))
  const rotate = h('button', {
    type: 'button', class: 'contrast outline', text: 'Rotate certificate',
    onclick: async () => {
      try {
        await consoleApi('POST', `${appApi(app)}/certificate/rotate`, { grace_secs: Number(grace.value) })
        state.appToken = null
        location.reload()
      } catch (e) { status.replaceChildren(message(e.message, 'error')) }
    },
  })
  const rotateSecret = h('button', {
    type: 'button', class: 'contrast outline', text: 'Rotate client secret',
    onclick: async () => {
      try {
        await consoleApi('POST', `${appApi(app)}/client-secret/rotate`)
        secrets.replaceChildren(message('Client secret rotated: reveal it to see the new one.'))
      } catch (e) { status.replaceChildren(message(e.message, 'error')) }
    },
  })
  const settingsStatus = h('div', { id: 'settings-status' })
  const contactsOnly = h('input', {
    type: 'checkbox', role: 'switch', id: 'contacts-only', name: 'contacts-only',
    checked: Boolean(details.settings && details.settings.contactsOnly),
    onchange: async () => {
      try {
        const saved = await consoleApi('POST', `${appApi(app)}/settings`, { contactsOnly: contactsOnly.checked })
        contactsOnly.checked = saved.settings.contactsOnly
        settingsStatus.replaceChildren(message(saved.settings.contactsOnly
          ? 'Saved: users may message their contacts only.'
          : 'Saved: users may message anyone.'))
      } catch (e) {
        contactsOnly.checked = !contactsOnly.checked
        settingsStatus.replaceChildren(message(e.message, 'error'))
      }
    },
  })
  render(
    h('h1', { text: details.appKey }),
    h('section', { class: 'figures' },
      figure('users', overview.users, 'users-count'),
      figure('online now', overview.onlineNow, 'online-count'),
      figure('messages today', overview.messagesToday, 'messages-today')),
    h('article', { class: 'chart' }, h('h2', { text: 'Messages per day' }),
      h('img', { src: `${appApi(app)}/chart.svg?_=${Date.now()}`, alt: 'Messages per day, last 7 days', width: 560, height: 200 })),
    h('article', {}, h('h2', { text: 'Configure the SDK' }), credentials,
      h('pre', { class: 'token', text: `new AgoraChat.connection({ appKey: '${details.appKey}', url: '${details.websocketUrl}', apiUrl: '${details.restUrl}' })` }),
      message('Mini programs: add both addresses to the request and socket domain whitelists.')),
    h('article', {}, h('h2', { text: 'Settings' }),
      h('label', {}, contactsOnly, 'Users may message their contacts only (others get error 221, "not contact")'),
      settingsStatus),
    h('article', {}, h('h2', { text: 'Secrets' }), reveal, secrets,
      h('fieldset', { role: 'group' }, grace, rotate), rotateSecret, status))
}

// ---- one app: IM users ----

async function usersPage(app) {
  nav(app)
  const view = { cursor: '', previous: [], q: '' }
  const list = h('div', { id: 'user-list', 'aria-busy': 'true' })
  const status = h('div')
  const show = (error) => status.replaceChildren(message(error.message, 'error'))

  async function load() {
    list.setAttribute('aria-busy', 'true')
    const query = new URLSearchParams({ limit: '20' })
    if (view.cursor) query.set('cursor', view.cursor)
    if (view.q) query.set('q', view.q)
    const page = await rest(app, 'GET', `/users?${query}`)
    const names = page.entities.map((user) => user.username)
    const presence = {}
    if (names.length) {
      const statuses = await rest(app, 'POST', '/users/batch/status', { usernames: names })
      for (const entry of statuses.data) Object.assign(presence, entry)
    }
    const action = (label, run, cls) => h('button', {
      type: 'button', class: cls || 'secondary outline', text: label,
      onclick: async () => { try { await run(); await load() } catch (e) { show(e) } },
    })
    const rows = page.entities.map((user) => {
      const name = encodeURIComponent(user.username)
      const passwordInput = h('input', { type: 'password', placeholder: 'new password', 'aria-label': `New password for ${user.username}` })
      return h('tr', { 'data-user': user.username },
        h('td', { text: user.username }),
        h('td', { text: user.nickname || '' }),
        h('td', {}, user.activated
          ? h('span', { class: `badge ${presence[user.username] || 'offline'}`, text: presence[user.username] || 'offline' })
          : h('span', { class: 'badge disabled', text: 'disabled' })),
        h('td', { text: when(user.created) }),
        h('td', {}, h('div', { class: 'row-actions' },
          user.activated
            ? action('Disable', () => rest(app, 'POST', `/users/${name}/deactivate`))
            : action('Enable', () => rest(app, 'POST', `/users/${name}/activate`)),
          action('Disconnect', () => rest(app, 'GET', `/users/${name}/disconnect`)),
          h('button', {
            type: 'button', class: 'secondary outline', text: 'Details',
            onclick: () => toggleDetails(app, user.username).catch(show),
          }),
          passwordInput,
          action('Set password', async () => {
            await rest(app, 'PUT', `/users/${name}/password`, { newpassword: passwordInput.value })
            status.replaceChildren(message(`Password of ${user.username} changed; their sessions were closed.`))
          }),
          action('Delete', async () => {
            if (!confirm(`Delete ${user.username} and their waiting messages?`)) return
            await rest(app, 'DELETE', `/users/${name}`)
          }, 'contrast outline'))))
    })
    list.replaceChildren(
      page.entities.length
        ? h('table', { class: 'striped' },
          h('thead', {}, h('tr', {}, ...['Username', 'Nickname', 'Status', 'Created', 'Actions'].map((t) => h('th', { text: t })))),
          h('tbody', {}, rows))
        : message(view.q ? 'No user name starts with that.' : 'No users yet.'),
      h('div', { class: 'row-actions' },
        view.previous.length ? h('button', { type: 'button', class: 'secondary', text: 'Previous page', onclick: () => { view.cursor = view.previous.pop(); load().catch(show) } }) : null,
        page.cursor ? h('button', { type: 'button', class: 'secondary', text: 'Next page', onclick: () => { view.previous.push(view.cursor); view.cursor = page.cursor; load().catch(show) } }) : null))
    list.removeAttribute('aria-busy')
  }

  // A row under the user's: their contacts (with remarks), blocklist, online devices,
  // presence and attributes.
  async function toggleDetails(app, username) {
    const row = list.querySelector(`tr[data-user="${CSS.escape(username)}"]`)
    const open = list.querySelector(`tr[data-details-of="${CSS.escape(username)}"]`)
    if (open) { open.remove(); return }
    const name = encodeURIComponent(username)
    const [contacts, blocked, devices, attributes, presence] = await Promise.all([
      rest(app, 'GET', `/users/${name}/contacts/users?needReturnRemark=true`),
      rest(app, 'GET', `/users/${name}/blocks/users`),
      rest(app, 'GET', `/users/${name}/resources`),
      rest(app, 'POST', '/metadata/user/get', { targets: [username], properties: [] }),
      rest(app, 'POST', `/users/${name}/presence`, { usernames: [username] }),
    ])
    const own = presence.result[0] || { ext: '', status: {} }
    const statusWord = (status) => ({ 1: 'online', 0: 'offline' })[status] || status
    const items = (values, empty) => values.length
      ? h('ul', {}, values.map((text) => h('li', { text })))
      : h('p', { text: empty })
    const details = h('tr', { 'data-details-of': username },
      h('td', { colspan: '5' }, h('div', { class: 'user-details' },
        h('section', { 'data-details': 'contacts' }, h('h3', { text: 'Contacts' }),
          items(contacts.entities.map((c) => c.remark ? `${c.username} (${c.remark})` : c.username), 'No contacts.')),
        h('section', { 'data-details': 'blocked' }, h('h3', { text: 'Blocked users' }),
          items(blocked.data, 'Nobody blocked.')),
        h('section', { 'data-details': 'devices' }, h('h3', { text: 'Online devices' }),
          items(devices.data.map((d) => d.device_name ? `${d.res} (${d.device_name})` : d.res), 'Offline.')),
        h('section', { 'data-details': 'presence' }, h('h3', { text: 'Presence' }),
          own.ext ? h('p', { text: own.ext }) : null,
          items(Object.entries(own.status).map(([device, status]) => `${device}: ${statusWord(status)}`), 'Never online.')),
        h('section', { 'data-details': 'attributes' }, h('h3', { text: 'Attributes' }),
          items(Object.entries(attributes.data[username] || {}).map(([key, value]) => `${key}: ${value}`), 'None.')))))
    row.after(details)
  }

  const search = h('form', {
    role: 'search',
    onsubmit: (event) => {
      event.preventDefault()
      view.q = formValues(search).q.trim()
      view.cursor = ''
      view.previous = []
      load().catch(show)
    },
  }, h('input', { name: 'q', type: 'search', placeholder: 'Username starts with…', 'aria-label': 'Search users' }),
  h('button', { type: 'submit', text: 'Search' }))

  const create = h('form', {
    id: 'create-user-form',
    onsubmit: async (event) => {
      event.preventDefault()
      const values = formValues(create)
      const body = { username: values.username, password: values.password }
      if (values.nickname) body.nickname = values.nickname
      try {
        await rest(app, 'POST', '/users', body)
        status.replaceChildren(message(`User ${values.username.toLowerCase()} created.`))
        create.reset()
        await load()
      } catch (e) { show(e) }
    },
  }, h('fieldset', { role: 'group' },
    h('input', { name: 'username', placeholder: 'Username', 'aria-label': 'Username', required: true }),
    h('input', { name: 'password', type: 'password', placeholder: 'Password', 'aria-label': 'Password', required: true }),
    h('input', { name: 'nickname', placeholder: 'Nickname (optional)', 'aria-label': 'Nickname' }),
    h('button', { type: 'submit', text: 'Create user' })))

  render(h('h1', { text: `IM users of ${app.org}#${app.name}` }),
    h('article', {}, h('h2', { text: 'New user' }), create),
    status, search, list)
  await load()
}

// ---- one app: groups ----

async function groupsPage(app) {
  nav(app)
  const view = { cursor: '', previous: [] }
  const list = h('div', { id: 'group-list', 'aria-busy': 'true' })
  const status = h('div', { id: 'group-status' })
  const show = (error) => status.replaceChildren(message(error.message, 'error'))
  // The admin list names owners as the hosted API does: `{org}#{app}_{user}`.
  const ownerPrefix = `${app.org}#${app.name}_`
  const ownerName = (owner) => owner.startsWith(ownerPrefix) ? owner.slice(ownerPrefix.length) : owner
  const groupPath = (id) => `/chatgroups/${encodeURIComponent(id)}`

  async function load() {
    list.setAttribute('aria-busy', 'true')
    const query = new URLSearchParams({ limit: '50' })
    if (view.cursor) query.set('cursor', view.cursor)
    const page = await rest(app, 'GET', `/chatgroups?${query}`)
    const rows = page.data.map((group) => h('tr', { 'data-group': group.groupid },
      h('td', { class: 'token group-id', text: group.groupid }),
      h('td', { text: group.groupname }),
      h('td', { text: ownerName(group.owner) }),
      h('td', { text: group.affiliations }),
      h('td', {}, h('span', { class: `badge ${group.public ? 'public' : 'private'}`, text: group.public ? 'public' : 'private' })),
      h('td', { text: when(group.created) }),
      h('td', {}, h('div', { class: 'row-actions' },
        h('button', {
          type: 'button', class: 'secondary outline', text: 'Members',
          onclick: () => toggleMembers(group.groupid).catch(show),
        }),
        h('button', {
          type: 'button', class: 'contrast outline', text: 'Disband',
          onclick: async () => {
            const label = group.groupname ? `${group.groupname} (${group.groupid})` : group.groupid
            if (!confirm(`Disband ${label}? Its ${group.affiliations} members are told, and the group and its messages are gone.`)) return
            try {
              await rest(app, 'DELETE', groupPath(group.groupid))
              status.replaceChildren(message(`Group ${label} disbanded.`))
              await load()
            } catch (e) { show(e) }
          },
        })))))
    list.replaceChildren(
      page.data.length
        ? h('table', { class: 'striped' },
          h('thead', {}, h('tr', {}, ...['Group id', 'Name', 'Owner', 'Members', 'Type', 'Created', 'Actions'].map((t) => h('th', { text: t })))),
          h('tbody', {}, rows))
        : message('No groups yet. Users create them with the SDK; servers with POST /{org}/{app}/chatgroups.'),
      h('div', { class: 'row-actions' },
        view.previous.length ? h('button', { type: 'button', class: 'secondary', text: 'Previous page', onclick: () => { view.cursor = view.previous.pop(); load().catch(show) } }) : null,
        page.cursor ? h('button', { type: 'button', class: 'secondary', text: 'Next page', onclick: () => { view.previous.push(view.cursor); view.cursor = page.cursor; load().catch(show) } }) : null))
    list.removeAttribute('aria-busy')
  }

  // A row under the group's: its members (owner, admins, members, 100 at a time) with the
  // time each joined and, for the muted, until when.
  async function toggleMembers(id) {
    const row = list.querySelector(`tr[data-group="${CSS.escape(id)}"]`)
    const open = list.querySelector(`tr[data-members-of="${CSS.escape(id)}"]`)
    if (open) { open.remove(); return }
    if (!row) return
    const muted = await rest(app, 'GET', `${groupPath(id)}/mute`)
    const mutedUntil = Object.fromEntries(muted.data.map((entry) => [entry.user, entry.expire]))
    const body = h('tbody')
    const more = h('div', { class: 'row-actions' })
    async function page(cursor) {
      const query = new URLSearchParams({ limit: '100', joined_time: 'true' })
      if (cursor) query.set('cursor', cursor)
      const members = await rest(app, 'GET', `${groupPath(id)}/users?${query}`)
      for (const entry of members.data) {
        const role = ['owner', 'admin', 'member'].find((r) => r in entry)
        const user = entry[role]
        const until = mutedUntil[user]
        body.append(h('tr', { 'data-member': user },
          h('td', { text: user }),
          h('td', { text: role }),
          h('td', { text: when(entry.joined_time) }),
          h('td', { text: until === undefined ? '' : until === -1 ? 'until unmuted' : when(until) })))
      }
      more.replaceChildren(...(members.cursor
        ? [h('button', { type: 'button', class: 'secondary', text: 'More members', onclick: () => page(members.cursor).catch(show) })]
        : []))
    }
    await page('')
    row.after(h('tr', { 'data-members-of': id },
      h('td', { colspan: '7' }, h('section', { class: 'group-members' },
        h('h3', { text: 'Members' }),
        h('table', {},
          h('thead', {}, h('tr', {}, ...['User', 'Role', 'Joined', 'Muted until'].map((t) => h('th', { text: t })))),
          body),
        more))))
  }

  render(h('h1', { text: `Groups of ${app.org}#${app.name}` }),
    message('Every group of the app, public and private, oldest first.'),
    status, list)
  await load()
}

// ---- one app: tokens ----

async function tokensPage(app) {
  nav(app)
  const lifetimes = () => h('select', { name: 'ttl', 'aria-label': 'Lifetime' },
    h('option', { value: 3600, text: '1 hour' }),
    h('option', { value: 86400, text: '24 hours' }),
    h('option', { value: 604800, text: '7 days' }))
  const showToken = (target, token, label) => {
    const expiresAt = Date.now() + token.expires_in * 1000
    target.replaceChildren(h('article', {},
      h('p', { text: `${label}, expires ${when(expiresAt)}` }),
      h('p', { class: 'token', 'data-token': '', text: token.access_token }),
      copyButton(() => token.access_token)))
  }
  const userResult = h('div', { id: 'user-token' })
  const appResult = h('div', { id: 'app-token' })
  const userForm = h('form', {
    id: 'user-token-form',
    onsubmit: async (event) => {
      event.preventDefault()
      const values = formValues(userForm)
      try {
        const token = await rest(app, 'POST', '/token', { grant_type: 'inherit', username: values.username, ttl: Number(values.ttl) })
        showToken(userResult, token, `User token for ${token.user.username}`)
      } catch (e) { userResult.replaceChildren(message(e.message, 'error')) }
    },
  }, h('fieldset', { role: 'group' },
    h('input', { name: 'username', placeholder: 'Username', 'aria-label': 'Username', required: true }),
    lifetimes(),
    h('button', { type: 'submit', text: 'Generate user token' })))
  const appForm = h('form', {
    id: 'app-token-form',
    onsubmit: async (event) => {
      event.preventDefault()
      try {
        const token = await consoleApi('POST', `${appApi(app)}/app-token`, { ttl_secs: Number(formValues(appForm).ttl) })
        showToken(appResult, token, 'App token')
      } catch (e) { appResult.replaceChildren(message(e.message, 'error')) }
    },
  }, h('fieldset', { role: 'group' }, lifetimes(), h('button', { type: 'submit', text: 'Generate app token' })))
  render(h('h1', { text: `Tokens for ${app.org}#${app.name}` }),
    h('article', {}, h('h2', { text: 'User token' }),
      message('For agoraToken login: conn.open({ user, agoraToken }).'), userForm, userResult),
    h('article', {}, h('h2', { text: 'App token' }),
      message('For the REST admin API: Authorization: Bearer <token>.'), appForm, appResult))
}

// ---- one app: message reports (reportMessage) ----

async function reportsPage(app) {
  nav(app)
  const list = h('div', { id: 'report-list', 'aria-busy': 'true' })
  const pages = []
  async function load(before) {
    list.setAttribute('aria-busy', 'true')
    const query = before ? `?before=${encodeURIComponent(before)}` : ''
    const page = await consoleApi('GET', `${appApi(app)}/reports${query}`)
    list.replaceChildren(
      page.reports.length
        ? h('table', { class: 'striped' },
          h('thead', {}, h('tr', {}, ...['Reported', 'Reporter', 'Message id', 'Type', 'Reason'].map((t) => h('th', { text: t })))),
          h('tbody', {}, page.reports.map((report) => h('tr', { 'data-report': String(report.id) },
            h('td', { text: when(report.created) }),
            h('td', { text: report.reporter }),
            h('td', { text: report.messageId }),
            h('td', { text: report.type }),
            h('td', { text: report.reason })))))
        : message('No reports.'),
      h('div', { class: 'row-actions' },
        pages.length ? h('button', { type: 'button', class: 'secondary', text: 'Newer', onclick: () => { pages.pop(); load(pages.at(-1)).catch(show) } }) : null,
        page.before ? h('button', { type: 'button', class: 'secondary', text: 'Older', onclick: () => { pages.push(page.before); load(page.before).catch(show) } }) : null))
    list.removeAttribute('aria-busy')
  }
  const show = (error) => list.replaceChildren(message(error.message, 'error'))
  render(h('h1', { text: `Message reports of ${app.org}#${app.name}` }),
    message('What users reported with reportMessage, newest first.'), list)
  await load()
}

// ---- routing ----

async function start() {
  const path = location.pathname.replace(/\/+$/, '')
  if (path === '/console/setup') return setupPage()
  const session = await fetch('/console/api/session', { credentials: 'same-origin' })
    .then((response) => response.json().then((json) => ({ ok: response.ok, json })))
  if (path === '/console/login') {
    if (session.ok && session.json.username) return location.assign('/console/')
    return loginPage(Boolean(session.json.setup))
  }
  if (!session.ok || !session.json.username) return location.assign('/console/login')
  state.csrf = session.json.csrf
  state.username = session.json.username
  const match = /^\/console\/apps\/([^/]+)\/([^/]+)(?:\/(users|groups|tokens|reports))?$/.exec(path)
  if (!match) return appsPage()
  const app = { org: decodeURIComponent(match[1]), name: decodeURIComponent(match[2]) }
  if (match[3] === 'users') return usersPage(app)
  if (match[3] === 'groups') return groupsPage(app)
  if (match[3] === 'tokens') return tokensPage(app)
  if (match[3] === 'reports') return reportsPage(app)
  return overviewPage(app)
}

document.addEventListener('DOMContentLoaded', () => {
  start().catch((error) => render(message(error.message, 'error')))
})
