// Command conductor runs AI ensembles and the AI gateway behind them.
//
//	conductor run examples/quickstart.yaml --trace
//	conductor validate examples/*.yaml
//
// Exit status: 0 on success, 1 when a run failed, 2 for usage, ensemble or
// configuration errors, 130 when Ctrl-C (143: SIGTERM) stopped a command. Errors are one readable message on stderr, never a
// stack trace.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// execute runs the command line args and returns the exit status. SIGINT
// and SIGTERM cancel the context, which stops in-flight model calls; a
// command that then fails exits 128 + the signal's number (130 for
// Ctrl-C), as a shell reports a process the signal ended.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var got atomic.Value // the signal received, a syscall.Signal
	go func() {
		select {
		case s := <-sigs:
			got.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		if code == exitOK {
			return // serve stops cleanly on a signal
		}
		if s, ok := got.Load().(syscall.Signal); ok {
			fmt.Fprintf(stderr, "conductor: interrupted (%v)\n", s)
			code = 128 + int(s)
		}
	}()
	// A bug must not greet the user with a goroutine dump.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "conductor: internal error: %v (please report it)\n", r)
			code = exitFailure
		}
	}()

	root, reached := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if !*reached {
		// Cobra refused the command line before any command ran: an
		// unknown command or flag, or the wrong number of arguments.
		fmt.Fprintf(stderr, "conductor: %v\nRun 'conductor --help' for usage.\n", err)
		return exitInvalid
	}
	if text := errorText(err); text != "" {
		fmt.Fprintf(stderr, "conductor: %s\n", text)
	}
	return exitCode(err)
}

// newRootCmd builds the command tree. reached turns true once a command's
// own code starts, which tells usage errors (exit 2) from failures.
func newRootCmd() (*cobra.Command, *bool) {
	reached := new(bool)
	root := &cobra.Command{
		Use:   "conductor",
		Short: "Run AI ensembles through Workers AI, OpenAI, Anthropic and Groq, with a built-in AI gateway",
		Long: `Conductor runs ensembles: YAML flows whose members call AI models through three
routing modes (cloudflare, cloudflare-gateway, direct), with conditions,
retries, scoring and a persistent step cache.

Start offline with the mock provider:

  conductor run examples/quickstart.yaml --trace`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			*reached = true
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(newRunCmd(), newValidateCmd(), newFmtCmd(), newSchemaCmd(), newVersionCmd())
	root.AddCommand(newStatsCmd(), newCacheCmd(), newDoctorCmd())
	root.AddCommand(newServeCmd(), newKeysCmd())
	return root, reached
}
