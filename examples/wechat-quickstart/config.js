// The one file to edit: where your Confab server and your app server are.
// In a published mini program every host here must be a registered "legal domain"
// (see README.md); in WeChat DevTools tick "Does not verify valid domain names…" to use
// local hosts.
module.exports = {
  // The app key printed by `confab app create` (org#app).
  appKey: 'org1#app1',
  // Confab's WebSocket URL, used as is (wss:// outside DevTools).
  url: 'wss://im.example.com/websocket',
  // Confab's REST base URL.
  apiUrl: 'https://im.example.com',
  // The example app server (examples/app-server): POST /login → a Chat user token.
  appServerUrl: 'https://app.example.com',
}
