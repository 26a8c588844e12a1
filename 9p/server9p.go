package ninep

import (
	"context"
	"io"
)

// serve9P serves a 9P2000 connection whose first message, raw, has been
// read from r already. (Being written.)
func (s *Server) serve9P(ctx context.Context, c io.ReadWriteCloser, r io.Reader, raw []byte) error {
	c.Close()
	return nil
}
