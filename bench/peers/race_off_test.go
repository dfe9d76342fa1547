//go:build !race

package peers

const raceBuild = false
