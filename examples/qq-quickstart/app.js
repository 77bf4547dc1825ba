// app.js — one Chat connection for the whole mini program.
const config = require('./config.js')
// The SDK's mini-program build, copied here by `npm run copy-sdk` (see README.md).
const SDK = require('./utils/Easemob-chat.js')

const ChatSDK = SDK.default || SDK

// The QQ quickstart initialises with the App ID. Without HttpDNS the SDK never learns an
// app key; Confab resolves the app from the user token (token login only).
const conn = new ChatSDK.connection({
  appId: config.appId,
  // Confab: connect to url/apiUrl below instead of asking the vendor's DNS servers.
  isHttpDNS: false,
  url: config.url,
  apiUrl: config.apiUrl,
})

App({
  globalData: { ChatSDK, conn },

  // Back from the background: the platform may have dropped the socket while the app was
  // hidden; the SDK probes it and reconnects if needed.
  onShow() {
    conn.onShow()
  },
})
