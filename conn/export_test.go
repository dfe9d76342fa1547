package conn

// SetTestHookQuit sets the function quit runs between its two steps, and
// returns a function that puts the old one back.
func SetTestHookQuit(f func()) (restore func()) {
	old := testHookQuit
	testHookQuit = f
	return func() { testHookQuit = old }
}
