// Command goredis-overlay writes go-redis v8.11.5 with its connection pool
// running on shardpool, for a module to use in place of go-redis's own.
//
// Usage, from contrib/goredis in a shardpool checkout:
//
//	go run ./cmd/goredis-overlay -out DIR [-shardpool DIR]
//
// It fetches github.com/go-redis/redis/v8@v8.11.5 with `go mod download`,
// copies it to the -out directory, replaces its internal/pool ConnPool by
// an adapter over shardpool (see package overlay), and makes the copy
// require shardpool from the checkout. Then it prints, on standard output,
// the commands that point a module at the overlay:
//
//	go mod edit -replace github.com/go-redis/redis/v8=DIR
//	go mod edit -replace github.com/shardpool/shardpool=CHECKOUT
//	go mod tidy
//
// Progress goes to standard error. The flags are:
//
//	-out DIR        where to write the overlay (required). It is created;
//	                if it exists it must be empty or hold an overlay this
//	                command wrote, which is replaced.
//	-shardpool DIR  the shardpool checkout the overlay uses. Default: the
//	                nearest directory at or above the working directory
//	                whose go.mod declares module github.com/shardpool/shardpool.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/shardpool/shardpool/contrib/goredis/overlay"
)

func main() {
	out := flag.String("out", "", "`DIR`ectory to write the overlay to (required; created, or replaced if it holds an earlier overlay)")
	sp := flag.String("shardpool", "", "the shardpool checkout (`DIR`) the overlay uses (default: found above the working directory)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: goredis-overlay -out DIR [-shardpool DIR]\n\n"+
			"Writes go-redis %s with its connection pool running on shardpool, and prints\n"+
			"the go mod commands that make a module use it.\n\n", overlay.GoRedisVersion)
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out, *sp); err != nil {
		fmt.Fprintln(os.Stderr, "goredis-overlay:", err)
		os.Exit(1)
	}
}

func run(out, sp string) error {
	if out == "" || flag.NArg() > 0 {
		flag.Usage()
		return errors.New("-out is required, and there are no arguments")
	}
	if sp == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if sp, err = overlay.FindShardpool(wd); err != nil {
			return err
		}
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if sp, err = filepath.Abs(sp); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := overlay.Write(ctx, overlay.Config{Out: out, Shardpool: sp, Log: os.Stderr}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "overlay written to %s; in your module, run:\n", out)
	fmt.Print(overlay.Instructions(out, sp))
	return nil
}
