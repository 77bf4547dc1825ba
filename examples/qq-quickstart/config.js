// The one file to edit: where your Confab server and your app server are.
// In a published mini program every host here must be a registered "legal domain"
// (see README.md); in QQ DevTools turn off the domain check to use local hosts.
module.exports = {
  // The App ID printed by `confab app create` (QQ quickstart style: no app key; Confab
  // finds the app from the token).
  appId: 'your-confab-app-id',
  // Confab's WebSocket URL, used as is (wss:// outside DevTools).
  url: 'wss://im.example.com/websocket',
  // Confab's REST base URL.
  apiUrl: 'https://im.example.com',
  // The example app server (examples/app-server): POST /login → a Chat user token.
  appServerUrl: 'https://app.example.com',
}
