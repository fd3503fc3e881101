package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ExternalJob is one invocation of an external renderer.
type ExternalJob struct {
	// Template is the command line, e.g.
	// `blender -b {scene} -o {out} -F PNG -x 0 -f {frame}`. It is split into
	// arguments like a simple shell would (whitespace separates; '…' is
	// literal; "…" allows \" and \\; a backslash outside quotes escapes the
	// next character) but no shell is run. The placeholders {scene}, {frame},
	// {out}, {width} and {height} are then replaced inside each argument, so a
	// value containing spaces or quotes stays one argument and is never
	// re-interpreted.
	Template      string
	Scene         string
	Frame         int
	Out           string
	Width, Height int // only needed when the template uses {width}/{height}
}

// maxStderr is how much of the renderer's stderr an error message quotes.
const maxStderr = 2048

// RunExternal runs an external renderer for one frame (see ExternalJob for
// the template syntax) and returns the bytes of the file it wrote at out.
// The template must not use {width} or {height}; use RunExternalJob for that.
func RunExternal(ctx context.Context, template string, scene string, frame int, out string) ([]byte, error) {
	return RunExternalJob(ctx, ExternalJob{Template: template, Scene: scene, Frame: frame, Out: out})
}

// RunExternalJob runs j.Template without a shell, waits for it (killing it
// when ctx is cancelled) and returns the contents of j.Out. Any stale file at
// j.Out is removed first so an old output can never be reported as new.
func RunExternalJob(ctx context.Context, j ExternalJob) ([]byte, error) {
	args, err := SplitArgs(j.Template)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, errors.New("render: empty external render command")
	}
	if j.Out == "" {
		return nil, errors.New("render: external render needs an output path")
	}
	if j.Frame < 0 {
		return nil, fmt.Errorf("render: negative frame %d", j.Frame)
	}
	if strings.Contains(j.Template, "{width}") || strings.Contains(j.Template, "{height}") {
		if j.Width < 1 || j.Height < 1 {
			return nil, fmt.Errorf("render: template uses {width}/{height} but the size is %dx%d", j.Width, j.Height)
		}
	}
	rep := strings.NewReplacer( // single pass: substituted values are not re-expanded
		"{scene}", j.Scene,
		"{frame}", strconv.Itoa(j.Frame),
		"{out}", j.Out,
		"{width}", strconv.Itoa(j.Width),
		"{height}", strconv.Itoa(j.Height),
	)
	for i := range args {
		args[i] = rep.Replace(args[i])
	}

	if err := os.Remove(j.Out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("render: removing stale output: %w", err)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout = nil
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second // don't hang on children that keep pipes open
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("render: external renderer %s: %w", args[0], ctxErr)
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > maxStderr {
			msg = "…" + msg[len(msg)-maxStderr:]
		}
		if msg != "" {
			return nil, fmt.Errorf("render: external renderer %s: %w: %s", args[0], err, msg)
		}
		return nil, fmt.Errorf("render: external renderer %s: %w", args[0], err)
	}
	b, err := os.ReadFile(j.Out)
	if err != nil {
		return nil, fmt.Errorf("render: external renderer %s did not produce its output: %w", args[0], err)
	}
	return b, nil
}

// SplitArgs splits a command template into arguments: whitespace separates
// arguments; inside '…' everything is literal; inside "…" a backslash escapes
// only " and \; outside quotes a backslash escapes the next character.
// Adjacent quoted and unquoted parts join into one argument, and ” or ""
// yields an empty argument. No variables, globs or other shell features.
func SplitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case r == '\'':
			inArg = true
			end := indexRune(rs, i+1, '\'')
			if end < 0 {
				return nil, fmt.Errorf("render: unterminated ' in command template %q", s)
			}
			cur.WriteString(string(rs[i+1 : end]))
			i = end
		case r == '"':
			inArg = true
			i++
			for ; i < len(rs) && rs[i] != '"'; i++ {
				if rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
					i++
				}
				cur.WriteRune(rs[i])
			}
			if i >= len(rs) {
				return nil, fmt.Errorf("render: unterminated \" in command template %q", s)
			}
		case r == '\\':
			inArg = true
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
		default:
			inArg = true
			cur.WriteRune(r)
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

func indexRune(rs []rune, from int, r rune) int {
	for i := from; i < len(rs); i++ {
		if rs[i] == r {
			return i
		}
	}
	return -1
}
