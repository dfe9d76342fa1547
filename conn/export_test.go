package conn

// SetTestHookQuit sets the function quit runs between its two steps, and
// returns a function that puts the old one back.
func SetTestHookQuit(f func()) (restore func()) {
	old := testHookQuit
	testHookQuit = f
	return func() { testHookQuit = old }
}

// SetTestHookNotAlone sets the function a call that is not made alone runs
// before it registers, and returns a function that puts the old one back.
func SetTestHookNotAlone(f func()) (restore func()) {
	old := testHookNotAlone
	testHookNotAlone = f
	return func() { testHookNotAlone = old }
}

// SetTestHookFast sets the function a call runs once it has taken the turn
// from the fast mode, and returns a function that puts the old one back.
func SetTestHookFast(f func()) (restore func()) {
	old := testHookFast
	testHookFast = f
	return func() { testHookFast = old }
}

// SetTestHookSent sets the function a call that is not made alone runs
// once it has sent its request, and returns a function that puts the old
// one back.
func SetTestHookSent(f func()) (restore func()) {
	old := testHookSent
	testHookSent = f
	return func() { testHookSent = old }
}
