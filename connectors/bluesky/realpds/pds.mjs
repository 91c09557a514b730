// Starts a real PDS with its PLC (@atproto/dev-env's TestNetworkNoAppView:
// @atproto/pds on SQLite, @did-plc/server in memory, no AppView) for
// Earshot's tests, and prints one JSON line when they serve:
//
//   {"pds":"http://localhost:PORT","plc":"http://localhost:PORT","admin_password":"..."}
//
// Run by realpds.Start with Node 22, REALPDS_DIR naming the install
// directory (install.sh), REALPDS_TMP a directory of its own, removed when
// it stops, and TMPDIR inside it (the PDS keeps its database and blobs
// there).
//
// It must never outlive the test that started it. It stops when its stdin
// closes (the parent closed the pipe, or died: the kernel closes it then),
// when its parent process changes (re-parented after the parent died), on
// SIGTERM or SIGINT, and after REALPDS_MAX_SECONDS (default 1800) whatever
// happens.
//
// Every server it starts listens on 127.0.0.1 only: dev-env listens on a
// bare port, so listen(port) is pinned to loopback here.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1')
  }
  return listen.apply(this, args)
}

const dir = process.env.REALPDS_DIR
if (!dir) {
  console.error('pds.mjs: REALPDS_DIR is not set')
  process.exit(2)
}

let network
let stopping = false
async function stop(why, code = 0) {
  if (stopping) return
  stopping = true
  console.error(`pds.mjs: stopping (${why})`)
  setTimeout(() => {
    removeTmp()
    process.exit(code)
  }, 3000).unref()
  try {
    if (network) await network.close()
  } catch (err) {
    console.error('pds.mjs: close:', err)
  }
  removeTmp()
  process.exit(code)
}

// removeTmp removes REALPDS_TMP (the directory the caller made for this
// run), so nothing is left behind even when the caller died first.
function removeTmp() {
  if (process.env.REALPDS_TMP) fs.rmSync(process.env.REALPDS_TMP, { recursive: true, force: true })
}

const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) stop('parent gone')
}, 500).unref()
process.stdin.on('end', () => stop('stdin closed'))
process.stdin.on('error', () => stop('stdin failed'))
process.stdin.resume()
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
const maxSeconds = Number(process.env.REALPDS_MAX_SECONDS || 1800)
setTimeout(() => stop(`ran ${maxSeconds}s`, 1), maxSeconds * 1000).unref()

// The module itself, not the package index: the index also loads the
// AppView, Ozone and their dependencies, which this network does not run.
const mod = path.join(dir, 'node_modules/@atproto/dev-env/dist/network-no-appview.js')
try {
  const { TestNetworkNoAppView } = await import(pathToFileURL(mod).href)
  const { ADMIN_PASSWORD } = await import(pathToFileURL(path.join(dir, 'node_modules/@atproto/dev-env/dist/const.js')).href)
  network = await TestNetworkNoAppView.create({})
  if (stopping) {
    await network.close()
  } else {
    process.stdout.write(JSON.stringify({ pds: network.pds.url, plc: network.plc.url, admin_password: ADMIN_PASSWORD }) + '\n')
  }
} catch (err) {
  console.error('pds.mjs: start:', err)
  process.exit(1)
}
