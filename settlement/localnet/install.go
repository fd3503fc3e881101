package localnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The server's JavaScript and its pinned dependency manifest travel inside the
// Go binary, so `epochledger localnet` works from any working directory.
//
//go:embed server/*.js server/package.json server/package-lock.json
var serverFiles embed.FS

// EnvDir names an environment variable that, when set, points at a server
// directory (server.js, package.json, package-lock.json) to run instead of the
// embedded copy — handy while editing the server itself.
const EnvDir = "EPOCHLEDGER_LOCALNET_DIR"

// MinNodeMajor is the oldest Node.js major version litesvm supports.
const MinNodeMajor = 20

var (
	// ErrNodeNotFound means the node binary could not be found.
	ErrNodeNotFound = errors.New("localnet: node (Node.js >= 20) not found")
	// ErrNPMNotFound means npm was needed to install the server's dependencies but could not be found.
	ErrNPMNotFound = errors.New("localnet: npm not found (needed once to install the litesvm package)")
)

var manifestFiles = []string{"package.json", "package-lock.json"}

// EnsureInstalled makes sure the server and its npm dependencies are on disk,
// running `npm install` against the committed package-lock.json once when
// they are not (see npmInstall for why not `npm ci`). It checks that node is
// present and recent enough.
func EnsureInstalled(ctx context.Context) error {
	_, err := ensureInstalled(ctx, "node")
	return err
}

// ensureInstalled returns the path of server.js to run.
func ensureInstalled(ctx context.Context, nodeBin string) (string, error) {
	if err := checkNode(ctx, nodeBin); err != nil {
		return "", err
	}
	if dir := os.Getenv(EnvDir); dir != "" {
		return ensureDir(ctx, dir)
	}
	return ensureCache(ctx)
}

var nodeVersionRE = regexp.MustCompile(`^v(\d+)\.`)

func checkNode(ctx context.Context, nodeBin string) error {
	bin, err := exec.LookPath(nodeBin)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNodeNotFound, err)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return fmt.Errorf("localnet: %s --version: %w", bin, err)
	}
	m := nodeVersionRE.FindSubmatch(bytes.TrimSpace(out))
	if m == nil {
		return fmt.Errorf("localnet: %s --version printed %q, want vMAJOR.MINOR.PATCH", bin, bytes.TrimSpace(out))
	}
	if major, _ := strconv.Atoi(string(m[1])); major < MinNodeMajor {
		return fmt.Errorf("localnet: %s is Node.js %s; litesvm needs Node.js >= %d", bin, bytes.TrimSpace(out), MinNodeMajor)
	}
	return nil
}

// ensureDir uses a server directory given by the user, installing its
// dependencies in place when node_modules is missing.
func ensureDir(ctx context.Context, dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	script := filepath.Join(dir, "server.js")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("localnet: %s=%s: no server.js there: %w", EnvDir, dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "litesvm", "package.json")); err != nil {
		if err := npmInstall(ctx, dir); err != nil {
			return "", err
		}
	}
	return script, nil
}

// ensureCache extracts the embedded server under the user's cache directory:
//
//	$XDG_CACHE_HOME/epochledger/localnet-<hash of package.json + package-lock.json>/
//	    package.json, package-lock.json, node_modules/   (npm install, once per lock file)
//	    app-<hash of *.js>/server.js, ...                (once per server version)
//
// Node resolves require('litesvm') from app-*/ by walking up to node_modules.
// Both levels are built in a temporary directory and renamed into place, so
// concurrent test processes never see a half-installed tree.
func ensureCache(ctx context.Context) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	parent := filepath.Join(base, "epochledger")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("localnet: cache directory: %w", err)
	}
	manifests, scripts, err := embeddedFiles()
	if err != nil {
		return "", err
	}
	removeStaleTemps(parent, "localnet-*.tmp-*")
	root := filepath.Join(parent, "localnet-"+hashFiles(manifests))
	if _, err := os.Stat(root); err != nil {
		err := buildDir(parent, root, func(tmp string) error {
			if err := writeFiles(tmp, manifests); err != nil {
				return err
			}
			return npmInstall(ctx, tmp)
		})
		if err != nil {
			return "", err
		}
	}
	app := filepath.Join(root, "app-"+hashFiles(scripts))
	if _, err := os.Stat(app); err != nil {
		if err := buildDir(root, app, func(tmp string) error { return writeFiles(tmp, scripts) }); err != nil {
			return "", err
		}
	}
	return filepath.Join(app, "server.js"), nil
}

// buildDir fills a fresh temporary directory and renames it to final. Losing
// the race to another process is success.
func buildDir(parent, final string, fill func(tmp string) error) error {
	tmp, err := os.MkdirTemp(parent, filepath.Base(final)+".tmp-")
	if err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	if err := fill(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("localnet: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		if _, statErr := os.Stat(final); statErr == nil {
			return nil
		}
		return fmt.Errorf("localnet: install into %s: %w", final, err)
	}
	return nil
}

// removeStaleTemps deletes temporary install directories that an interrupted
// install left behind; an hour is far longer than any install takes.
func removeStaleTemps(parent, pattern string) {
	matches, _ := filepath.Glob(filepath.Join(parent, pattern))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.RemoveAll(m)
		}
	}
}

func embeddedFiles() (manifests, scripts map[string][]byte, err error) {
	manifests = map[string][]byte{}
	scripts = map[string][]byte{}
	entries, err := serverFiles.ReadDir("server")
	if err != nil {
		return nil, nil, fmt.Errorf("localnet: embedded server: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(serverFiles, path.Join("server", e.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("localnet: embedded server: %w", err)
		}
		if strings.HasSuffix(e.Name(), ".js") {
			scripts[e.Name()] = b
		} else {
			manifests[e.Name()] = b
		}
	}
	for _, name := range manifestFiles {
		if _, ok := manifests[name]; !ok {
			return nil, nil, fmt.Errorf("localnet: embedded server lacks %s", name)
		}
	}
	if _, ok := scripts["server.js"]; !ok {
		return nil, nil, errors.New("localnet: embedded server lacks server.js")
	}
	return manifests, scripts, nil
}

func hashFiles(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("localnet: %w", err)
		}
	}
	return nil
}

// npmInstall installs the tree package-lock.json pins (integrity-checked).
// It is `npm install --no-save` rather than `npm ci` because litesvm 1.5.0
// names optional native packages for platforms it never published
// (only litesvm-linux-x64-gnu exists at 1.5.0), so the lock file cannot list
// them and `npm ci` rejects it as out of sync; `npm install` honours the lock
// and leaves it unchanged. --prefer-offline lets a machine without network
// reuse npm's cache.
func npmInstall(ctx context.Context, dir string) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNPMNotFound, err)
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--no-save", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline", "--loglevel=error")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("localnet: npm install in %s: %w\n%s", dir, err, tail(out.Bytes(), 4096))
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "litesvm", "package.json")); err != nil {
		return fmt.Errorf("localnet: npm install in %s left no node_modules/litesvm: %w", dir, err)
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
