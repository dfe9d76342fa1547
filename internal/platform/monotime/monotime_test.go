package monotime_test

import (
	"testing"

	"github.com/shmring/shmring/internal/platform/monotime"
)

func TestAdvances(t *testing.T) {
	a := monotime.Now()
	for monotime.Now() == a {
	}
}

func BenchmarkNow(b *testing.B) {
	for b.Loop() {
		monotime.Now()
	}
}
