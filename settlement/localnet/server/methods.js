'use strict';
// The standard Solana JSON-RPC methods of the localnet server, answered in
// the shapes real nodes use, so unmodified Solana clients work: accounts,
// balances, blockhashes, fees, signatures and transactions, simulation and
// sending (through the faults testing.js arms).

const wire = require('./wire');
const spl = require('./spl');
const { SLOTS_PER_EPOCH, fee } = require('./ledger');
const { RpcError, invalidParams, configOf, arg, pubkeyParam, u64Param, decodeTransaction } = require('./rpc');

const LITESVM_VERSION = require('litesvm/package.json').version;

// standardMethods returns the methods over the server's state st: st.ledger
// (the VM, its clock and history), st.defaults (the mint and treasury made
// at start), st.prioFees, st.log, and st.send(signature, submit), which
// applies the armed faults before calling submit.
function standardMethods(st) {
  const ctx = () => ({ slot: st.ledger.slot });
  const mintInfo = (mint) => st.ledger.mintInfo(mint);

  // submit is sendTransaction once the faults let it through: with preflight, a bad signature is
  // -32003 and a failed simulation is -32002 and nothing is sent; without it,
  // the transaction goes straight to the VM and a refusal is silent (as a leader
  // dropping it), an execution failure lands with its err and fee.
  function submit(tx, signature, skipPreflight) {
    if (!skipPreflight) {
      const bad = st.ledger.check(tx, { sigVerify: true });
      if (bad && bad.json === 'SignatureFailure') {
        return new RpcError(-32003, 'Transaction signature verification failure', { err: bad.json });
      }
      const sim = st.ledger.simulate(tx, { sigVerify: true });
      if (sim.err) {
        st.log(`preflight refused ${signature}: ${sim.err.text}`);
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
    const res = st.ledger.land(tx);
    if (res.landed) st.log(`landed ${signature} at slot ${res.record.slot}${res.err ? ` with error ${res.err.text}` : ''}`);
    else st.log(`dropped ${signature}: ${res.err ? res.err.text : 'not executed'}`);
    return signature;
  }

  return {
    getHealth: () => 'ok',
    getVersion: () => ({ 'solana-core': `3.0.0-litesvm-${LITESVM_VERSION}`, 'feature-set': 0 }),
    getGenesisHash: () => st.defaults.genesisHash,
    getIdentity: () => ({ identity: st.ledger.faucet.address }),
    getSlot: () => st.ledger.slot,
    getBlockHeight: () => st.ledger.blockHeight,
    getTransactionCount: () => st.ledger.transactionCount,
    getEpochInfo: () => ({
      absoluteSlot: st.ledger.slot,
      blockHeight: st.ledger.blockHeight,
      epoch: Math.floor(st.ledger.slot / SLOTS_PER_EPOCH),
      slotIndex: st.ledger.slot % SLOTS_PER_EPOCH,
      slotsInEpoch: SLOTS_PER_EPOCH,
      transactionCount: st.ledger.transactionCount,
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
      const n = Math.max(st.prioFees.global.length, ...keys.map((k) => (st.prioFees.byAccount.get(k) || []).length));
      const out = [];
      for (let i = 0; i < n; i++) {
        let f = st.prioFees.global[i] ?? 0n;
        for (const k of keys) {
          const v = (st.prioFees.byAccount.get(k) || [])[i];
          if (v !== undefined && v > f) f = v;
        }
        out.push({ slot: st.ledger.slot - (n - 1 - i), prioritizationFee: f });
      }
      return out;
    },

    getLatestBlockhash: () => ({ context: ctx(), value: { ...st.ledger.latestBlockhash } }),

    isBlockhashValid: (params) => ({ context: ctx(), value: st.ledger.isBlockhashValid(String(arg(params, 0, 'blockhash'))) }),

    getFeeForMessage: (params) => {
      let message;
      try {
        message = wire.parseMessageBytes(Buffer.from(String(arg(params, 0, 'message')), 'base64'));
      } catch (e) {
        throw invalidParams(`invalid message: ${e.message}`);
      }
      const valid = st.ledger.isBlockhashValid(wire.b58encode(message.recentBlockhash));
      return { context: ctx(), value: valid ? fee(message) : null };
    },

    getMinimumBalanceForRentExemption: (params) => {
      const len = Array.isArray(params) && params.length ? u64Param(params[0], 'data length') : 0n;
      return st.ledger.svm.minimumBalanceForRentExemption(len);
    },

    getBalance: (params) => {
      const acct = st.ledger.account(pubkeyParam(arg(params, 0, 'pubkey')));
      return { context: ctx(), value: acct ? acct.lamports() : 0n };
    },

    getAccountInfo: (params) => {
      const acct = st.ledger.account(pubkeyParam(arg(params, 0, 'pubkey')));
      return { context: ctx(), value: acct ? wire.encodeAccount(acct, configOf(params, 1, mintInfo)) : null };
    },

    getMultipleAccounts: (params) => {
      const keys = arg(params, 0, 'pubkeys');
      if (!Array.isArray(keys)) throw invalidParams('Invalid params: pubkeys must be an array');
      if (keys.length > 100) throw invalidParams('Too many inputs provided; max 100');
      const config = configOf(params, 1);
      return {
        context: ctx(),
        value: keys.map((k) => {
          const acct = st.ledger.account(pubkeyParam(k));
          return acct ? wire.encodeAccount(acct, config, mintInfo) : null;
        }),
      };
    },

    getTokenAccountBalance: (params) => {
      const acct = st.ledger.account(pubkeyParam(arg(params, 0, 'pubkey')));
      if (!acct) throw invalidParams('Invalid param: could not find account');
      const ta = spl.isTokenProgram(acct.owner()) ? spl.decodeTokenAccount(acct.data()) : null;
      if (!ta) throw invalidParams('Invalid param: not a Token account');
      const mint = st.ledger.mintInfo(ta.mint);
      if (!mint) throw invalidParams('Invalid param: could not find mint');
      return { context: ctx(), value: spl.uiTokenAmount(ta.amount, mint.decimals) };
    },

    getTokenSupply: (params) => {
      const acct = st.ledger.account(pubkeyParam(arg(params, 0, 'mint')));
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
        const m = st.ledger.account(mint);
        if (!m) throw invalidParams('Invalid param: could not find mint');
        programs = [m.owner()];
      } else if (filter && filter.programId) {
        programs = [pubkeyParam(filter.programId, 'programId')];
      } else {
        throw invalidParams('Invalid params: filter must name a mint or a programId');
      }
      const value = [];
      for (const program of programs) {
        for (const aa of st.ledger.svm.getProgramAccounts(program)) {
          const acct = aa.account();
          const ta = spl.decodeTokenAccount(acct.data());
          if (!ta || ta.owner !== owner || (mint && ta.mint !== mint)) continue;
          value.push({ pubkey: wire.b58encode(aa.address), account: wire.encodeAccount(acct, config, mintInfo) });
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
          const r = st.ledger.history.get(String(s));
          return r ? wire.status(r) : null;
        }),
      };
    },

    getSignaturesForAddress: (params) => {
      const address = wire.b58encode(pubkeyParam(arg(params, 0, 'address')));
      const config = configOf(params, 1);
      const limit = Math.min(Number(config.limit || 1000), 1000);
      const records = [...st.ledger.history.values()].reverse();
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
          memo: wire.memoText(r),
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
      const r = st.ledger.history.get(sig);
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
        transaction: wire.encodeTransaction(r, encoding),
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
      const sim = st.ledger.simulate(tx, { sigVerify: !!config.sigVerify, replaceRecentBlockhash: !!config.replaceRecentBlockhash });
      return {
        context: ctx(),
        value: {
          err: sim.err ? sim.err.json : null,
          logs: sim.logs,
          accounts: null,
          unitsConsumed: sim.unitsConsumed,
          returnData: null,
          innerInstructions: null,
          replacementBlockhash: config.replaceRecentBlockhash ? { ...st.ledger.latestBlockhash } : null,
        },
      };
    },

    sendTransaction: (params) => {
      const config = configOf(params, 1);
      const tx = decodeTransaction(arg(params, 0, 'transaction'), config.encoding);
      const signature = wire.b58encode(tx.signatures[0]);
      // st.send applies the armed faults (testing.js), then submits.
      return st.send(signature, () => submit(tx, signature, !!config.skipPreflight));
    },

    requestAirdrop: (params) => {
      const to = pubkeyParam(arg(params, 0, 'pubkey'));
      const lamports = u64Param(arg(params, 1, 'lamports'), 'lamports');
      return st.ledger.transferFromFaucet(to, lamports);
    },
  };
}

module.exports = { standardMethods, LITESVM_VERSION };
