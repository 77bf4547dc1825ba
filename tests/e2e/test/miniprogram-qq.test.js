'use strict'
// The QQ quickstart (examples/qq-quickstart, initialised with the App ID) and the SDK's
// mini-program build on a `qq` runtime, against Confab over wss/https. Scenarios:
// lib/miniprogram-suite.js.

const { defineMiniProgramSuite } = require('../lib/miniprogram-suite')

defineMiniProgramSuite('qq')
