module github.com/shmring/shmring/bench/peers

go 1.26.0

require github.com/shmring/shmring v0.0.0

require golang.org/x/sys v0.50.0 // indirect

replace github.com/shmring/shmring => ../..
