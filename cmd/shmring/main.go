// Command shmring lists, inspects, creates and removes shmring rings (and,
// with ls -a, every SysV shared memory segment); ls also lists the
// connections of package conn, put together from their rings' labels. Run
// "shmring -h" for the subcommands.
package main

import (
	"os"

	"github.com/shmring/shmring/internal/app"
)

func main() {
	// The subcommands parse their own flags.
	os.Exit(app.Shmring(os.Args[1:], os.Stdout, os.Stderr))
}
