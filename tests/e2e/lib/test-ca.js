'use strict'
// A throwaway certificate authority for the TLS end-to-end tests, made with the `openssl`
// CLI at test time (nothing is committed): a CA and one server certificate (ECDSA P-256)
// whose SANs cover loopback, the test host names and the vendor HttpDNS hosts the SDK
// bundles hard-code, so a runtime that maps those names to 127.0.0.1 can verify TLS
// against the original name.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// The hosts the SDK bundles contact when `isHttpDNS` is on (easemob-websdk 4.21.1:
// rs.easemob.com, rs.chat.agora.io; agora-chat 1.4.0: ars.chat.agora.io), plus our own
// test names.
const VENDOR_DNS_HOSTS = ['rs.easemob.com', 'rs.chat.agora.io', 'ars.chat.agora.io']
const TEST_HOSTS = ['localhost', 'im.confab.test', 'app.confab.test']

function openssl(args, cwd) {
    try {
        return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
        throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ? e.stderr.toString() : e.message}`)
    }
}

// Returns {dir, caPath, certPath, keyPath, ca (PEM), cert, key, hosts}. `dir` is removed by
// `cleanup()`.
function createTestCa({ dnsNames = [...TEST_HOSTS, ...VENDOR_DNS_HOSTS], ipAddresses = ['127.0.0.1', '::1'] } = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-ca-'))
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
        '-subj', '/CN=Confab e2e test CA',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)
    openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=im.confab.test'], dir)
    const san = [...dnsNames.map((n) => `DNS:${n}`), ...ipAddresses.map((ip) => `IP:${ip}`)].join(',')
    fs.writeFileSync(path.join(dir, 'server.ext'), [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${san}`,
        '',
    ].join('\n'))
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'server.pem', '-days', '2', '-sha256', '-extfile', 'server.ext'], dir)
    const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8')
    return {
        dir,
        caPath: path.join(dir, 'ca.pem'),
        certPath: path.join(dir, 'server.pem'),
        keyPath: path.join(dir, 'server.key'),
        ca: read('ca.pem'),
        cert: read('server.pem'),
        key: read('server.key'),
        hosts: dnsNames,
        cleanup() {
            if (!process.env.KEEP_DATA) fs.rmSync(dir, { recursive: true, force: true })
        },
    }
}

module.exports = { createTestCa, VENDOR_DNS_HOSTS, TEST_HOSTS }
