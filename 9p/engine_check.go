package ninep

import (
	"encoding/binary"
	"errors"

	"9fans.net/go/plan9"
)

// Errors for messages whose framing is intact but whose body is not a
// well-formed T-message. Each is answered by an Rerror with the
// message's tag.
var (
	errBadType      = errors.New("unknown message type")
	errRMessage     = errors.New("R-message sent to server")
	errTerror       = errors.New("Terror is not a message")
	errMalformed    = errors.New("malformed message")
	errShort        = errors.New("message too short for its type")
	errTrailing     = errors.New("trailing bytes after message")
	errTooManyNames = errors.New("too many names in walk")
)

// msgCursor walks the body of a message, noting when it runs short.
type msgCursor struct {
	b     []byte
	short bool
}

func (m *msgCursor) skip(n int) {
	if len(m.b) < n {
		m.short = true
		m.b = nil
		return
	}
	m.b = m.b[n:]
}

func (m *msgCursor) u16() uint16 {
	if len(m.b) < 2 {
		m.short = true
		m.b = nil
		return 0
	}
	v := binary.LittleEndian.Uint16(m.b)
	m.b = m.b[2:]
	return v
}

func (m *msgCursor) u32() uint32 {
	if len(m.b) < 4 {
		m.short = true
		m.b = nil
		return 0
	}
	v := binary.LittleEndian.Uint32(m.b)
	m.b = m.b[4:]
	return v
}

func (m *msgCursor) str() { m.skip(int(m.u16())) }

// checkMsg checks that b, a whole message whose size field has already
// been found sane (7 <= size, len(b) == size), is a T-message laid out
// exactly as intro(5) says: known type, every count within the message,
// no bytes left over. What passes decodes with plan9.UnmarshalFcall
// without its complaint on standard error, which hostile input would
// otherwise provoke at will.
func checkMsg(b []byte) error {
	m := msgCursor{b: b[7:]}
	switch t := b[4]; t {
	case plan9.Tversion:
		m.skip(4)
		m.str()
	case plan9.Tauth:
		m.skip(4)
		m.str()
		m.str()
	case plan9.Tattach:
		m.skip(8)
		m.str()
		m.str()
	case plan9.Tflush:
		m.skip(2)
	case plan9.Twalk:
		m.skip(8)
		n := m.u16()
		if m.short {
			break
		}
		if n > plan9.MAXWELEM {
			return errTooManyNames
		}
		for range n {
			m.str()
		}
	case plan9.Topen:
		m.skip(5)
	case plan9.Tcreate:
		m.skip(4)
		m.str()
		m.skip(5)
	case plan9.Tread:
		m.skip(16)
	case plan9.Twrite:
		m.skip(12)
		m.skip(int(m.u32()))
	case plan9.Tclunk, plan9.Tremove, plan9.Tstat:
		m.skip(4)
	case plan9.Twstat:
		m.skip(4)
		m.skip(int(m.u16()))
	case plan9.Terror:
		return errTerror
	default:
		if t > plan9.Tversion && t < plan9.Tmax && t&1 == 1 {
			return errRMessage
		}
		return errBadType
	}
	switch {
	case m.short:
		return errShort
	case len(m.b) != 0:
		return errTrailing
	}
	return nil
}
