// pages/index/index.js — log in, send a text message to a peer, log out.
const config = require('../../config.js')

const { ChatSDK, conn } = getApp().globalData

let logId = 0

Page({
  data: {
    username: '',
    password: '',
    token: '',
    peerId: '',
    message: '',
    loggedInAs: '',
    logs: [],
  },

  onLoad() {
    conn.addEventHandler('quickstart', {
      onConnected: () => this.log('Connected'),
      onDisconnected: () => {
        this.setData({ loggedInAs: '' })
        this.log('Disconnected')
      },
      onReconnecting: () => this.log('Connection lost, reconnecting…'),
      onTextMessage: (message) => {
        qq.showToast({ title: `${message.from}: ${message.msg}`, icon: 'none' })
        this.log(`Message from ${message.from}: ${message.msg}`)
      },
      onTokenWillExpire: () => this.renewToken(),
      onTokenExpired: () => this.log('The token has expired: log in again'),
      onError: (error) => this.log(`Error: ${describe(error)}`),
    })
  },

  // Input handlers: one per field. (The vendor's sample defines handleMessageChange twice,
  // so the second definition replaces the one meant for the peer id, and the peer id is
  // never set.)
  handleUsernameChange(e) {
    this.setData({ username: e.detail.value.trim() })
  },
  handlePasswordChange(e) {
    this.setData({ password: e.detail.value })
  },
  handleTokenChange(e) {
    this.setData({ token: e.detail.value.trim() })
  },
  handlePeerChange(e) {
    this.setData({ peerId: e.detail.value.trim() })
  },
  handleMessageChange(e) {
    this.setData({ message: e.detail.value })
  },

  // A token pasted in the token field, or one from the app server for user name + password.
  login() {
    const { username, password, token } = this.data
    if (!username) {
      this.log('Enter your user name')
      return Promise.resolve()
    }
    this.log(`Logging in as ${username}…`)
    const credentials = token
      ? Promise.resolve({ token, chatUsername: username })
      : fetchToken(username, password)
    return credentials
      .then(({ token: chatToken, chatUsername }) =>
        conn.open({ user: chatUsername, accessToken: chatToken }).then(() => chatUsername))
      .then((chatUsername) => {
        this.setData({ loggedInAs: chatUsername })
        this.log(`Logged in as ${chatUsername}`)
      })
      .catch((error) => this.log(`Login failed: ${describe(error)}`))
  },

  logout() {
    conn.close()
    this.setData({ loggedInAs: '' })
    this.log('Logged out')
  },

  sendMessage() {
    const { peerId, message } = this.data
    if (!peerId || !message) {
      this.log('Enter a peer user ID and a message')
      return Promise.resolve()
    }
    const msg = ChatSDK.message.create({ chatType: 'singleChat', type: 'txt', to: peerId, msg: message })
    return conn.send(msg)
      .then(() => this.log(`Message sent to ${peerId}: ${message}`))
      .catch((error) => this.log(`Send failed: ${describe(error)}`))
  },

  // The SDK warns before the token expires: fetch a new one and hand it over.
  renewToken() {
    const { username, password } = this.data
    if (!password) {
      this.log('The token expires soon: paste a new one and log in again')
      return Promise.resolve()
    }
    return fetchToken(username, password)
      .then(({ token }) => conn.renewToken(token))
      .then(() => this.log('Token renewed'))
      .catch((error) => this.log(`Token renewal failed: ${describe(error)}`))
  },

  log(text) {
    console.log(text)
    logId += 1
    const entry = { id: logId, text: `${new Date().toTimeString().slice(0, 8)} ${text}` }
    this.setData({ logs: [entry].concat(this.data.logs).slice(0, 100) })
  },
})

// POST {appServerUrl}/login → {token, expiresIn, chatUsername}
function fetchToken(username, password) {
  return new Promise((resolve, reject) => {
    qq.request({
      url: `${config.appServerUrl}/login`,
      method: 'POST',
      header: { 'content-type': 'application/json' },
      data: { username, password },
      success(res) {
        if (res.statusCode === 200 && res.data && res.data.token) resolve(res.data)
        else reject(new Error((res.data && res.data.message) || `the app server answered ${res.statusCode}`))
      },
      fail(err) {
        reject(new Error(err.errMsg))
      },
    })
  })
}

function describe(error) {
  if (!error) return 'unknown error'
  if (error.message) return error.type !== undefined ? `${error.message} (${error.type})` : error.message
  return JSON.stringify(error)
}
