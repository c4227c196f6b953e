// Cross-check of the golden fixtures against ThreeFold's own TypeScript grid client
// (@threefold/grid_client, the library the grid dashboard deploys with): it rebuilds every fixture
// deployment with the client's classes and compares the client's challenge() and
// challenge_hash() with the fixture's hand-derived ones. Writes ../../tests/golden/crosscheck.json.
//
// Two known gaps of the client, both handled here and said in the output:
// - it hashes text as given while zos hashes decoded values (IPs printed by Go, hex lowercased),
//   so its input is first written in that canonical form (`canonical` below);
// - its SignatureRequirement.challenge() leaves out signature_style, which zos appends; the
//   style is appended here (it is "" in the default style, so that changes nothing there).
// It also refuses the deprecated `ipv4` type in its validators (class-validator's
// forbidUnknownValues); an @Allow() on that class lets the value through unchanged.
//
// Run: npm ci && node crosscheck.js

'use strict';

const fs = require('fs');
const path = require('path');

const client = path.join(__dirname, 'node_modules', '@threefold', 'grid_client');
const zos = path.join(client, 'dist', 'node', 'zos');
require(path.join(__dirname, 'node_modules', 'reflect-metadata'));
const { plainToInstance } = require(path.join(__dirname, 'node_modules', 'class-transformer'));
const { Allow } = require(path.join(__dirname, 'node_modules', 'class-validator'));
const { Deployment } = require(path.join(zos, 'deployment.js'));
const { PublicIPv4 } = require(path.join(zos, 'ipv4.js'));
const version = JSON.parse(fs.readFileSync(path.join(client, 'package.json'))).version;

Allow()(PublicIPv4.prototype, '__type');

const GOLDEN = path.join(__dirname, '..', '..', 'tests', 'golden');
const CASES = ['vm_full', 'zdb', 'gateways', 'qsfs_multisig', 'ipv4_update'];

const ip = (t) => (/^\d+\.\d+\.\d+\.\d+$/.test(t) ? t : new URL(`http://[${t}]/`).hostname.slice(1, -1));
const cidr = (t) => {
  const [a, b] = t.split('/');
  return `${ip(a)}/${Number(b)}`;
};

function canonical(w) {
  const d = w.data;
  if (w.type === 'network') {
    d.ip_range = cidr(d.ip_range);
    d.subnet = cidr(d.subnet);
    for (const p of d.peers || []) {
      p.subnet = cidr(p.subnet);
      p.allowed_ips = p.allowed_ips.map(cidr);
    }
    if (d.mycelium) d.mycelium.hex_key = d.mycelium.hex_key.toLowerCase();
  }
  if (w.type === 'zmachine') {
    const m = d.network.mycelium;
    // zos's key is "Network" (no JSON tag); the client's class calls it "network".
    if (m) d.network.mycelium = { network: m.Network, hex_seed: m.hex_seed.toLowerCase() };
    for (const i of d.network.interfaces) i.ip = ip(i.ip);
  }
  if (w.type === 'qsfs') {
    d.config.encryption.key = d.config.encryption.key.toLowerCase();
    d.config.meta.config.encryption.key = d.config.meta.config.encryption.key.toLowerCase();
  }
}

const report = { grid_client_version: version, fixtures: {} };
let failed = false;
for (const name of CASES) {
  const f = JSON.parse(fs.readFileSync(path.join(GOLDEN, `${name}.json`)));
  const plain = JSON.parse(JSON.stringify(f.deployment));
  for (const w of plain.workloads) {
    canonical(w);
    w.data.__type = w.type;
  }
  const d = plainToInstance(Deployment, plain);
  const style = plain.signature_requirement.signature_style || '';
  const challenge = d.challenge() + style;
  const hash = require('crypto').createHash('md5').update(challenge, 'utf8').digest('hex');
  const ok = challenge === f.challenge && hash === f.hash_hex;
  failed = failed || !ok;
  report.fixtures[name] = {
    hash_hex: hash,
    client_challenge_hash: d.challenge_hash(),
    style_appended: style !== '',
    matches: ok,
  };
  console.log(`${name}: ${ok ? 'match' : 'MISMATCH'} ${hash}`);
}
fs.writeFileSync(path.join(GOLDEN, 'crosscheck.json'), JSON.stringify(report, null, 2) + '\n');
process.exit(failed ? 1 : 0);
