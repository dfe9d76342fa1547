package ringtest

// Children is children, for the tests of package ringtest_test.
var Children = children
