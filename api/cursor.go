package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// A cursor continues a page of events. It is opaque to clients: base64url (no padding)
// of a version byte, a hash of the query it belongs to, the position of the page's last
// event (its activityDateTime in Unix nanoseconds and its id) and a checksum of all that.
// The query hash makes a cursor from another query (other filters, order or endpoint) a
// 400 instead of a silently wrong page; the checksum catches a damaged or edited cursor.
// Neither is a secret: a forged position only selects events the caller may read anyway.

const (
	cursorVersion  = 1
	queryHashBytes = 8
	checksumBytes  = 8
	// maxCursorBytes bounds a cursor's text (an event id is a UUID; ids up to 256 bytes fit).
	maxCursorBytes = 512
)

// queryKey is the identity of a paged query: what a cursor may continue.
type queryKey struct {
	// Scope names the endpoint and its path parameters ("logs", "history\x00<id>").
	Scope string
	Query provisioning.EventQuery
	// Since is the relative window given instead of from (from then moves with the clock,
	// so it is the duration, not the time, that identifies the query).
	Since time.Duration
}

// hash returns the query hash of a cursor: every filter, the order and the scope, each
// length-prefixed so that no two different queries share an encoding.
func (k queryKey) hash() [queryHashBytes]byte {
	q := k.Query
	from := q.From
	if k.Since > 0 {
		from = time.Time{}
	}
	var b bytes.Buffer
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	nanos := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return strconv.FormatInt(t.UnixNano(), 10)
	}
	field(k.Scope)
	field(q.JobID)
	field(q.CycleID)
	field(q.ChangeID)
	field(q.Identity)
	field(strconv.FormatBool(q.IdentityPrefix))
	field(q.IdentityType)
	field(string(q.Action))
	field(string(q.Status))
	field(q.ErrorCode)
	field(nanos(from))
	field(nanos(q.To))
	field(k.Since.String())
	field(strconv.FormatBool(q.Ascending))
	sum := sha256.Sum256(b.Bytes())
	var h [queryHashBytes]byte
	copy(h[:], sum[:])
	return h
}

// encodeCursor returns the cursor continuing k after pos.
func encodeCursor(k queryKey, pos provisioning.EventPosition) string {
	h := k.hash()
	buf := make([]byte, 0, 1+queryHashBytes+8+len(pos.ID)+checksumBytes)
	buf = append(buf, cursorVersion)
	buf = append(buf, h[:]...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(pos.Time.UnixNano()))
	buf = append(buf, pos.ID...)
	sum := sha256.Sum256(buf)
	buf = append(buf, sum[:checksumBytes]...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// decodeCursor returns the position a cursor continues after, or a 400 "cursor: …"
// saying why the cursor cannot continue k.
func decodeCursor(k queryKey, s string) (provisioning.EventPosition, error) {
	if len(s) > maxCursorBytes {
		return provisioning.EventPosition{}, badRequest("cursor: %d characters is too long for a cursor of this API; pass nextCursor as returned", len(s))
	}
	buf, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return provisioning.EventPosition{}, badRequest("cursor: not a cursor of this API (not base64url); pass nextCursor as returned")
	}
	const fixed = 1 + queryHashBytes + 8 + checksumBytes
	if len(buf) < fixed+1 {
		return provisioning.EventPosition{}, badRequest("cursor: not a cursor of this API (too short); pass nextCursor as returned")
	}
	body, sum := buf[:len(buf)-checksumBytes], buf[len(buf)-checksumBytes:]
	want := sha256.Sum256(body)
	if !bytes.Equal(sum, want[:checksumBytes]) {
		return provisioning.EventPosition{}, badRequest("cursor: damaged or altered (checksum mismatch); pass nextCursor as returned")
	}
	if body[0] != cursorVersion {
		return provisioning.EventPosition{}, badRequest("cursor: version %d is not supported; start the query again without a cursor", body[0])
	}
	h := k.hash()
	if !bytes.Equal(body[1:1+queryHashBytes], h[:]) {
		return provisioning.EventPosition{}, badRequest("cursor: it belongs to another query; a cursor continues only the query (endpoint, filters and order) that returned it")
	}
	nanos := int64(binary.BigEndian.Uint64(body[1+queryHashBytes:]))
	id := string(body[1+queryHashBytes+8:])
	return provisioning.EventPosition{Time: time.Unix(0, nanos).UTC(), ID: id}, nil
}
