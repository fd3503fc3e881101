package localnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the name of the file, in a state directory, that describes
// a running server (server.js writes it once it serves, and removes it
// when it stops).
const StateFile = "localnet.json"

// State is DIR/localnet.json: where a running server is and what it holds.
// It is the document `epochledger localnet --json` prints too.
type State struct {
	RPC                  string `json:"rpc"`
	Mint                 string `json:"mint"`
	TreasuryKeypair      string `json:"treasury_keypair"`
	TreasuryTokenAccount string `json:"treasury_token_account"`
}

// State is l's localnet.json document.
func (l *Localnet) State() State {
	return State{RPC: l.RPC, Mint: l.Mint.String(), TreasuryKeypair: l.TreasuryKeypairPath, TreasuryTokenAccount: l.TreasuryTokenAccount.String()}
}

// ErrNoState means the state directory holds no localnet.json: no server
// serves from it (it was never started there, has not become ready yet, or
// has stopped).
var ErrNoState = errors.New("localnet: no " + StateFile + " (is 'epochledger localnet --state DIR' running?)")

// ReadState reads the localnet.json of a state directory; path may also
// name the file itself. Every reader of the file goes through here, so its
// shape is written down once. A missing file is ErrNoState; a file that is
// not the document (not JSON, no rpc) is an error naming it; keys added
// later are ignored.
func ReadState(path string) (*State, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, StateFile)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoState, path)
	}
	if err != nil {
		return nil, fmt.Errorf("localnet: %w", err)
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("localnet: %s: %w", path, err)
	}
	if s.RPC == "" {
		return nil, fmt.Errorf("localnet: %s: no rpc endpoint in it", path)
	}
	return &s, nil
}
