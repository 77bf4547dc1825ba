<view class="container">
  <view class="status">{{loggedInAs ? 'Logged in as ' + loggedInAs : 'Not logged in'}}</view>

  <input class="field" placeholder="User name" value="{{username}}" bindinput="handleUsernameChange" />
  <input class="field" placeholder="Password" password="{{true}}" value="{{password}}" bindinput="handlePasswordChange" />
  <input class="field" placeholder="Or paste a Chat user token" value="{{token}}" bindinput="handleTokenChange" />
  <view class="buttons">
    <button class="button" type="primary" size="mini" bindtap="login">Login</button>
    <button class="button" size="mini" bindtap="logout">Logout</button>
  </view>

  <input class="field" placeholder="Peer user ID" value="{{peerId}}" bindinput="handlePeerChange" />
  <input class="field" placeholder="Message" value="{{message}}" bindinput="handleMessageChange" />
  <view class="buttons">
    <button class="button" type="primary" size="mini" bindtap="sendMessage">Send</button>
  </view>

  <scroll-view class="logs" scroll-y="{{true}}">
    <view class="log" qq:for="{{logs}}" qq:key="id">{{item.text}}</view>
  </scroll-view>
</view>
