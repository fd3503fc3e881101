package readapi

import (
	"context"
	"html"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epochledger/epochledger/scenarios/simlog"
)

// chromium finds a Chromium binary: $EPOCHLEDGER_CHROMIUM, then the
// Debian package's /usr/bin/chromium, then the usual names on PATH.
func chromium() string {
	if p := os.Getenv("EPOCHLEDGER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// dumpDOM loads url in headless Chromium and returns the DOM once the
// page's scripts have run (virtual time lets the fetches finish first).
func dumpDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+profile,
		"--virtual-time-budget=10000", "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, lastLines(stderr.String(), 20))
	}
	return string(out)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// section returns the outer HTML of the element that opens with open
// (e.g. `<table id="shares"`) up to its closing tag.
func section(t *testing.T, dom, open, closeTag string) string {
	t.Helper()
	i := strings.Index(dom, open)
	if i < 0 {
		t.Fatalf("page has no %s", open)
	}
	j := strings.Index(dom[i:], closeTag)
	if j < 0 {
		t.Fatalf("%s is not closed", open)
	}
	return dom[i : i+j]
}

// fields returns the text of the data-field cells of the row that opens
// with rowOpen inside part.
func fields(t *testing.T, part, rowOpen string) map[string]string {
	t.Helper()
	i := strings.Index(part, rowOpen)
	if i < 0 {
		t.Fatalf("no row %s in\n%s", rowOpen, part)
	}
	row := part[i:]
	row = row[:strings.Index(row, "</tr>")]
	out := map[string]string{}
	for _, m := range reCell.FindAllStringSubmatch(row, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

var reCell = regexp.MustCompile(`<td data-field="([a-z_]+)"[^>]*>([^<]*)</td>`)

// textOf returns the text of the element with id (no child elements).
func textOf(t *testing.T, dom, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("page has no element #%s", id)
	}
	return html.UnescapeString(m[1])
}

// TestBrowserPage loads the operator page for a scenario's operator in a
// real headless Chromium and finds in the rendered DOM the numbers of the
// `shares --json` document and of the operator's balance.
func TestBrowserPage(t *testing.T) {
	bin := chromium()
	if bin == "" && os.Getenv("EPOCHLEDGER_REQUIRE_BROWSER") != "" {
		t.Fatal("EPOCHLEDGER_REQUIRE_BROWSER is set but no Chromium was found (apt-get install -y chromium)")
	}
	if bin == "" {
		t.Skip("SKIPPED: no Chromium (install the Debian package: apt-get install -y chromium, or set EPOCHLEDGER_CHROMIUM); the web page was not tested in a browser")
	}
	w := scenario(t)
	l := w.ledger()
	s := newServer(t, w, DefaultOptions()) // the real rate limit: the page stays within it

	dom := dumpDOM(t, bin, s.URL+"/?operator=op-a&epoch=1")
	if !strings.Contains(dom, `data-state="ready"`) {
		t.Fatalf("page did not finish loading (body data-state is not ready):\n%s", dom)
	}
	if !strings.Contains(dom, `id="error" class="error" role="alert" hidden`) {
		t.Errorf("page shows an error: %s", textOf(t, dom, "error"))
	}

	// The auditor's epoch overview: the shares --json document of epoch 1.
	doc, _, _ := l.Shares(1)
	if got := textOf(t, dom, "epoch-number"); got != "1" {
		t.Errorf("epoch shown %q", got)
	}
	for id, want := range map[string]string{
		"epoch-emission": doc.Emission, "epoch-total-work-obh": doc.TotalWorkOBh, "epoch-total-work-usd": doc.TotalWorkUSD,
		"epoch-root": l.Epoch(1).Settlement.Root, "log-position": itoa(l.Position),
	} {
		if got := textOf(t, dom, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	shares := section(t, dom, `<table id="shares"`, "</table>")
	if n := strings.Count(shares, "<tr data-operator="); n != len(doc.Operators) {
		t.Errorf("%d operator rows, want %d", n, len(doc.Operators))
	}
	for _, o := range doc.Operators {
		f := fields(t, shares, `<tr data-operator="`+o.OperatorID+`"`)
		if f["work_obh"] != o.WorkOBh || f["work_usd"] != o.WorkUSD || f["allocated"] != o.Allocated {
			t.Errorf("shares row %s: page %v, shares --json %+v", o.OperatorID, f, o)
		}
	}
	dist := section(t, dom, `<svg id="chart-distribution"`, "</svg>")
	if n := strings.Count(dist, `<rect `); n != len(doc.Operators) {
		t.Errorf("work distribution chart has %d bars, want %d", n, len(doc.Operators))
	}
	supply := section(t, dom, `<svg id="chart-supply"`, "</svg>")
	if n := strings.Count(supply, `class="bar-burn" data-epoch=`); n != len(l.Epochs) {
		t.Errorf("burns chart has %d bars, want %d", n, len(l.Epochs))
	}

	// The operator: balance, per-epoch lines equal to the shares documents,
	// nodes, frames, payouts linking to the explorer.
	b := l.Balance(l.Operators["op-a"])
	for id, want := range map[string]string{
		"op-id": "op-a", "op-wallet": simlog.Wallet("op-a"), "op-allocated": b.Allocated,
		"op-paid": b.Paid, "op-in-flight": b.InFlight, "op-owed": b.Owed,
	} {
		if got := textOf(t, dom, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	epochs := section(t, dom, `<table id="op-epochs"`, "</table>")
	for n := uint64(1); n <= 2; n++ {
		d, _, _ := l.Shares(n)
		for _, o := range d.Operators {
			if o.OperatorID != "op-a" {
				continue
			}
			f := fields(t, epochs, `<tr data-epoch="`+itoa(n)+`"`)
			if f["work_obh"] != o.WorkOBh || f["work_usd"] != o.WorkUSD || f["allocated"] != o.Allocated {
				t.Errorf("operator epoch %d: page %v, shares --json %+v", n, f, o)
			}
		}
	}
	chart := section(t, dom, `<svg id="chart-operator"`, "</svg>")
	if n := strings.Count(chart, `class="bar-share"`); n != 2 {
		t.Errorf("operator share chart has %d bars, want 2", n)
	}
	if n := strings.Count(chart, `class="bar-render"`); n != 2 {
		t.Errorf("operator RENDER chart has %d bars, want 2", n)
	}
	nodes := section(t, dom, `<table id="op-nodes"`, "</table>")
	if !strings.Contains(nodes, `data-node="n1"`) || !strings.Contains(nodes, `data-node="n4"`) {
		t.Errorf("nodes table: %s", nodes)
	}
	frames := section(t, dom, `<table id="op-frames"`, "</table>")
	if f := fields(t, frames, `<tr data-job="j1" data-frame="0"`); f["state"] != "accepted" || f["node_id"] != "n1" {
		t.Errorf("frame j1/0: %v", f)
	}
	payouts := section(t, dom, `<table id="op-payouts"`, "</table>")
	for n, state := range map[string]string{"1": "confirmed", "2": "in flight"} {
		if f := fields(t, payouts, `<tr data-epoch="`+n+`"`); f["state"] != state {
			t.Errorf("payout of epoch %s: %v", n, f)
		}
		link := `href="https://explorer.solana.com/tx/` + txSig(n) + `"`
		if !strings.Contains(payouts, link) {
			t.Errorf("payouts table has no link %s:\n%s", link, payouts)
		}
	}

	// The payouts CSV is linked, and the link answers op-a's rows.
	m := regexp.MustCompile(`<a id="op-payouts-csv" download="([^"]*)" href="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("operator view has no payouts CSV link:\n%s", section(t, dom, `<section id="operator"`, "</section>"))
	}
	if m[1] != "payouts-op-a.csv" || m[2] != "/v1/operators/op-a/payouts.csv" {
		t.Errorf("payouts CSV link: download %q href %q", m[1], m[2])
	}
	if r := s.get(t, html.UnescapeString(m[2])); r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		strings.Count(string(r.body), ",op-a,") != 2 || !strings.HasPrefix(string(r.body), "epoch,closed_at,") {
		t.Errorf("the linked CSV: %d %s\n%s", r.code, r.header.Get("Content-Type"), r.body)
	}

	// Looking up by wallet finds the operator.
	dom = dumpDOM(t, bin, s.URL+"/?wallet="+simlog.Wallet("op-c"))
	if !strings.Contains(dom, `data-state="ready"`) || textOf(t, dom, "op-id") != "op-c" {
		t.Errorf("wallet lookup: op-id %q", textOf(t, dom, "op-id"))
	}
	// An unknown operator shows the API's error and still the epochs.
	dom = dumpDOM(t, bin, s.URL+"/?operator=nobody")
	if !strings.Contains(dom, `data-state="error"`) || !strings.Contains(textOf(t, dom, "error"), "no operator or wallet") {
		t.Errorf("unknown operator: error %q", textOf(t, dom, "error"))
	}
	if textOf(t, dom, "epoch-number") != "2" {
		t.Errorf("default epoch %q, want the newest closed (2)", textOf(t, dom, "epoch-number"))
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
