// Command consumer receives and checks the messages of a producer process
// through a shmring ring, and reports throughput and one-way latency. Run
// "consumer -h" for the flags.
package main

import (
	"flag"
	"os"

	"github.com/shmring/shmring/internal/app"
)

func main() {
	var cfg app.Config
	fs := app.FlagSet(app.Consumer, &cfg, flag.ExitOnError)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: exits 2 on a bad flag, 0 after -h
	os.Exit(app.Run(app.Consumer, cfg, fs.Args(), os.Stdout, os.Stderr))
}
