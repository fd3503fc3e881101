package domain

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	goldenCreate = `{"authority":"14BGX7Knx1pJrMnQGdmxDykxFEzkMghYVqsBSTzppbFX","table":"GDcu847LKxpPJmZTJdUfq6XBcH3mmjWZUGhvWdD7Ypwo","recent_slot":447552100,"signature":"5ucdK8Ev3R6dUXQtfzwtB999pzWrMZ7odozMEAzvXJWpEW9yGPGcu5D3DaVYeAQEdTF1HMuN2jABawYJeob2qXgp","blockhash":"cHYzEHRtLxFpNa3npxwGUVRtyKRbCpA2Lz9YoKrUPGb","last_valid_block_height":422552250,"transaction":"AfVwxd8ENTOVINPA4gaa1BGTWkygAUAYClqaMl71LfOsn/aj/whAJmR2b/D2CqP+RsmLWiDTD1rRfYXOFTS5Qg0BAAIEANBaHR6iUTltVXr71FiLPG2Z2+uXL+0QoyVi6ibc3PriGt1FFtin0LHOVnkWQIg2AjqLTKM37wFepccKqpHdPgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAnemr5czm3rIjRiSyQRG9QACMJJm9i5TwRgkSYIAAAAJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKAEDBAEAAAINAAAAAGQarRoAAAAA/Q=="}`
	goldenExtend = `{"authority":"14BGX7Knx1pJrMnQGdmxDykxFEzkMghYVqsBSTzppbFX","table":"GDcu847LKxpPJmZTJdUfq6XBcH3mmjWZUGhvWdD7Ypwo","addresses":["Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","Gh5GixNvrU87vKWcLLLp6dcgBGRDtP4EJesFu6rjif4"],"signature":"yfUmvEEt3goEECY2B2b3cXHGcxqSwn7TBfpGLp2V8PEfbpZdoAd9SBwACgzBMLSxp9zJApCesE6D7N3oQoLzLpc","blockhash":"cHYzEHRtLxFpNa3npxwGUVRtyKRbCpA2Lz9YoKrUPGb","last_valid_block_height":422552251,"transaction":"ATDdSKuB0w9fv7X9OYegUr+KWQotGOIe2oftlcBnpavOOom9YJU0yciHU085mqQ/flFaWcyj6FEcdeKdGL0MsQ0BAAIEANBaHR6iUTltVXr71FiLPG2Z2+uXL+0QoyVi6ibc3PriGt1FFtin0LHOVnkWQIg2AjqLTKM37wFepccKqpHdPgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAnemr5czm3rIjRiSyQRG9QACMJJm9i5TwRgkSYIAAAAJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKAEDBAEAAAJMAgAAAAIAAAAAAAAAAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIw=="}`
)

// TestLookupTableEvents: the valid records decode and encode canonically;
// each broken rule is named by event, field and rule; PayoutSubmitted's
// optional v0 fields decode, and an old PayoutSubmitted is unchanged.
func TestLookupTableEvents(t *testing.T) {
	for _, c := range []struct{ typ, data string }{{TypeLookupTableCreated, goldenCreate}, {TypeLookupTableExtended, goldenExtend}} {
		ev, err := DecodeEvent(c.typ, []byte(c.data))
		require.NoError(t, err)
		b, err := EncodeEvent(ev)
		require.NoError(t, err)
		assert.Equal(t, c.data, string(b))
	}
	sub := func(s, old, new string) string { return strings.Replace(s, old, new, 1) }
	cases := []struct{ typ, data, field, rule string }{
		{TypeLookupTableCreated, sub(goldenCreate, `"table":"GDcu847LKxpPJmZTJdUfq6XBcH3mmjWZUGhvWdD7Ypwo"`, `"table":"14BGX7Knx1pJrMnQGdmxDykxFEzkMghYVqsBSTzppbFX"`), "table", "must not be the authority"},
		{TypeLookupTableCreated, sub(goldenCreate, `"authority":"14BGX7Knx1pJrMnQGdmxDykxFEzkMghYVqsBSTzppbFX"`, `"authority":"abc"`), "authority", ruleAddress},
		{TypeLookupTableCreated, sub(goldenCreate, `"signature":"5ucdK8Ev3R6dUXQtfzwtB999pzWrMZ7odozMEAzvXJWpEW9yGPGcu5D3DaVYeAQEdTF1HMuN2jABawYJeob2qXgp"`, `"signature":"yfUmvEEt3goEECY2B2b3cXHGcxqSwn7TBfpGLp2V8PEfbpZdoAd9SBwACgzBMLSxp9zJApCesE6D7N3oQoLzLpc"`), "transaction", "must be base64 of a signed Solana transaction of at most 1232 bytes whose first signature is signature"},
		{TypeLookupTableCreated, sub(goldenCreate, `,"transaction":"AfVwxd8ENTOVINPA4gaa1BGTWkygAUAYClqaMl71LfOsn/aj/whAJmR2b/D2CqP+RsmLWiDTD1rRfYXOFTS5Qg0BAAIEANBaHR6iUTltVXr71FiLPG2Z2+uXL+0QoyVi6ibc3PriGt1FFtin0LHOVnkWQIg2AjqLTKM37wFepccKqpHdPgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAnemr5czm3rIjRiSyQRG9QACMJJm9i5TwRgkSYIAAAAJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKAEDBAEAAAINAAAAAGQarRoAAAAA/Q=="`, ``), "transaction", ruleRequired},
		{TypeLookupTableExtended, sub(goldenExtend, `["Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","Gh5GixNvrU87vKWcLLLp6dcgBGRDtP4EJesFu6rjif4"]`, `[]`), "addresses", "must list 1 to 256 addresses"},
		{TypeLookupTableExtended, sub(goldenExtend, `["Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","Gh5GixNvrU87vKWcLLLp6dcgBGRDtP4EJesFu6rjif4"]`, `["Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM"]`), "addresses[1]", "an address may appear once"},
		{TypeLookupTableExtended, sub(goldenExtend, `["Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","Gh5GixNvrU87vKWcLLLp6dcgBGRDtP4EJesFu6rjif4"]`, `["Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","x"]`), "addresses[1]", ruleAddress},
		{TypePayoutSubmitted, `{"epoch":1,"signature":"5ucdK8Ev3R6dUXQtfzwtB999pzWrMZ7odozMEAzvXJWpEW9yGPGcu5D3DaVYeAQEdTF1HMuN2jABawYJeob2qXgp","recipients":[{"operator_id":"op-a","wallet":"Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","amount":"3"}],"blockhash":"cHYzEHRtLxFpNa3npxwGUVRtyKRbCpA2Lz9YoKrUPGb","last_valid_block_height":5,"loaded_addresses":{"writable":["Gh5GixNvrU87vKWcLLLp6dcgBGRDtP4EJesFu6rjif4"],"readonly":[]}}`, "loaded_addresses", "needs lookup_tables"},
		{TypePayoutSubmitted, `{"epoch":1,"signature":"5ucdK8Ev3R6dUXQtfzwtB999pzWrMZ7odozMEAzvXJWpEW9yGPGcu5D3DaVYeAQEdTF1HMuN2jABawYJeob2qXgp","recipients":[{"operator_id":"op-a","wallet":"Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","amount":"3"}],"blockhash":"cHYzEHRtLxFpNa3npxwGUVRtyKRbCpA2Lz9YoKrUPGb","last_valid_block_height":5,"lookup_tables":["GDcu847LKxpPJmZTJdUfq6XBcH3mmjWZUGhvWdD7Ypwo"],"loaded_addresses":{"writable":["zz"],"readonly":[]}}`, "loaded_addresses.writable[0]", ruleAddress},
	}
	for _, c := range cases {
		_, err := DecodeEvent(c.typ, []byte(c.data))
		assert.EqualError(t, err, (&ValidationError{Event: c.typ, Field: c.field, Rule: c.rule}).Error(), c.data)
	}
	v0 := `{"epoch":1,"signature":"5ucdK8Ev3R6dUXQtfzwtB999pzWrMZ7odozMEAzvXJWpEW9yGPGcu5D3DaVYeAQEdTF1HMuN2jABawYJeob2qXgp","recipients":[{"operator_id":"op-a","wallet":"Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","amount":"3"}],"blockhash":"cHYzEHRtLxFpNa3npxwGUVRtyKRbCpA2Lz9YoKrUPGb","last_valid_block_height":5,"lookup_tables":["GDcu847LKxpPJmZTJdUfq6XBcH3mmjWZUGhvWdD7Ypwo"],"loaded_addresses":{"writable":["Gh5GixNvrU87vKWcLLLp6dcgBGRDtP4EJesFu6rjif4"],"readonly":["Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM"]}}`
	ev, err := DecodeEvent(TypePayoutSubmitted, []byte(v0))
	require.NoError(t, err)
	ps := ev.(*PayoutSubmitted)
	assert.Equal(t, []string{"GDcu847LKxpPJmZTJdUfq6XBcH3mmjWZUGhvWdD7Ypwo"}, ps.LookupTables)
	assert.Equal(t, []string{"Gh5GixNvrU87vKWcLLLp6dcgBGRDtP4EJesFu6rjif4"}, ps.LoadedAddresses.Writable)
	b, _ := EncodeEvent(ev)
	assert.Equal(t, v0, string(b))
	legacy := `{"epoch":1,"signature":"5ucdK8Ev3R6dUXQtfzwtB999pzWrMZ7odozMEAzvXJWpEW9yGPGcu5D3DaVYeAQEdTF1HMuN2jABawYJeob2qXgp","recipients":[{"operator_id":"op-a","wallet":"Cmn8RVNLZAtyq51B31RXDrrS24DYphEftzDCX4FzPLM","amount":"3"}],"blockhash":"cHYzEHRtLxFpNa3npxwGUVRtyKRbCpA2Lz9YoKrUPGb","last_valid_block_height":5}`
	ev, err = DecodeEvent(TypePayoutSubmitted, []byte(legacy))
	require.NoError(t, err)
	b, _ = EncodeEvent(ev)
	assert.Equal(t, legacy, string(b))
	assert.Equal(t, "lookuptable-14BGX7Knx1pJrMnQGdmxDykxFEzkMghYVqsBSTzppbFX", LookupTableStream("14BGX7Knx1pJrMnQGdmxDykxFEzkMghYVqsBSTzppbFX"))
}
