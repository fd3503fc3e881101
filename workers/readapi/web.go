package readapi

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
)

// The web page is plain HTML, CSS and JavaScript embedded in the binary:
// nothing to build, nothing fetched from elsewhere. It reads the JSON API
// of the same origin.
//
//go:embed web
var webFS embed.FS

var pageTemplate = template.Must(template.ParseFS(webFS, "web/index.html"))

// renderPage fills the page template once, at start.
func renderPage(explorerTxURL string) []byte {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, struct{ ExplorerTxURL string }{explorerTxURL}); err != nil {
		panic("readapi: page template: " + err.Error()) // the template is embedded; tests execute it
	}
	return b.Bytes()
}

// pageCSP allows only the page's own scripts, styles and API calls.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
}

func (a *API) servePage(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(a.page)
}

var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

func (a *API) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	typ, ok := assetTypes[path.Ext(name)]
	var b []byte
	var err error
	if ok && fs.ValidPath(name) {
		b, err = webFS.ReadFile("web/" + name)
	}
	if !ok || err != nil {
		writeError(w, http.StatusNotFound, "no such asset")
		return
	}
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", typ)
	w.Write(b)
}
