#!/usr/bin/env node
'use strict';
// epochledger localnet: a Solana JSON-RPC 2.0 endpoint over one in-process
// LiteSVM instance. It answers the standard methods in the shapes real RPC
// nodes use (so unmodified Solana clients work) plus test-only localnet_*
// methods: mints, treasuries, airdrops, slot advancing and fault injection.
// State lives in memory only; a restart starts a fresh chain.
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
const crypto = require('node:crypto');
const wire = require('./wire');
const spl = require('./spl');
const errors = require('./errors');
const { Ledger, SLOTS_PER_EPOCH, fee, ALT_PROGRAM, decodeLookupTable } = require('./ledger');

const LITESVM_VERSION = require('litesvm/package.json').version;
const TX_TYPE = 'solana_transaction::versioned::VersionedTransaction';
const MAX_BASE58_SIZE = 1683;
const MAX_BASE64_SIZE = 1644;
const DEFAULT_DECIMALS = 8;
const DEFAULT_TREASURY_AMOUNT = 10_000_000n * 100_000_000n; // 10,000,000 RENDER at 8 decimals
const DEFAULT_TREASURY_LAMPORTS = 1_000_000n * 1_000_000_000n; // 1,000,000 SOL

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

// ---------------------------------------------------------------- JSON-RPC plumbing

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

const invalidParams = (msg) => new RpcError(-32602, msg);

// BigInts (u64 lamports, rent epochs) are written as bare JSON integers, as Rust nodes do.
const BIG_TAG = `__bigint_${crypto.randomBytes(6).toString('hex')}_`;
const BIG_RE = new RegExp(`"${BIG_TAG}(-?\\d+)"`, 'g');
function stringify(v) {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${BIG_TAG}${x}` : x)).replace(BIG_RE, '$1');
}

function configOf(params, i) {
  const c = Array.isArray(params) ? params[i] : undefined;
  return c && typeof c === 'object' ? c : {};
}

function arg(params, i, what) {
  if (!Array.isArray(params) || params[i] === undefined) throw invalidParams(`missing parameter ${i} (${what})`);
  return params[i];
}

// named accepts {..} or [{..}] for the localnet_* methods.
function named(params) {
  if (Array.isArray(params)) return params.length === 1 && params[0] && typeof params[0] === 'object' ? params[0] : null;
  return params && typeof params === 'object' ? params : {};
}

function pubkeyParam(s, what = 'pubkey') {
  try {
    return wire.pubkey(String(s));
  } catch {
    throw invalidParams(`Invalid param: Invalid ${what} ${JSON.stringify(s)}`);
  }
}

function u64Param(v, what) {
  try {
    const n = BigInt(v);
    if (n < 0n || n >= 1n << 64n) throw new Error();
    return n;
  } catch {
    throw invalidParams(`Invalid param: ${what} must be a u64, got ${JSON.stringify(v)}`);
  }
}

// ---------------------------------------------------------------- encodings

function decodeTransaction(encoded, encoding) {
  if (typeof encoded !== 'string') throw invalidParams('Invalid params: transaction must be an encoded string');
  const enc = encoding || 'base58';
  let bytes;
  if (enc === 'base58') {
    if (encoded.length > MAX_BASE58_SIZE) {
      throw invalidParams(`base58 encoded ${TX_TYPE} too large: ${encoded.length} bytes (max: encoded/raw ${MAX_BASE58_SIZE}/${wire.PACKET_DATA_SIZE})`);
    }
    try {
      bytes = wire.b58decode(encoded);
    } catch (e) {
      throw invalidParams(`invalid base58 encoding: ${e.message}`);
    }
  } else if (enc === 'base64') {
    if (encoded.length > MAX_BASE64_SIZE) {
      throw invalidParams(`base64 encoded ${TX_TYPE} too large: ${encoded.length} bytes (max: encoded/raw ${MAX_BASE64_SIZE}/${wire.PACKET_DATA_SIZE})`);
    }
    if (encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw invalidParams('invalid base64 encoding: InvalidByte');
    bytes = new Uint8Array(Buffer.from(encoded, 'base64'));
  } else {
    throw invalidParams(`unsupported encoding: ${enc}. Supported encodings: base58, base64`);
  }
  if (bytes.length > wire.PACKET_DATA_SIZE) {
    throw invalidParams(`decoded ${TX_TYPE} too large: ${bytes.length} bytes (max: ${wire.PACKET_DATA_SIZE} bytes)`);
  }
  try {
    return wire.parseTransaction(bytes);
  } catch (e) {
    throw invalidParams(`failed to deserialize ${TX_TYPE}: ${e.message}`);
  }
}

function encodeAccount(acct, config) {
  const encoding = config.encoding || 'binary';
  let data = acct.data();
  const owner = wire.b58encode(acct.owner());
  const base = { executable: acct.executable(), lamports: acct.lamports(), owner, rentEpoch: acct.rentEpoch(), space: data.length };
  if (encoding === 'jsonParsed') {
    const parsed = parseAccountData(acct);
    if (parsed) return { ...base, data: parsed };
  }
  if (config.dataSlice) {
    const { offset = 0, length = data.length } = config.dataSlice;
    data = data.slice(offset, offset + length);
  }
  switch (encoding) {
    case 'binary':
      return { ...base, data: wire.b58encode(data) };
    case 'base58':
      return { ...base, data: [wire.b58encode(data), 'base58'] };
    case 'base64':
    case 'jsonParsed':
      return { ...base, data: [Buffer.from(data).toString('base64'), 'base64'] };
    default:
      throw invalidParams(`unsupported encoding: ${encoding}. Supported encodings: base58, base64, jsonParsed (base64+zstd is not supported by localnet)`);
  }
}

function parseAccountData(acct) {
  if (Buffer.from(acct.owner()).equals(Buffer.from(ALT_PROGRAM))) {
    // The shape of solana-account-decoder's parse_address_lookup_table.
    const t = decodeLookupTable(acct.data());
    if (!t) return null;
    return {
      program: 'address-lookup-table',
      parsed: {
        type: 'lookupTable',
        info: {
          deactivationSlot: t.deactivationSlot.toString(),
          lastExtendedSlot: t.lastExtendedSlot.toString(),
          lastExtendedSlotStartIndex: t.lastExtendedSlotStartIndex,
          ...(t.authority ? { authority: t.authority } : {}),
          addresses: t.addresses.map(wire.b58encode),
        },
      },
      space: acct.data().length,
    };
  }
  if (!spl.isTokenProgram(acct.owner())) return null;
  const data = acct.data();
  const program = wire.b58encode(acct.owner()) === wire.b58encode(spl.TOKEN_PROGRAM) ? 'spl-token' : 'spl-token-2022';
  const mint = spl.decodeMint(data);
  if (mint) {
    return {
      program,
      parsed: {
        type: 'mint',
        info: {
          decimals: mint.decimals,
          freezeAuthority: mint.freezeAuthority,
          isInitialized: true,
          mintAuthority: mint.mintAuthority,
          supply: mint.supply.toString(),
        },
      },
      space: data.length,
    };
  }
  const ta = spl.decodeTokenAccount(data);
  if (ta) {
    const m = ledger.mintInfo(ta.mint);
    const decimals = m ? m.decimals : 0;
    const info = {
      isNative: ta.isNative,
      mint: ta.mint,
      owner: ta.owner,
      state: ta.state,
      tokenAmount: spl.uiTokenAmount(ta.amount, decimals),
    };
    if (ta.delegate) {
      info.delegate = ta.delegate;
      info.delegatedAmount = spl.uiTokenAmount(ta.delegatedAmount, decimals);
    }
    if (ta.closeAuthority) info.closeAuthority = ta.closeAuthority;
    return { program, parsed: { type: 'account', info }, space: data.length };
  }
  return null;
}

function encodeTransaction(record, encoding) {
  const tx = record.tx;
  switch (encoding) {
    case 'base64':
      return [Buffer.from(tx.wire).toString('base64'), 'base64'];
    case 'base58':
      return [wire.b58encode(tx.wire), 'base58'];
    case 'json': {
      const m = tx.message;
      const message = {
        accountKeys: m.accountKeys.map(wire.b58encode),
        header: m.header,
        instructions: m.instructions.map((ix) => ({
          accounts: ix.accounts,
          data: wire.b58encode(ix.data),
          programIdIndex: ix.programIdIndex,
          stackHeight: null,
        })),
        recentBlockhash: wire.b58encode(m.recentBlockhash),
      };
      if (m.version !== 'legacy') {
        message.addressTableLookups = m.addressTableLookups.map((l) => ({
          accountKey: wire.b58encode(l.accountKey),
          readonlyIndexes: l.readonlyIndexes,
          writableIndexes: l.writableIndexes,
        }));
      }
      return { message, signatures: tx.signatures.map(wire.b58encode) };
    }
    default:
      throw invalidParams(`unsupported encoding: ${encoding}. localnet's getTransaction supports json, base64 and base58`);
  }
}

function status(record) {
  return {
    slot: record.slot,
    confirmations: null,
    err: record.err ? record.err.json : null,
    status: record.err ? { Err: record.err.json } : { Ok: null },
    confirmationStatus: 'finalized',
  };
}

function memoText(record) {
  const m = record.tx.message;
  const memos = [];
  for (const ix of m.instructions) {
    const pid = wire.b58encode(m.accountKeys[ix.programIdIndex]);
    if (pid === wire.b58encode(spl.MEMO_PROGRAM) || pid === 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo') {
      memos.push(`[${ix.data.length}] ${Buffer.from(ix.data).toString('utf8')}`);
    }
  }
  return memos.length ? memos.join('; ') : null;
}

// ---------------------------------------------------------------- state

let opts;
let ledger;
let defaults = {}; // mint, treasury created at startup
const faults = { dropNextSends: 0, timeoutNextSends: 0, failNextSends: 0, timeoutDelayMs: 0, failError: null };
const held = new Set(); // responses withheld by timeoutNextSends
// Recent prioritization fees (micro-lamports per CU), one per slot, oldest
// first: global and per account. Set by localnet_setPrioritizationFees.
const prioFees = { global: [], byAccount: new Map() };

function log(msg) {
  if (opts.verbose) process.stderr.write(`localnet: ${msg}\n`);
}

const ctx = () => ({ slot: ledger.slot });

// ---------------------------------------------------------------- methods

const methods = {
  getHealth: () => 'ok',
  getVersion: () => ({ 'solana-core': `3.0.0-litesvm-${LITESVM_VERSION}`, 'feature-set': 0 }),
  getGenesisHash: () => defaults.genesisHash,
  getIdentity: () => ({ identity: ledger.faucet.address }),
  getSlot: () => ledger.slot,
  getBlockHeight: () => ledger.blockHeight,
  getTransactionCount: () => ledger.transactionCount,
  getEpochInfo: () => ({
    absoluteSlot: ledger.slot,
    blockHeight: ledger.blockHeight,
    epoch: Math.floor(ledger.slot / SLOTS_PER_EPOCH),
    slotIndex: ledger.slot % SLOTS_PER_EPOCH,
    slotsInEpoch: SLOTS_PER_EPOCH,
    transactionCount: ledger.transactionCount,
  }),
  // One entry per recent slot that has fees set (localnet_setPrioritizationFees),
  // oldest first as a node answers; each the highest fee among the global
  // one and those set for the accounts asked about (a node reports the
  // minimum fee that landed a transaction locking them, so the busiest
  // account sets the price).
  getRecentPrioritizationFees: (params) => {
    const accounts = (Array.isArray(params) && params.length ? params[0] : null) ?? [];
    if (!Array.isArray(accounts)) throw invalidParams('Invalid params: accounts must be an array of base58 addresses');
    if (accounts.length > 128) throw invalidParams('Too many inputs provided; max 128');
    const keys = accounts.map((a) => wire.b58encode(pubkeyParam(a, 'account')));
    const n = Math.max(prioFees.global.length, ...keys.map((k) => (prioFees.byAccount.get(k) || []).length));
    const out = [];
    for (let i = 0; i < n; i++) {
      let f = prioFees.global[i] ?? 0n;
      for (const k of keys) {
        const v = (prioFees.byAccount.get(k) || [])[i];
        if (v !== undefined && v > f) f = v;
      }
      out.push({ slot: ledger.slot - (n - 1 - i), prioritizationFee: f });
    }
    return out;
  },

  getLatestBlockhash: () => ({ context: ctx(), value: { ...ledger.latestBlockhash } }),

  isBlockhashValid: (params) => ({ context: ctx(), value: ledger.isBlockhashValid(String(arg(params, 0, 'blockhash'))) }),

  getFeeForMessage: (params) => {
    let message;
    try {
      message = wire.parseMessageBytes(Buffer.from(String(arg(params, 0, 'message')), 'base64'));
    } catch (e) {
      throw invalidParams(`invalid message: ${e.message}`);
    }
    const valid = ledger.isBlockhashValid(wire.b58encode(message.recentBlockhash));
    return { context: ctx(), value: valid ? fee(message) : null };
  },

  getMinimumBalanceForRentExemption: (params) => {
    const len = Array.isArray(params) && params.length ? u64Param(params[0], 'data length') : 0n;
    return ledger.svm.minimumBalanceForRentExemption(len);
  },

  getBalance: (params) => {
    const acct = ledger.account(pubkeyParam(arg(params, 0, 'pubkey')));
    return { context: ctx(), value: acct ? acct.lamports() : 0n };
  },

  getAccountInfo: (params) => {
    const acct = ledger.account(pubkeyParam(arg(params, 0, 'pubkey')));
    return { context: ctx(), value: acct ? encodeAccount(acct, configOf(params, 1)) : null };
  },

  getMultipleAccounts: (params) => {
    const keys = arg(params, 0, 'pubkeys');
    if (!Array.isArray(keys)) throw invalidParams('Invalid params: pubkeys must be an array');
    if (keys.length > 100) throw invalidParams('Too many inputs provided; max 100');
    const config = configOf(params, 1);
    return {
      context: ctx(),
      value: keys.map((k) => {
        const acct = ledger.account(pubkeyParam(k));
        return acct ? encodeAccount(acct, config) : null;
      }),
    };
  },

  getTokenAccountBalance: (params) => {
    const acct = ledger.account(pubkeyParam(arg(params, 0, 'pubkey')));
    if (!acct) throw invalidParams('Invalid param: could not find account');
    const ta = spl.isTokenProgram(acct.owner()) ? spl.decodeTokenAccount(acct.data()) : null;
    if (!ta) throw invalidParams('Invalid param: not a Token account');
    const mint = ledger.mintInfo(ta.mint);
    if (!mint) throw invalidParams('Invalid param: could not find mint');
    return { context: ctx(), value: spl.uiTokenAmount(ta.amount, mint.decimals) };
  },

  getTokenSupply: (params) => {
    const acct = ledger.account(pubkeyParam(arg(params, 0, 'mint')));
    if (!acct) throw invalidParams('Invalid param: could not find account');
    const mint = spl.isTokenProgram(acct.owner()) ? spl.decodeMint(acct.data()) : null;
    if (!mint) throw invalidParams('Invalid param: not a Token mint');
    return { context: ctx(), value: spl.uiTokenAmount(mint.supply, mint.decimals) };
  },

  getTokenAccountsByOwner: (params) => {
    const owner = wire.b58encode(pubkeyParam(arg(params, 0, 'owner')));
    const filter = arg(params, 1, 'filter');
    const config = configOf(params, 2);
    let programs = [spl.TOKEN_PROGRAM];
    let mint = null;
    if (filter && filter.mint) {
      mint = wire.b58encode(pubkeyParam(filter.mint, 'mint'));
      const m = ledger.account(mint);
      if (!m) throw invalidParams('Invalid param: could not find mint');
      programs = [m.owner()];
    } else if (filter && filter.programId) {
      programs = [pubkeyParam(filter.programId, 'programId')];
    } else {
      throw invalidParams('Invalid params: filter must name a mint or a programId');
    }
    const value = [];
    for (const program of programs) {
      for (const aa of ledger.svm.getProgramAccounts(program)) {
        const acct = aa.account();
        const ta = spl.decodeTokenAccount(acct.data());
        if (!ta || ta.owner !== owner || (mint && ta.mint !== mint)) continue;
        value.push({ pubkey: wire.b58encode(aa.address), account: encodeAccount(acct, config) });
      }
    }
    return { context: ctx(), value };
  },

  getSignatureStatuses: (params) => {
    const sigs = arg(params, 0, 'signatures');
    if (!Array.isArray(sigs)) throw invalidParams('Invalid params: signatures must be an array');
    if (sigs.length > 256) throw invalidParams('Too many inputs provided; max 256');
    return {
      context: ctx(),
      value: sigs.map((s) => {
        const r = ledger.history.get(String(s));
        return r ? status(r) : null;
      }),
    };
  },

  getSignaturesForAddress: (params) => {
    const address = wire.b58encode(pubkeyParam(arg(params, 0, 'address')));
    const config = configOf(params, 1);
    const limit = Math.min(Number(config.limit || 1000), 1000);
    const records = [...ledger.history.values()].reverse();
    let start = 0;
    if (config.before) {
      const i = records.findIndex((r) => r.signature === config.before);
      start = i < 0 ? records.length : i + 1;
    }
    const out = [];
    for (let i = start; i < records.length && out.length < limit; i++) {
      const r = records[i];
      if (config.until && r.signature === config.until) break;
      if (!r.keys.includes(address)) continue;
      out.push({
        signature: r.signature,
        slot: r.slot,
        err: r.err ? r.err.json : null,
        memo: memoText(r),
        blockTime: r.blockTime,
        confirmationStatus: 'finalized',
      });
    }
    return out;
  },

  getTransaction: (params) => {
    const sig = String(arg(params, 0, 'signature'));
    let config = Array.isArray(params) ? params[1] : undefined;
    if (typeof config === 'string') config = { encoding: config };
    config = config || {};
    const encoding = config.encoding || 'json';
    if (encoding === 'jsonParsed') {
      throw invalidParams('unsupported encoding: jsonParsed. localnet\'s getTransaction supports json, base64 and base58');
    }
    try {
      if (wire.b58decode(sig).length !== 64) throw new Error();
    } catch {
      throw invalidParams('Invalid param: Invalid');
    }
    const r = ledger.history.get(sig);
    if (!r) return null;
    const version = r.tx.message.version;
    if (version !== 'legacy' && (config.maxSupportedTransactionVersion === undefined || config.maxSupportedTransactionVersion < version)) {
      throw new RpcError(
        -32015,
        `Transaction version (${version}) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": ${version}`,
      );
    }
    const out = {
      slot: r.slot,
      blockTime: r.blockTime,
      transaction: encodeTransaction(r, encoding),
      meta: {
        err: r.err ? r.err.json : null,
        status: r.err ? { Err: r.err.json } : { Ok: null },
        fee: r.fee,
        preBalances: r.preBalances,
        postBalances: r.postBalances,
        innerInstructions: r.innerInstructions,
        logMessages: r.logs,
        preTokenBalances: r.preTokenBalances,
        postTokenBalances: r.postTokenBalances,
        rewards: [],
        loadedAddresses: r.loadedAddresses || { readonly: [], writable: [] },
        computeUnitsConsumed: r.unitsConsumed,
      },
    };
    if (config.maxSupportedTransactionVersion !== undefined) out.version = version;
    return out;
  },

  simulateTransaction: (params) => {
    const config = configOf(params, 1);
    if (config.sigVerify && config.replaceRecentBlockhash) {
      throw invalidParams('sigVerify may not be used with replaceRecentBlockhash');
    }
    const tx = decodeTransaction(arg(params, 0, 'transaction'), config.encoding);
    const sim = ledger.simulate(tx, { sigVerify: !!config.sigVerify, replaceRecentBlockhash: !!config.replaceRecentBlockhash });
    return {
      context: ctx(),
      value: {
        err: sim.err ? sim.err.json : null,
        logs: sim.logs,
        accounts: null,
        unitsConsumed: sim.unitsConsumed,
        returnData: null,
        innerInstructions: null,
        replacementBlockhash: config.replaceRecentBlockhash ? { ...ledger.latestBlockhash } : null,
      },
    };
  },

  sendTransaction: (params) => {
    const config = configOf(params, 1);
    const tx = decodeTransaction(arg(params, 0, 'transaction'), config.encoding);
    const signature = wire.b58encode(tx.signatures[0]);
    if (faults.failNextSends > 0) {
      faults.failNextSends--;
      log(`fault: failing send of ${signature}`);
      const fe = faults.failError || { code: -32005, message: 'Node is unhealthy (localnet fault injection: failNextSends)' };
      throw new RpcError(fe.code, fe.message, fe.data);
    }
    if (faults.dropNextSends > 0) {
      faults.dropNextSends--;
      log(`fault: dropping ${signature}`);
      return signature;
    }
    let hold = null;
    if (faults.timeoutNextSends > 0) {
      faults.timeoutNextSends--;
      hold = faults.timeoutDelayMs > 0 ? faults.timeoutDelayMs : Infinity;
      log(`fault: executing ${signature} but withholding the answer`);
    }
    const outcome = submit(tx, signature, !!config.skipPreflight);
    if (hold !== null) return { [HOLD]: hold, outcome };
    if (outcome instanceof RpcError) throw outcome;
    return outcome;
  },

  requestAirdrop: (params) => {
    const to = pubkeyParam(arg(params, 0, 'pubkey'));
    const lamports = u64Param(arg(params, 1, 'lamports'), 'lamports');
    return ledger.transferFromFaucet(to, lamports);
  },

  // ------------------------------------------------------------ test-only

  localnet_info: () => ({
    rpc: defaults.rpc,
    mint: defaults.mint,
    treasury: defaults.treasury.address,
    treasuryTokenAccount: defaults.treasuryTokenAccount,
    slot: ledger.slot,
    blockHeight: ledger.blockHeight,
    latestBlockhash: { ...ledger.latestBlockhash },
    transactionCount: ledger.transactionCount,
    litesvm: LITESVM_VERSION,
  }),

  localnet_createMint: (params) => {
    const p = named(params) || {};
    const decimals = p.decimals === undefined ? DEFAULT_DECIMALS : Number(p.decimals);
    if (p.mintAuthority) pubkeyParam(p.mintAuthority, 'mintAuthority');
    if (p.freezeAuthority) pubkeyParam(p.freezeAuthority, 'freezeAuthority');
    const m = ledger.createMint({ decimals, mintAuthority: p.mintAuthority || null, freezeAuthority: p.freezeAuthority || null });
    return {
      mint: m.mint,
      decimals: m.decimals,
      mintAuthority: m.mintAuthority,
      mintAuthoritySecretKey: m.mintAuthorityKeypair ? Array.from(m.mintAuthorityKeypair.secretKey) : null,
    };
  },

  localnet_mintTo: (params) => {
    const p = named(params) || {};
    const mint = wire.b58encode(pubkeyParam(p.mint, 'mint'));
    const owner = wire.b58encode(pubkeyParam(p.owner, 'owner'));
    return ledger.mintTo(mint, owner, u64Param(p.amount ?? 0, 'amount'));
  },

  localnet_setupTreasury: (params) => {
    const p = named(params) || {};
    const mint = p.mint ? wire.b58encode(pubkeyParam(p.mint, 'mint')) : defaults.mint;
    const amount = u64Param(p.amount ?? DEFAULT_TREASURY_AMOUNT, 'amount');
    const lamports = u64Param(p.lamports ?? DEFAULT_TREASURY_LAMPORTS, 'lamports');
    const { treasury, tokenAccount } = ledger.setupTreasury(mint, amount, lamports);
    return { treasury: treasury.address, secretKey: Array.from(treasury.secretKey), tokenAccount, mint, amount: amount.toString() };
  },

  localnet_airdrop: (params) => {
    const p = Array.isArray(params) && typeof params[0] === 'string' ? { pubkey: params[0], lamports: params[1] } : named(params) || {};
    const pk = pubkeyParam(p.pubkey);
    return { lamports: ledger.airdrop(pk, u64Param(p.lamports, 'lamports')) };
  },

  localnet_advanceSlots: (params) => {
    const p = Array.isArray(params) && typeof params[0] !== 'object' ? { n: params[0] } : named(params) || {};
    const n = Number(p.n ?? 1);
    if (!Number.isSafeInteger(n) || n < 1) throw invalidParams(`Invalid param: n must be a positive integer, got ${JSON.stringify(p.n)}`);
    ledger.advance(n);
    return { slot: ledger.slot, blockHeight: ledger.blockHeight, ...ledger.latestBlockhash };
  },

  // {fees: [µlamports per CU, oldest slot first], accounts?: [addresses]}:
  // without accounts the fees apply to every query; with them, only to
  // queries naming one of them. {fees: []} clears; {} just reads.
  localnet_setPrioritizationFees: (params) => {
    const p = named(params) || {};
    if (p.fees !== undefined) {
      if (!Array.isArray(p.fees) || p.fees.length > 150) throw invalidParams('Invalid param: fees must be an array of at most 150 u64 (one per recent slot)');
      const fees = p.fees.map((f, i) => u64Param(f, `fees[${i}]`));
      if (p.accounts === undefined) {
        prioFees.global = fees;
      } else {
        if (!Array.isArray(p.accounts)) throw invalidParams('Invalid param: accounts must be an array of base58 addresses');
        for (const a of p.accounts) prioFees.byAccount.set(wire.b58encode(pubkeyParam(a, 'account')), fees);
      }
    }
    return {
      global: prioFees.global.map(String),
      accounts: Object.fromEntries([...prioFees.byAccount].map(([k, v]) => [k, v.map(String)])),
    };
  },

  localnet_faults: (params) => {
    const p = named(params) || {};
    for (const k of ['dropNextSends', 'timeoutNextSends', 'failNextSends', 'timeoutDelayMs']) {
      if (p[k] === undefined) continue;
      const n = Number(p[k]);
      if (!Number.isSafeInteger(n) || n < 0) throw invalidParams(`Invalid param: ${k} must be a non-negative integer`);
      faults[k] = n;
    }
    if (p.failError !== undefined) {
      if (p.failError !== null && (typeof p.failError.code !== 'number' || typeof p.failError.message !== 'string')) {
        throw invalidParams('Invalid param: failError must be {code: number, message: string} or null');
      }
      faults.failError = p.failError;
    }
    return { ...faults };
  },

  localnet_getTokenBalance: (params) => {
    const p = Array.isArray(params) && typeof params[0] === 'string' ? { owner: params[0], mint: params[1] } : named(params) || {};
    const owner = pubkeyParam(p.owner, 'owner');
    const mintKey = pubkeyParam(p.mint || defaults.mint, 'mint');
    const ata = spl.associatedTokenAddress(owner, mintKey);
    const acct = ledger.account(ata);
    const ta = acct ? spl.decodeTokenAccount(acct.data()) : null;
    const mint = ledger.mintInfo(mintKey);
    return {
      tokenAccount: wire.b58encode(ata),
      exists: !!ta,
      amount: (ta ? ta.amount : 0n).toString(),
      decimals: mint ? mint.decimals : null,
    };
  },
};

const HOLD = Symbol('hold');

// submit runs sendTransaction after faults: with preflight, a bad signature is
// -32003 and a failed simulation is -32002 and nothing is sent; without it,
// the transaction goes straight to the VM and a refusal is silent (as a leader
// dropping it), an execution failure lands with its err and fee.
function submit(tx, signature, skipPreflight) {
  if (!skipPreflight) {
    const bad = ledger.check(tx, { sigVerify: true });
    if (bad && bad.json === 'SignatureFailure') {
      return new RpcError(-32003, 'Transaction signature verification failure', { err: bad.json });
    }
    const sim = ledger.simulate(tx, { sigVerify: true });
    if (sim.err) {
      log(`preflight refused ${signature}: ${sim.err.text}`);
      return new RpcError(-32002, `Transaction simulation failed: ${sim.err.text}`, {
        accounts: null,
        err: sim.err.json,
        innerInstructions: null,
        logs: sim.logs,
        replacementBlockhash: null,
        returnData: null,
        unitsConsumed: sim.unitsConsumed,
      });
    }
  }
  const res = ledger.land(tx);
  if (res.landed) log(`landed ${signature} at slot ${res.record.slot}${res.err ? ` with error ${res.err.text}` : ''}`);
  else log(`dropped ${signature}: ${res.err ? res.err.text : 'not executed'}`);
  return signature;
}

// ---------------------------------------------------------------- HTTP

function handleOne(req) {
  if (!req || typeof req !== 'object' || Array.isArray(req) || req.jsonrpc !== '2.0' || typeof req.method !== 'string') {
    return { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request' }, id: req && req.id !== undefined ? req.id : null };
  }
  const fn = Object.prototype.hasOwnProperty.call(methods, req.method) ? methods[req.method] : null;
  if (!fn) return { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: req.id ?? null };
  try {
    const result = fn(req.params === undefined ? [] : req.params);
    if (result && typeof result === 'object' && result[HOLD] !== undefined) {
      const o = result.outcome;
      const answer = o instanceof RpcError ? errorBody(o, req.id) : { jsonrpc: '2.0', result: o, id: req.id ?? null };
      return { [HOLD]: result[HOLD], answer };
    }
    return { jsonrpc: '2.0', result: result === undefined ? null : result, id: req.id ?? null };
  } catch (e) {
    if (e instanceof RpcError) return errorBody(e, req.id);
    process.stderr.write(`localnet: ${req.method}: ${e.stack || e}\n`);
    return { jsonrpc: '2.0', error: { code: -32603, message: `Internal error: ${e.message}` }, id: req.id ?? null };
  }
}

function errorBody(e, id) {
  const error = { code: e.code, message: e.message };
  if (e.data !== undefined) error.data = e.data;
  return { jsonrpc: '2.0', error, id: id ?? null };
}

function respond(res, status, body) {
  const text = typeof body === 'string' ? body : stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function serve(req, res) {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  if (req.method !== 'POST') {
    respond(res, 405, { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request: use POST' }, id: null });
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 8 << 20) {
      respond(res, 413, { jsonrpc: '2.0', error: { code: -32600, message: 'request too large' }, id: null });
      req.destroy();
    } else {
      chunks.push(c);
    }
  });
  req.on('end', () => {
    if (res.writableEnded) return;
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      respond(res, 200, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
      return;
    }
    let out;
    let hold = null;
    const unwrap = (r) => {
      if (r && r[HOLD] !== undefined) {
        hold = hold === null ? r[HOLD] : Math.max(hold, r[HOLD]);
        return r.answer;
      }
      return r;
    };
    if (Array.isArray(body)) {
      out = body.length === 0 ? { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request' }, id: null } : body.map((r) => unwrap(handleOne(r)));
    } else {
      out = unwrap(handleOne(body));
    }
    if (hold === null) {
      respond(res, 200, out);
      return;
    }
    held.add(res);
    res.on('close', () => held.delete(res));
    if (Number.isFinite(hold)) {
      setTimeout(() => {
        held.delete(res);
        if (!res.destroyed && !res.writableEnded) respond(res, 200, out);
      }, hold).unref();
    }
  });
}

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
  opts = parseArgs(process.argv.slice(2));
  if (opts.state) {
    fs.mkdirSync(opts.state, { recursive: true, mode: 0o700 });
    // A localnet.json left by an earlier run points at a dead endpoint: remove it
    // so whoever waits for the file only ever sees this run's.
    fs.rmSync(path.join(opts.state, 'localnet.json'), { force: true });
  }

  ledger = new Ledger();
  defaults.genesisHash = ledger.latestBlockhash.blockhash;
  const { mint } = ledger.createMint({ decimals: DEFAULT_DECIMALS });
  const { treasury, tokenAccount } = ledger.setupTreasury(mint, opts.treasuryAmount, DEFAULT_TREASURY_LAMPORTS);
  defaults = { ...defaults, mint, treasury, treasuryTokenAccount: tokenAccount };

  const server = http.createServer(serve);
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
    defaults.rpc = rpc;
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
    log(`stopping (${why})`);
    if (opts.state) fs.rmSync(path.join(opts.state, 'localnet.json'), { force: true });
    for (const res of held) res.destroy();
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
