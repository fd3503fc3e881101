#!/usr/bin/env node
'use strict';
// epochledger localnet: a Solana JSON-RPC 2.0 endpoint over one in-process
// LiteSVM instance. It answers the standard methods in the shapes real RPC
// nodes use (so unmodified Solana clients work) plus test-only localnet_*
// methods: mints, treasuries, airdrops, slot advancing and fault injection.
// State lives in memory only; a restart starts a fresh chain.
//
// This file: arguments, the server's state and startup. rpc.js is the
// JSON-RPC transport, methods.js the standard methods, testing.js the
// localnet_* methods and faults, ledger.js the VM and its clock, wire.js the
// wire format and the answers' encodings, spl.js and errors.js the programs'
// layouts and errors.
//
// Usage: node server.js [--port P] [--state DIR] [--treasury-amount N]
//                       [--exit-on-stdin-close] [--verbose]
// Prints one JSON line {"ready":true,"rpc":...} on stdout once it serves.

try {
  require('litesvm/dist/internal');
} catch (e) {
  process.stderr.write(
    `localnet: cannot load litesvm's native binding on ${process.platform}-${process.arch}: ${e.message}\n` +
      'localnet: litesvm 1.5.0 publishes its native binary for linux-x64-gnu only (litesvm-linux-x64-gnu).\n',
  );
  process.exit(1);
}

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { Ledger } = require('./ledger');
const { serveWith } = require('./rpc');
const { standardMethods, LITESVM_VERSION } = require('./methods');
const { testMethods, sendUnderFaults, newFaults, DEFAULT_DECIMALS, DEFAULT_TREASURY_AMOUNT, DEFAULT_TREASURY_LAMPORTS } = require('./testing');

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const opts = { port: 0, state: null, treasuryAmount: DEFAULT_TREASURY_AMOUNT, exitOnStdinClose: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--port': {
        const p = Number(value());
        if (!Number.isInteger(p) || p < 0 || p > 65535) usage('--port must be 0..65535');
        opts.port = p;
        break;
      }
      case '--state':
        opts.state = path.resolve(value());
        break;
      case '--treasury-amount':
        try {
          opts.treasuryAmount = BigInt(value());
        } catch {
          usage('--treasury-amount must be an integer number of base units');
        }
        break;
      case '--exit-on-stdin-close':
        opts.exitOnStdinClose = true;
        break;
      case '--verbose':
        opts.verbose = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write('usage: node server.js [--port P] [--state DIR] [--treasury-amount N] [--exit-on-stdin-close] [--verbose]\n');
        process.exit(0);
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  return opts;
}

function usage(msg) {
  process.stderr.write(`localnet: ${msg}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- state

// st is what the methods share: the VM (st.ledger, made in main), the mint
// and treasury made at start, the armed faults and prioritization fees,
// and the responses withheld by a timeout fault.
const st = {
  opts: null,
  ledger: null,
  defaults: {},
  faults: newFaults(),
  // Recent prioritization fees (micro-lamports per CU), one per slot, oldest
  // first: global and per account. Set by localnet_setPrioritizationFees.
  prioFees: { global: [], byAccount: new Map() },
  held: new Set(),
  log(msg) {
    if (st.opts.verbose) process.stderr.write(`localnet: ${msg}\n`);
  },
  send: (signature, run) => sendUnderFaults(st, signature, run),
};

// ---------------------------------------------------------------- startup

function writeFileAtomic(file, text, mode) {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  st.opts = opts;
  if (opts.state) {
    fs.mkdirSync(opts.state, { recursive: true, mode: 0o700 });
    // A localnet.json left by an earlier run points at a dead endpoint: remove it
    // so whoever waits for the file only ever sees this run's.
    fs.rmSync(path.join(opts.state, 'localnet.json'), { force: true });
  }

  st.ledger = new Ledger();
  const ledger = st.ledger;
  st.defaults.genesisHash = ledger.latestBlockhash.blockhash;
  const { mint } = ledger.createMint({ decimals: DEFAULT_DECIMALS });
  const { treasury, tokenAccount } = ledger.setupTreasury(mint, opts.treasuryAmount, DEFAULT_TREASURY_LAMPORTS);
  st.defaults = { ...st.defaults, mint, treasury, treasuryTokenAccount: tokenAccount };

  const methods = { ...standardMethods(st), ...testMethods(st) };
  const server = http.createServer(serveWith(methods, st.held));
  // Clients (solana-go keeps idle connections 5 minutes) rarely find a
  // connection closed under them if the server keeps it open a good while.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.on('error', (e) => {
    process.stderr.write(`localnet: listen on 127.0.0.1:${opts.port}: ${e.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, '127.0.0.1', () => {
    const rpc = `http://127.0.0.1:${server.address().port}`;
    st.defaults.rpc = rpc;
    const ready = {
      ready: true,
      rpc,
      mint,
      decimals: DEFAULT_DECIMALS,
      treasury: treasury.address,
      treasury_secret_key: Array.from(treasury.secretKey),
      treasury_token_account: tokenAccount,
      treasury_amount: opts.treasuryAmount.toString(),
      slot: ledger.slot,
      block_height: ledger.blockHeight,
      litesvm: LITESVM_VERSION,
      pid: process.pid,
    };
    if (opts.state) {
      const keypairPath = path.join(opts.state, 'treasury.json');
      writeFileAtomic(keypairPath, `${JSON.stringify(Array.from(treasury.secretKey))}\n`, 0o600);
      const doc = { rpc, mint, treasury_keypair: keypairPath, treasury_token_account: tokenAccount };
      writeFileAtomic(path.join(opts.state, 'localnet.json'), `${JSON.stringify(doc, null, 2)}\n`, 0o644);
      ready.treasury_keypair = keypairPath;
      ready.state = opts.state;
    }
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });

  let stopping = false;
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    st.log(`stopping (${why})`);
    if (opts.state) fs.rmSync(path.join(opts.state, 'localnet.json'), { force: true });
    for (const res of st.held) res.destroy();
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (opts.exitOnStdinClose) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('close', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }
}

main();
