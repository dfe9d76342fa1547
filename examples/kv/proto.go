//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A request is one message of a call (conn.Client.Call), and the reply
// another: conn carries a message of any length and matches each reply to
// its call, so the encoding needs no framing and no request id of its own.
//
//	offset  size  field
//	0       1     op: 'g' get, 's' set, 'd' del
//	1       2     key length k, little-endian, 1 to 65535
//	3       k     key
//	3+k     rest  value: set only, of any length (0 too); get and del
//	              have nothing after the key
//
// The reply to a get is the value, byte for byte; to a set or a del, empty.
// A failure (errNoSuchKey, errBadRequest) is the handler's error: conn
// sends its text, and the client's Call returns it as a *conn.RemoteError.
type op byte

const (
	opGet op = 'g'
	opSet op = 's'
	opDel op = 'd'
)

const (
	headLen = 3         // op and key length
	maxKey  = 1<<16 - 1 // what the key length's two bytes hold
)

var (
	// errNoSuchKey: a get or a del of a key the store does not have.
	errNoSuchKey = errors.New("no such key")
	// errBadRequest: a message that is not a request: too short for its
	// head or its key, an op that is none of the three, bytes after the
	// key of a get or a del.
	errBadRequest = errors.New("kv: bad request")
	// errKeyLength: a key that is empty or longer than maxKey bytes.
	errKeyLength = errors.New("kv: key length out of range")
)

type request struct {
	op         op
	key, value []byte
}

// appendRequest appends r's encoding to b.
func appendRequest(b []byte, r request) ([]byte, error) {
	if len(r.key) == 0 || len(r.key) > maxKey {
		return nil, fmt.Errorf("%w: %d bytes, want 1 to %d", errKeyLength, len(r.key), maxKey)
	}
	if r.op != opSet && len(r.value) > 0 {
		return nil, fmt.Errorf("%w: op %q carries no value, got %d bytes", errBadRequest, r.op, len(r.value))
	}
	b = append(b, byte(r.op))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.key)))
	b = append(b, r.key...)
	return append(b, r.value...), nil
}

// parseRequest decodes one request. Its key and value are b's bytes, not
// copies: they live as long as b does.
func parseRequest(b []byte) (request, error) {
	if len(b) < headLen {
		return request{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte head", errBadRequest, len(b), headLen)
	}
	r := request{op: op(b[0])}
	if r.op != opGet && r.op != opSet && r.op != opDel {
		return request{}, fmt.Errorf("%w: op %q", errBadRequest, b[0])
	}
	k := int(binary.LittleEndian.Uint16(b[1:]))
	if k == 0 {
		return request{}, fmt.Errorf("%w: 0 bytes, want 1 to %d", errKeyLength, maxKey)
	}
	if len(b) < headLen+k {
		return request{}, fmt.Errorf("%w: a %d-byte key in a %d-byte request", errBadRequest, k, len(b))
	}
	r.key, r.value = b[headLen:headLen+k], b[headLen+k:]
	if r.op != opSet && len(r.value) > 0 {
		return request{}, fmt.Errorf("%w: %d bytes after the key of op %q", errBadRequest, len(r.value), r.op)
	}
	return r, nil
}
