'use strict';
// Ledger wraps one LiteSVM instance with what LiteSVM lacks to look like a
// cluster from the outside: a slot / block-height clock that moves as
// transactions land, a queue of recent blockhashes that expire after 150
// blocks, and a transaction history that keeps the wire bytes so
// getTransaction can return the message.

const { LiteSvm, Account, FailedTransactionMetadata } = require('litesvm/dist/internal');
const wire = require('./wire');
const spl = require('./spl');
const errors = require('./errors');

// MAX_PROCESSING_AGE: a blockhash is usable for 150 blocks after the block it names.
const MAX_PROCESSING_AGE = 150;
// Block height trails the slot on real clusters (skipped slots); keeping the two
// apart here makes a confusion between getSlot and getBlockHeight fail loudly.
const BLOCK_HEIGHT_LAG = 25_000_000;
const LAMPORTS_PER_SIGNATURE = 5000n;
const MAX_TX_ACCOUNT_LOCKS = 64;
const U64_MAX = (1n << 64n) - 1n;
const SLOTS_PER_EPOCH = 432_000;
// MAX_ENTRIES of the SlotHashes sysvar: a lookup table may be created from
// any of the last 512 slots.
const SLOT_HASHES_MAX = 512;
// Address-lookup-table program and its account layout (LookupTableMeta,
// 56 bytes, then 32-byte addresses).
const ALT_PROGRAM = wire.pubkey('AddressLookupTab1e1111111111111111111111111');
const ALT_META_SIZE = 56;

class Ledger {
  constructor() {
    this.svm = new LiteSvm(); // ships System, SPL Token, Token-2022, ATA and Memo programs
    // Blockhash age is enforced here (recent-blockhash queue below): LiteSVM
    // alone only accepts its single latest blockhash.
    this.svm.setBlockhashCheck(false);
    this.slot = Math.max(Number(this.svm.getClock().slot), BLOCK_HEIGHT_LAG + 1);
    this.blockHeight = this.slot - BLOCK_HEIGHT_LAG;
    this.svm.warpToSlot(BigInt(this.slot));
    this.blockhashes = new Map(); // base58 blockhash -> last valid block height
    this.latestBlockhash = null;
    this.history = new Map(); // base58 signature -> landed transaction record
    this.mintAuthorities = new Map(); // base58 mint -> Keypair the server holds
    this.transactionCount = 0;
    // LiteSVM's warpToSlot leaves SlotHashes at its genesis entry; a
    // cluster's sysvar names every recent slot, which CreateLookupTable
    // needs (its recent_slot must be in it). Newest first, as the sysvar.
    this.slotHashes = [];
    this._recordBlockhash();
    // The faucet pays for the server's own setup transactions and requestAirdrop.
    this.faucet = wire.Keypair.generate();
    this.airdrop(this.faucet.publicKey, 1_000_000_000n * 1_000_000_000n);
  }

  _recordBlockhash() {
    const bh = this.svm.latestBlockhash();
    const lastValid = this.blockHeight + MAX_PROCESSING_AGE;
    this.blockhashes.set(bh, lastValid);
    this.latestBlockhash = { blockhash: bh, lastValidBlockHeight: lastValid };
    this.slotHashes.unshift({ slot: BigInt(this.slot), hash: bh });
    if (this.slotHashes.length > SLOT_HASHES_MAX) this.slotHashes.length = SLOT_HASHES_MAX;
    this.svm.setSlotHashes(this.slotHashes);
  }

  // lookupTable decodes an address-lookup-table account, or returns null
  // when address is not one.
  lookupTable(address) {
    const acct = this.account(address);
    if (!acct || !Buffer.from(acct.owner()).equals(Buffer.from(ALT_PROGRAM))) return null;
    return decodeLookupTable(acct.data());
  }

  // resolveLookups returns the addresses a v0 message loads from its
  // tables, writable ones first (the order of the runtime's account keys:
  // static keys, then loaded writable, then loaded readonly), or a TxError
  // shaped as the bank's when a table is missing or an index is out of
  // range or not yet active (extended in the current slot).
  resolveLookups(message) {
    const writable = [];
    const readonly = [];
    for (const l of message.addressTableLookups || []) {
      const acct = this.account(l.accountKey);
      if (!acct) return { err: errors.fieldless('AddressLookupTableNotFound') };
      if (!Buffer.from(acct.owner()).equals(Buffer.from(ALT_PROGRAM))) return { err: errors.fieldless('InvalidAddressLookupTableOwner') };
      const table = decodeLookupTable(acct.data());
      if (!table) return { err: errors.fieldless('InvalidAddressLookupTableData') };
      if (table.deactivationSlot !== U64_MAX && table.deactivationSlot < BigInt(this.slot) - BigInt(SLOT_HASHES_MAX)) {
        return { err: errors.fieldless('AddressLookupTableNotFound') };
      }
      const active = BigInt(this.slot) > table.lastExtendedSlot ? table.addresses.length : table.lastExtendedSlotStartIndex;
      for (const [idx, out] of [
        [l.writableIndexes, writable],
        [l.readonlyIndexes, readonly],
      ]) {
        for (const i of idx) {
          if (i >= active) return { err: errors.fieldless('InvalidAddressLookupTableIndex') };
          out.push(table.addresses[i]);
        }
      }
    }
    return { writable, readonly };
  }

  // allKeys is the transaction's full account list (static, then loaded).
  allKeys(tx, loaded) {
    return loaded ? [...tx.message.accountKeys, ...loaded.writable, ...loaded.readonly] : tx.message.accountKeys;
  }

  // advance moves slot and block height by n and issues a fresh blockhash.
  advance(n) {
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`advance: n must be a positive integer, got ${n}`);
    this.slot += n;
    this.blockHeight += n;
    this.svm.warpToSlot(BigInt(this.slot));
    this.svm.expireBlockhash();
    this._recordBlockhash();
    for (const [bh, lastValid] of this.blockhashes) {
      if (lastValid < this.blockHeight) this.blockhashes.delete(bh);
    }
  }

  isBlockhashValid(bh) {
    const lastValid = this.blockhashes.get(bh);
    return lastValid !== undefined && lastValid >= this.blockHeight;
  }

  // check runs the validations a bank does before executing: signatures
  // (when asked), blockhash age, then the status cache. It returns a TxError or null.
  check(tx, { sigVerify }) {
    if (sigVerify && !verifySignatures(tx)) return errors.fieldless('SignatureFailure');
    if (!this.isBlockhashValid(wire.b58encode(tx.message.recentBlockhash))) return errors.fieldless('BlockhashNotFound');
    if (this.history.has(wire.b58encode(tx.signatures[0]))) return errors.fieldless('AlreadyProcessed');
    const loaded = this.resolveLookups(tx.message);
    if (loaded.err) return loaded.err;
    // MAX_TX_ACCOUNT_LOCKS: a bank refuses a transaction that locks more
    // than 64 accounts (static and loaded together) before executing it.
    if (tx.message.accountKeys.length + loaded.writable.length + loaded.readonly.length > MAX_TX_ACCOUNT_LOCKS) {
      return errors.fieldless('TooManyAccountLocks');
    }
    return null;
  }

  // simulate executes tx without committing. It never advances the clock.
  simulate(tx, { sigVerify = false, replaceRecentBlockhash = false } = {}) {
    if (replaceRecentBlockhash) tx = withBlockhash(tx, this.latestBlockhash.blockhash);
    const pre = this.check(tx, { sigVerify });
    if (pre) return { err: pre, logs: [], unitsConsumed: 0n, tx };
    const was = this.svm.getSigverify();
    this.svm.setSigverify(sigVerify);
    let res;
    try {
      res = tx.message.version === 'legacy' ? this.svm.simulateLegacyTransaction(tx.wire) : this.svm.simulateVersionedTransaction(tx.wire);
    } finally {
      this.svm.setSigverify(was);
    }
    if (res instanceof FailedTransactionMetadata) {
      const meta = res.meta();
      return { err: errors.fromLiteSVM(res.err()), logs: meta.logs(), unitsConsumed: meta.computeUnitsConsumed(), tx };
    }
    const meta = res.meta();
    return { err: null, logs: meta.logs(), unitsConsumed: meta.computeUnitsConsumed(), tx };
  }

  // land submits tx to the VM. A transaction that executes (successfully or
  // not: a failed one still pays its fee) is recorded at the current slot and
  // the clock moves one slot on. One refused before execution does not land.
  land(tx) {
    const signature = wire.b58encode(tx.signatures[0]);
    const pre = this.check(tx, { sigVerify: true });
    if (pre) return { landed: false, signature, err: pre, logs: [] };
    const loaded = this.resolveLookups(tx.message);
    const keys = this.allKeys(tx, loaded);
    const preBalances = keys.map((k) => this.svm.getBalance(k) ?? 0n);
    const preTokenBalances = this.tokenBalances(keys);
    const res = tx.message.version === 'legacy' ? this.svm.sendLegacyTransaction(tx.wire) : this.svm.sendVersionedTransaction(tx.wire);
    let meta = res;
    let err = null;
    if (res instanceof FailedTransactionMetadata) {
      meta = res.meta();
      err = errors.fromLiteSVM(res.err());
      if (this.svm.getTransaction(tx.signatures[0]) === null) {
        return { landed: false, signature, err, logs: meta.logs() };
      }
    }
    const record = {
      signature,
      slot: this.slot,
      blockTime: Math.floor(Date.now() / 1000),
      tx,
      loadedAddresses: { writable: loaded.writable.map(wire.b58encode), readonly: loaded.readonly.map(wire.b58encode) },
      keys: keys.map(wire.b58encode),
      err,
      logs: meta.logs(),
      fee: fee(tx.message),
      unitsConsumed: meta.computeUnitsConsumed(),
      innerInstructions: meta
        .innerInstructions()
        .map((list, index) => ({
          index,
          instructions: list.map((ii) => {
            const ci = ii.instruction();
            return {
              programIdIndex: ci.programIdIndex(),
              accounts: Array.from(ci.accounts()),
              data: wire.b58encode(ci.data()),
              stackHeight: ii.stackHeight(),
            };
          }),
        }))
        .filter((x) => x.instructions.length > 0),
      preBalances,
      postBalances: keys.map((k) => this.svm.getBalance(k) ?? 0n),
      preTokenBalances,
      postTokenBalances: this.tokenBalances(keys),
    };
    this.history.set(signature, record);
    this.transactionCount++;
    this.advance(1);
    return { landed: true, signature, err, logs: record.logs, record };
  }

  // landOrThrow is for the server's own setup transactions.
  landOrThrow(payer, signers, instructions, what) {
    const bytes = wire.compileLegacy(payer, signers, instructions, this.latestBlockhash.blockhash);
    const res = this.land(wire.parseTransaction(bytes));
    if (!res.landed || res.err) {
      const logs = res.logs.length ? `\n  ${res.logs.join('\n  ')}` : '';
      throw new Error(`${what}: ${res.err ? res.err.text : 'did not land'}${logs}`);
    }
    return res.signature;
  }

  tokenBalances(keys) {
    const out = [];
    keys.forEach((k, accountIndex) => {
      const acct = this.svm.getAccount(k);
      if (!acct || !spl.isTokenProgram(acct.owner())) return;
      const ta = spl.decodeTokenAccount(acct.data());
      if (!ta) return;
      const mint = this.mintInfo(ta.mint);
      out.push({
        accountIndex,
        mint: ta.mint,
        owner: ta.owner,
        programId: wire.b58encode(acct.owner()),
        uiTokenAmount: spl.uiTokenAmount(ta.amount, mint ? mint.decimals : 0),
      });
    });
    return out;
  }

  account(address) {
    return this.svm.getAccount(typeof address === 'string' ? wire.pubkey(address) : address);
  }

  mintInfo(address) {
    const acct = this.account(address);
    if (!acct || !spl.isTokenProgram(acct.owner())) return null;
    return spl.decodeMint(acct.data());
  }

  // airdrop credits lamports directly (no transaction, no history entry).
  airdrop(pk, lamports) {
    lamports = BigInt(lamports);
    const acct = this.svm.getAccount(pk);
    const next = acct
      ? new Account(acct.lamports() + lamports, acct.data(), acct.owner(), acct.executable(), acct.rentEpoch())
      : new Account(lamports, new Uint8Array(0), spl.SYSTEM_PROGRAM, false, U64_MAX);
    this.svm.setAccount(pk, next);
    return next.lamports();
  }

  // transferFromFaucet sends a real System transfer (used by requestAirdrop).
  transferFromFaucet(to, lamports) {
    const data = Buffer.alloc(12);
    data.writeUInt32LE(2, 0);
    data.writeBigUInt64LE(BigInt(lamports), 4);
    return this.landOrThrow(
      this.faucet,
      [this.faucet],
      [
        {
          programId: spl.SYSTEM_PROGRAM,
          keys: [
            { pubkey: this.faucet.publicKey, isSigner: true, isWritable: true },
            { pubkey: to, isSigner: false, isWritable: true },
          ],
          data,
        },
      ],
      'requestAirdrop',
    );
  }

  // createMint creates and initializes a mint through the real SPL Token program.
  createMint({ decimals = 8, mintAuthority = null, freezeAuthority = null } = {}) {
    if (!Number.isInteger(decimals) || decimals < 0 || decimals > 255) throw new Error(`decimals must be 0..255, got ${decimals}`);
    const mint = wire.Keypair.generate();
    let authority = null;
    let authorityKey;
    if (mintAuthority) {
      authorityKey = wire.pubkey(mintAuthority);
    } else {
      authority = wire.Keypair.generate();
      authorityKey = authority.publicKey;
    }
    const rent = this.svm.minimumBalanceForRentExemption(BigInt(spl.MINT_SIZE));
    this.landOrThrow(
      this.faucet,
      [this.faucet, mint],
      [
        spl.createAccountIx(this.faucet.publicKey, mint.publicKey, rent, spl.MINT_SIZE, spl.TOKEN_PROGRAM),
        spl.initializeMint2Ix(mint.publicKey, decimals, authorityKey, freezeAuthority ? wire.pubkey(freezeAuthority) : null),
      ],
      'createMint',
    );
    if (authority) this.mintAuthorities.set(mint.address, authority);
    return { mint: mint.address, mintAuthority: wire.b58encode(authorityKey), mintAuthorityKeypair: authority, decimals };
  }

  // mintTo creates owner's associated token account (idempotently) and mints
  // amount to it, through the real ATA and Token programs.
  mintTo(mint, owner, amount) {
    const authority = this.mintAuthorities.get(mint);
    if (!authority) throw new Error(`mint ${mint}: its mint authority is not held by the localnet server (create it with localnet_createMint without mintAuthority)`);
    const mintKey = wire.pubkey(mint);
    const ownerKey = wire.pubkey(owner);
    const ata = spl.associatedTokenAddress(ownerKey, mintKey);
    const ixs = [spl.createAtaIdempotentIx(this.faucet.publicKey, ownerKey, mintKey)];
    if (BigInt(amount) > 0n) ixs.push(spl.mintToIx(mintKey, ata, authority.publicKey, BigInt(amount)));
    const signature = this.landOrThrow(this.faucet, [this.faucet, authority], ixs, 'mintTo');
    return { tokenAccount: wire.b58encode(ata), signature };
  }

  setupTreasury(mint, amount, lamports) {
    const treasury = wire.Keypair.generate();
    this.airdrop(treasury.publicKey, lamports);
    const { tokenAccount } = this.mintTo(mint, treasury.address, amount);
    return { treasury, tokenAccount };
  }
}

// decodeLookupTable reads ProgramState::LookupTable(LookupTableMeta) and
// the addresses after it; null for an uninitialized or malformed account.
function decodeLookupTable(data) {
  const b = Buffer.from(data);
  if (b.length < ALT_META_SIZE || b.readUInt32LE(0) !== 1 || (b.length - ALT_META_SIZE) % 32 !== 0) return null;
  const hasAuthority = b[21] === 1;
  const addresses = [];
  for (let off = ALT_META_SIZE; off < b.length; off += 32) addresses.push(new Uint8Array(b.subarray(off, off + 32)));
  return {
    deactivationSlot: b.readBigUInt64LE(4),
    lastExtendedSlot: b.readBigUInt64LE(12),
    lastExtendedSlotStartIndex: b[20],
    authority: hasAuthority ? wire.b58encode(b.subarray(22, 54)) : null,
    addresses,
  };
}

function verifySignatures(tx) {
  const n = tx.message.header.numRequiredSignatures;
  for (let i = 0; i < n; i++) {
    if (!wire.verify(tx.message.accountKeys[i], tx.messageBytes, tx.signatures[i])) return false;
  }
  return true;
}

function withBlockhash(tx, blockhash) {
  const bytes = Uint8Array.from(tx.wire);
  bytes.set(wire.pubkey(blockhash), tx.messageOffset + tx.message.recentBlockhashOffset);
  return wire.parseTransaction(bytes);
}

// fee: 5,000 lamports per signature plus the prioritization fee
// (compute-unit price × limit, rounded up), as the runtime charges.
function fee(message) {
  const budget = spl.COMPUTE_BUDGET_PROGRAM;
  let limit = null;
  let price = 0n;
  let others = 0;
  for (const ix of message.instructions) {
    const pid = message.accountKeys[ix.programIdIndex];
    if (pid && Buffer.from(pid).equals(Buffer.from(budget))) {
      const d = Buffer.from(ix.data);
      if (d[0] === 2 && d.length >= 5) limit = BigInt(d.readUInt32LE(1));
      if (d[0] === 3 && d.length >= 9) price = d.readBigUInt64LE(1);
    } else {
      others++;
    }
  }
  if (limit === null) limit = BigInt(Math.min(200_000 * others, 1_400_000));
  const priority = (price * limit + 999_999n) / 1_000_000n;
  return LAMPORTS_PER_SIGNATURE * BigInt(message.header.numRequiredSignatures) + priority;
}

module.exports = { Ledger, MAX_PROCESSING_AGE, SLOTS_PER_EPOCH, fee, U64_MAX, ALT_PROGRAM, decodeLookupTable, MAX_TX_ACCOUNT_LOCKS };
