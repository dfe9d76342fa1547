module github.com/shmring/shmring

go 1.26.0

require (
	github.com/loov/hrtime v1.0.3
	github.com/stretchr/testify v1.12.1
	golang.org/x/net v0.63.0
	golang.org/x/sys v0.50.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
