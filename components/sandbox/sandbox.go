package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"loom/ns"
)

// Network says what network a sandboxed process has.
type Network int

const (
	// NoNetwork is a network namespace of its own with no interface up.
	NoNetwork Network = iota
	// Loopback is a network namespace of its own with lo up.
	Loopback
	// HostNetwork is the host's network namespace.
	HostNetwork
)

// Limits bounds what the processes of a box may use together; a zero
// field is no limit.
type Limits struct {
	Memory    int64 // bytes
	Processes int
	// CPU is a share of the processor against other work, on cgroup
	// v2's scale of weights: 1 to 10000, 100 being everyone's default.
	CPU int
}

// Config describes a process to start in a sandbox of its own.
type Config struct {
	Root    ns.FS  // the file system the process sees as /
	User    string // the user Root is attached as
	Argv    []string
	Env     []string
	Dir     string // working directory inside, "/" if empty
	Network Network
	Limits  Limits
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// The environment of the re-executed binary: initEnv selects the step,
// configEnv carries its part of the configuration.
const (
	initEnv   = "LOOM_SANDBOX_INIT"
	configEnv = "LOOM_SANDBOX_CONFIG"
)

// noPreempt turns off the runtime's preemption signal in the init and
// the exec step. A signal interrupts a FUSE request in flight, and an
// execve whose loader read is interrupted fails with ELIBBAD instead of
// being restarted.
const noPreempt = "GODEBUG=asyncpreemptoff=1"

// Start starts cfg.Argv in a box of its own (see New), which ends when
// the program has exited and been waited for, or is killed.
func Start(cfg Config) (*Process, error) {
	if len(cfg.Argv) == 0 {
		return nil, errors.New("sandbox: no program")
	}
	b, err := New(BoxConfig{Root: cfg.Root, User: cfg.User, Network: cfg.Network, Limits: cfg.Limits})
	if err != nil {
		return nil, err
	}
	p, err := b.Start(cfg.Argv, cfg.Env, cfg.Dir, cfg.Stdin, cfg.Stdout, cfg.Stderr)
	if err != nil {
		b.Close()
		return nil, err
	}
	p.own = true
	return p, nil
}

// Init runs the sandbox's steps when the binary was started by Start,
// and never returns then; otherwise it returns at once. Call it first
// thing in main (or TestMain).
func Init() {
	var err error
	switch os.Getenv(initEnv) {
	case "":
		return
	case "init":
		err = runInit()
	case "spawner":
		err = runSpawner()
	case "exec":
		err = runExec()
	default:
		err = errors.New("unknown step")
	}
	fmt.Fprintf(os.Stderr, "sandbox: %s: %v\n", os.Getenv(initEnv), err)
	os.Exit(127)
}

// CheckInit returns an error unless the process is PID 1 in a user
// namespace other than the host's: the only place where the init may
// mount and pivot without touching the host.
func CheckInit() error {
	if os.Getpid() != 1 {
		return fmt.Errorf("sandbox: init refuses to run as pid %d, not 1", os.Getpid())
	}
	m, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return fmt.Errorf("sandbox: init cannot tell its user namespace: %w", err)
	}
	if strings.Join(strings.Fields(string(m)), " ") == "0 0 4294967295" {
		return errors.New("sandbox: init refuses to run in the host's user namespace")
	}
	return nil
}
