//go:build linux

package conn_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/shmring/shmring/conn"
)

// lookup is the example's store: it answers "get KEY".
func lookup(req []byte) []byte {
	key, _ := strings.CutPrefix(string(req), "get ")
	return []byte(key + "=1")
}

// A server and a client, here in one process; in practice two programs
// (examples/kv). The server serves each client with Serve; the client calls
// with a Client, from as many goroutines as it likes.
func Example() {
	ctx := context.Background()
	name := fmt.Sprintf("example-%d", os.Getpid()) // a name both know
	l, err := conn.Listen(name, conn.Config{})     // an abstract Unix socket: no file
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptContext(ctx) // one per client, handshake done
		if err != nil {
			return
		}
		defer c.Close()
		err = conn.Serve(ctx, c, func(ctx context.Context, req []byte) ([]byte, error) {
			return lookup(req), nil
		})
		if err != nil {
			log.Print(err)
		}
	}()

	c, err := conn.Dial(ctx, name, conn.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	reply, err := conn.NewClient(c).Call(ctx, []byte("get a")) // safe from many goroutines
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	// Output: a=1
}
