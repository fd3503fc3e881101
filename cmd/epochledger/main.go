// Command epochledger is the event-sourced ledger and weekly epoch
// settlement engine of a GPU rendering network running
// Burn-Mint-Equilibrium on Solana.
//
// Exit codes: 0 success, 1 refused input or failed check (the message names
// the line, event, field and rule), 2 usage errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand; each lives in its own file.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// env is what every command gets: its streams and the environment.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError is a misuse of the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// silentError carries an exit code for a failure already reported.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return exitCode(e, c.run(ctx, e, []string{"--help"}))
			}
		}
		printUsage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(e.stdout, "epochledger", version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "epochledger: unknown command %q\n\n", args[0])
		printUsage(e.stderr)
		return 2
	}
	return exitCode(e, c.run(ctx, e, args[1:]))
}

const version = "0.1.0"

func exitCode(e *env, err error) int {
	if err == nil {
		return 0
	}
	var se *silentError
	if errors.As(err, &se) {
		return se.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(e.stderr, "epochledger:", ue.msg)
		return 2
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	fmt.Fprintln(e.stderr, "epochledger:", err)
	return 1
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `epochledger — event-sourced ledger and weekly BME settlement for a GPU rendering network

Usage: epochledger <command> [flags] [args]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Every command takes --data DIR (embedded store, default ./data; env EPOCHLEDGER_DATA)
or --store URL (esdb://… or postgres://…; env EPOCHLEDGER_STORE), and --json for machine-readable output.
Exit status: 0 success, 1 refused input or failed check, 2 usage error.
Run 'epochledger <command> --help' for a command's flags.
`)
	_ = strings.TrimSpace
}
