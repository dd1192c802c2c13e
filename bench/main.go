// Command bench is conductor's load harness: a fast fake upstream, a load
// driver (vegeta as a library) and the measurements of issue 14, side by
// side for `conductor serve`, the fake itself (direct), nginx and any
// OpenAI-compatible gateway at a URL.
//
//	go run ./bench run [--targets direct,conductor,nginx,URL...] [--scenario NAME] [--quick] [--pprof]
//	go run ./bench soak [--duration 10m --rate 200 --fault-rate 0.01]
//
// bench/RESULTS.md holds a full run and how to read it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `usage:
  bench run  [--targets direct,conductor,nginx,URL...] [--scenario NAME,...] [--quick] [--pprof] [flags]
  bench soak [--duration 10m] [--rate N] [--fault-rate 0.01] [flags]
Run "bench run -h" or "bench soak -h" for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New(usageText)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "run":
		o, err := parseRun(args[1:], stderr)
		if err != nil {
			return usageErr(err)
		}
		return runBench(ctx, o, stdout, stderr)
	case "soak":
		o, err := parseSoak(args[1:], stderr)
		if err != nil {
			return usageErr(err)
		}
		return runSoak(ctx, o, stdout, stderr)
	case "fake":
		return serveFake(ctx, args[1:], stderr)
	default:
		return errUsage
	}
}

func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w%v", errUsage, err)
}
