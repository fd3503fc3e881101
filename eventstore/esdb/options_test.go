package esdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		url      string
		address  string
		seeds    int
		discover bool
		tlsOff   bool
		user     string
		pref     esdbclient.NodePreference
	}{
		{url: "esdb://localhost:2113?tls=false", address: "localhost:2113", tlsOff: true, pref: esdbclient.NodePreferenceLeader},
		{url: "esdb://localhost", address: "localhost:2113", pref: esdbclient.NodePreferenceLeader},
		{url: "ESDB://localhost:1234?TLS=False", address: "localhost:1234", tlsOff: true, pref: esdbclient.NodePreferenceLeader},
		{url: "esdb://admin:changeit@db.example:2113?tls=true", address: "db.example:2113", user: "admin", pref: esdbclient.NodePreferenceLeader},
		{url: "esdb+discover://admin:changeit@cluster.example:2113?nodePreference=follower", address: "cluster.example:2113", discover: true, user: "admin", pref: esdbclient.NodePreferenceFollower},
		{url: "esdb://n1:2113,n2:2113,n3:2113?tls=false&nodePreference=leader", seeds: 3, tlsOff: true, pref: esdbclient.NodePreferenceLeader},
		{url: "kurrentdb://localhost:2113?tls=false", address: "localhost:2113", tlsOff: true, pref: esdbclient.NodePreferenceLeader},
		{url: "kurrentdb+discover://cluster.example:2113", address: "cluster.example:2113", discover: true, pref: esdbclient.NodePreferenceLeader},
	}
	for _, c := range cases {
		tg, err := ParseURL(c.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.url, err)
			continue
		}
		cfg := tg.Config
		if cfg.Address != c.address && c.seeds == 0 || len(cfg.GossipSeeds) != c.seeds || cfg.DnsDiscover != c.discover ||
			cfg.DisableTLS != c.tlsOff || cfg.Username != c.user || cfg.NodePreference != c.pref {
			t.Errorf("ParseURL(%q): address %q seeds %d discover %v tlsOff %v user %q pref %v", c.url, cfg.Address, len(cfg.GossipSeeds), cfg.DnsDiscover, cfg.DisableTLS, cfg.Username, cfg.NodePreference)
		}
		if strings.Contains(tg.Redacted, "changeit") {
			t.Errorf("ParseURL(%q): redacted form %q shows the password", c.url, tg.Redacted)
		}
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, u := range []string{
		"localhost:2113",                           // no scheme
		"http://localhost:2113",                    // wrong scheme
		"esdb://",                                  // no host
		"esdb://localhost:2113?tsl=false",          // typo: would leave TLS on silently
		"esdb://localhost:2113?tls=maybe",          // not a boolean
		"esdb://localhost:2113?tls=false&tls=true", // ambiguous
		"esdb://localhost:21x3",                    // bad port
		"esdb://:secret@localhost:2113",            // password without user
		"esdb://localhost:2113?nodePreference=nearest",
	} {
		_, err := ParseURL(u)
		if !errors.Is(err, ErrBadURL) {
			t.Errorf("ParseURL(%q): %v, want ErrBadURL", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q): error shows the password: %v", u, err)
		}
	}
}

func TestParseURLWarnings(t *testing.T) {
	tg, err := ParseURL("esdb://admin:changeit@localhost:2113?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	if len(tg.Warnings) != 1 || !strings.Contains(tg.Warnings[0], "not sent") {
		t.Fatalf("warnings %q: want one about credentials not sent without TLS", tg.Warnings)
	}
	tg, _ = ParseURL("esdb://localhost:2113?tlsVerifyCert=false")
	if len(tg.Warnings) != 1 {
		t.Fatalf("warnings %q: want one about tlsVerifyCert=false", tg.Warnings)
	}
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"esdb://admin:changeit@host:2113?tls=true":        "esdb://admin:xxxxx@host:2113?tls=true",
		"esdb://admin:p%40ss@n1:2113,n2:2113?tls=true":    "esdb://admin:xxxxx@n1:2113,n2:2113?tls=true",
		"esdb+discover://ops:s3cr3t@cluster.example:2113": "esdb+discover://ops:xxxxx@cluster.example:2113",
		"esdb://admin@host:2113":                          "esdb://admin@host:2113",
		"esdb://host:2113?tls=false":                      "esdb://host:2113?tls=false",
		"esdb://host/a@b":                                 "esdb://host/a@b",
		"not a url":                                       "not a url",
	}
	for in, want := range cases {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions: %v", err)
	}
	bad := []func(o *Options){
		func(o *Options) { o.StreamPrefix = "$sys" },
		func(o *Options) { o.TypePrefixes = []string{""} },
		func(o *Options) { o.TypePrefixes = []string{"$stats"} },
		func(o *Options) { o.IdempotencyWindow = -1 },
		func(o *Options) { o.IDCacheSize = -1 },
		func(o *Options) { o.SubscriptionBuffer = -1 },
		func(o *Options) { o.AppendTimeout = 0 },
		func(o *Options) { o.Retry.MaxAttempts = 0 },
	}
	for i, mod := range bad {
		o := DefaultOptions()
		mod(o)
		if err := o.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, o)
		}
	}
}

// Open fails, with the password hidden, when nothing listens.
func TestOpenNoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := DefaultOptions()
	o.Retry = RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond, Multiplier: 1}
	start := time.Now()
	_, err := Open(ctx, "esdb://admin:hunter2@127.0.0.1:1?tls=true&maxDiscoverAttempts=1", o)
	if err == nil {
		t.Fatal("Open succeeded with no server")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the password: %v", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %v: want ErrUnavailable", err)
	}
	t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
