package ninep

import (
	"hash/fnv"
	"os"
)

// idMap gives the numeric uid and gid that 9P2000.L wants for loom's user
// and group names. loom has no user database, so the numbers are made up,
// stably:
//
//   - the attaching user, and the group of the same name, are the uid and
//     gid of the process serving, so that the files one makes through a
//     Linux mount of loom are one's own;
//   - any other name is hashed (FNV-1a, 32 bits) into [1<<20, 1<<31), so
//     that different owners show as different numbers, the same name
//     always as the same one, and none as a system account;
//   - the empty name is "nobody", 65534.
type idMap struct {
	user string
	uid  uint32
	gid  uint32
}

// nobodyID is the uid and gid of an unnamed owner.
const nobodyID = 65534

func newIDMap(user string) *idMap {
	return &idMap{user: user, uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
}

func (m *idMap) userID(name string) uint32 {
	if name == m.user {
		return m.uid
	}
	return hashID(name)
}

func (m *idMap) groupID(name string) uint32 {
	if name == m.user {
		return m.gid
	}
	return hashID(name)
}

func hashID(name string) uint32 {
	if name == "" {
		return nobodyID
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return 1<<20 + h.Sum32()%(1<<31-1<<20)
}
