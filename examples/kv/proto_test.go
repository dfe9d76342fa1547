//go:build linux

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRequestRoundTrip: what appendRequest encodes, parseRequest decodes
// to the same request, keys from one byte to maxKey and values empty or
// long.
func TestRequestRoundTrip(t *testing.T) {
	for _, r := range []request{
		{op: opGet, key: []byte("k")},
		{op: opDel, key: []byte("some/key")},
		{op: opSet, key: []byte("k"), value: []byte{}},
		{op: opSet, key: bytes.Repeat([]byte("k"), maxKey), value: bytes.Repeat([]byte("v"), 1<<20)},
	} {
		b, err := appendRequest(nil, r)
		require.NoError(t, err)
		require.Len(t, b, headLen+len(r.key)+len(r.value))
		got, err := parseRequest(b)
		require.NoError(t, err)
		require.Equal(t, r.op, got.op)
		require.Equal(t, r.key, got.key)
		require.Equal(t, len(r.value), len(got.value))
		require.True(t, bytes.Equal(r.value, got.value))
	}
}

// TestBadRequests: each way a message can fail to be a request, or a
// request fail to be encoded, has its error, which names what it saw.
func TestBadRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want error
		text string
	}{
		{"empty", "", errBadRequest, "0 bytes"},
		{"short head", "g\x01", errBadRequest, "2 bytes"},
		{"unknown op", "x\x01\x00k", errBadRequest, `op 'x'`},
		{"empty key", "g\x00\x00", errKeyLength, "0 bytes"},
		{"key past the end", "g\x05\x00abc", errBadRequest, "a 5-byte key in a 6-byte request"},
		{"get with a value", "g\x01\x00kv", errBadRequest, "1 bytes after the key of op 'g'"},
		{"del with a value", "d\x01\x00kvv", errBadRequest, "2 bytes after the key of op 'd'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRequest([]byte(tc.msg))
			require.ErrorIs(t, err, tc.want)
			require.ErrorContains(t, err, tc.text)
		})
	}
	for _, tc := range []struct {
		name string
		r    request
		want error
	}{
		{"empty key", request{op: opGet}, errKeyLength},
		{"key too long", request{op: opGet, key: make([]byte, maxKey+1)}, errKeyLength},
		{"get with a value", request{op: opGet, key: []byte("k"), value: []byte("v")}, errBadRequest},
	} {
		t.Run("encode "+tc.name, func(t *testing.T) {
			_, err := appendRequest(nil, tc.r)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// TestHandle: the store's handler, one request after another: a set is
// seen by the next get, a missing key is errNoSuchKey for get and del, a
// bad request is refused, and a stored value does not change when the
// request it came in is overwritten (the ring reuses its bytes).
func TestHandle(t *testing.T) {
	s := newStore()
	call := func(r request) ([]byte, error) {
		t.Helper()
		msg, err := appendRequest(nil, r)
		require.NoError(t, err)
		reply, err := s.handle(context.Background(), msg)
		clear(msg) // what the ring does to a request's bytes, sooner or later
		return reply, err
	}
	key := []byte("greeting")
	_, err := call(request{op: opGet, key: key})
	require.ErrorIs(t, err, errNoSuchKey)
	reply, err := call(request{op: opSet, key: key, value: []byte("hello")})
	require.NoError(t, err)
	require.Empty(t, reply)
	reply, err = call(request{op: opGet, key: key})
	require.NoError(t, err)
	require.Equal(t, "hello", string(reply))
	_, err = call(request{op: opSet, key: key, value: []byte{}})
	require.NoError(t, err)
	reply, err = call(request{op: opGet, key: key})
	require.NoError(t, err)
	require.Empty(t, reply, "an empty value is a value")
	_, err = call(request{op: opDel, key: key})
	require.NoError(t, err)
	_, err = call(request{op: opDel, key: key})
	require.ErrorIs(t, err, errNoSuchKey)
	_, err = call(request{op: opGet, key: key})
	require.ErrorIs(t, err, errNoSuchKey)

	_, err = s.handle(context.Background(), []byte("?"))
	require.ErrorIs(t, err, errBadRequest)
	require.Empty(t, s.m, "a bad request changes nothing")
}

// TestUsage: a command that is none, or arguments a command does not take,
// is exit status 2 and a message, before anything is dialed.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"put", "k", "v"},
		{"get"},
		{"get", "a", "b"},
		{"set", "k", "v", "extra"},
		{"serve", "extra"},
		{"bench", "-n"},
		{"bench", "-g", "0"},
		{"bench", "-size", "-1"},
	} {
		var stdout, stderr strings.Builder
		require.Equal(t, 2, run(args, strings.NewReader(""), &stdout, &stderr), "kv %q", args)
		require.Empty(t, stdout.String())
		require.NotEmpty(t, stderr.String(), "kv %q says what was wrong", args)
	}
}
