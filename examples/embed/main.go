// Command embed runs an ensemble from a Go program with the same wiring as
// `conductor run`: the config file, the built-in gateway, the step cache,
// prices and the route checks (package runner).
//
//	go run ./examples/embed                                  # examples/quickstart.yaml, offline
//	go run ./examples/embed flow.yaml '{"question": "Why is the sky blue?"}'
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/conductor-go/conductor/runner"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	file, input := "examples/quickstart.yaml", any(nil)
	if len(os.Args) > 1 {
		file = os.Args[1]
	}
	if len(os.Args) > 2 {
		if err := json.Unmarshal([]byte(os.Args[2]), &input); err != nil {
			return fmt.Errorf("input: %w", err)
		}
	}

	// The whole embedding: open once, run as often as needed, close.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := runner.Open(ctx, runner.Options{Config: os.Getenv("CONDUCTOR_CONFIG"), Data: ".conductor", Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Run(ctx, file, input)
	if err != nil {
		return err
	}

	for _, m := range res.Members {
		fmt.Printf("%-20s %-14s %s/%s\n", m.Member, m.Status, m.Provider, m.Model)
	}
	out, err := json.MarshalIndent(res.Output, "", "  ")
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", out)
	return nil
}
