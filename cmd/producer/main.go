// Command producer sends numbered, timestamped, checksummed messages through
// a shmring ring to a consumer process. Run "producer -h" for the flags.
package main

import (
	"flag"
	"os"

	"github.com/shmring/shmring/internal/app"
)

func main() {
	var cfg app.Config
	fs := app.FlagSet(app.Producer, &cfg, flag.ExitOnError)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: exits 2 on a bad flag, 0 after -h
	os.Exit(app.Run(app.Producer, cfg, fs.Args(), os.Stdout, os.Stderr))
}
