'use strict'
// The WeChat quickstart (examples/wechat-quickstart) and the SDK's mini-program build on a
// `wx` runtime, against Confab over wss/https. Scenarios: lib/miniprogram-suite.js.

const { defineMiniProgramSuite } = require('../lib/miniprogram-suite')

defineMiniProgramSuite('wx')
