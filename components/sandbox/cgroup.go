package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupRoot is where the cgroup file systems are mounted; a variable so
// that a test can make every cgroup unwritable, or lay out a cgroup2
// tree of its own.
var cgroupRoot = "/sys/fs/cgroup"

// cgroupV2 reports whether root is a cgroup2 (unified) hierarchy rather
// than a directory of v1 controllers.
func cgroupV2(root string) bool {
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return err == nil
}

// cgroups are the control groups of one box and what each limit is held
// by.
type cgroups struct {
	v2      bool
	made    []string // directories to remove, deepest last
	freezer string   // the directory whose freezer stops the box, "" for none
	// held says, per limit, how it is enforced ("cgroup v1 memory.limit_in_bytes").
	held map[string]string
	// rlimit are the limits no cgroup took, to be set by the box's init.
	rlimit Limits
	// pids is the directory whose pids.max holds the process limit.
	pids string
	// reserved is what the box's own init and spawner take of pids.max.
	reserved int64
}

// pidsSlack is what the box's own processes may grow by, in threads, on
// top of what they have when the box is ready.
const pidsSlack = 4

// provisionalPids is pids.max, on top of the limit, until the box is
// ready and reserve knows what its own processes take.
const provisionalPids = 64

// reserve raises pids.max by what the box's own processes (its init
// and spawner, Go programs with threads, which the controller counts)
// take now, and a little slack, so that the limit is the programs'.
func (c *cgroups) reserve(l Limits) error {
	if c.pids == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.pids, "pids.current"))
	if err != nil {
		return err
	}
	cur, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return err
	}
	c.reserved = cur + pidsSlack
	return os.WriteFile(filepath.Join(c.pids, "pids.max"), []byte(strconv.FormatInt(int64(l.Processes)+c.reserved, 10)), 0)
}

// cpuShares is the cgroup v1 cpu.shares for a weight (v2's scale: 1 to
// 10000, 100 the default), whose default is 1024.
func cpuShares(w int) int64 { return max(2, int64(w)*1024/100) }

// niceFor is the nice value that gives about the share a weight asks
// for, where no cpu cgroup is writable: each step of nice is about a
// factor of 1.25 in the scheduler's weight. Nice only goes up without
// privilege, so a weight above the default is the default.
func niceFor(w int) int {
	if w <= 0 || w >= 100 {
		return 0
	}
	return min(19, int(math.Round(math.Log(100/float64(w))/math.Log(1.25))))
}

// makeCgroups makes the cgroups of the box whose init is pid under root,
// sets the limits l in them and moves pid in. A limit whose controller
// is not writable is left for rlimits (or nice, for cpu); a freezer is
// made whether or not limits are asked for, so that the box can be
// paused. The caller removes c.made whatever happens.
func makeCgroups(root string, pid int, l Limits) *cgroups {
	c := &cgroups{v2: cgroupV2(root), held: map[string]string{}}
	name := "loom-" + strconv.Itoa(pid)
	type limit struct {
		what, ctl, file string
		v               int64
	}
	if c.v2 {
		// One directory holds every controller; the parent must hand
		// them down first. A controller it cannot is left to rlimits.
		os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0)
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0755); err != nil {
			c.rlimit = l
			return c
		}
		c.made = append(c.made, dir)
		for _, s := range []limit{
			{"memory", "", "memory.max", l.Memory},
			{"processes", "", "pids.max", int64(l.Processes) + provisionalPids},
			{"cpu", "", "cpu.weight", int64(l.CPU)},
		} {
			if s.v == 0 {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, s.file), []byte(strconv.FormatInt(s.v, 10)), 0); err != nil {
				c.rlimit.set(s.what, l.get(s.what))
				continue
			}
			if s.what == "memory" {
				// Refuse rather than swap.
				os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
			}
			c.held[s.what] = "cgroup v2 " + s.file
			if s.what == "processes" {
				c.pids = dir
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			c.rlimit, c.held = l, map[string]string{}
			return c
		}
		// Every kernel with cgroup2's freezer has cgroup.freeze in each
		// group but the root.
		c.freezer = dir
		return c
	}
	for _, s := range []limit{
		{"memory", "memory", "memory.limit_in_bytes", l.Memory},
		{"processes", "pids", "pids.max", int64(l.Processes) + provisionalPids},
		{"cpu", "cpu", "cpu.shares", cpuShares(l.CPU)},
		{"freeze", "freezer", "", 0},
	} {
		if s.what == "cpu" && l.CPU == 0 || s.what != "cpu" && s.what != "freeze" && s.v == 0 ||
			s.what == "processes" && l.Processes == 0 {
			continue
		}
		dir, err := joinV1(root, s.ctl, name, s.file, s.v, pid)
		if dir != "" {
			c.made = append(c.made, dir)
		}
		switch {
		case s.what == "freeze":
			if err == nil {
				c.freezer = dir
			}
		case err != nil:
			c.rlimit.set(s.what, l.get(s.what))
		default:
			c.held[s.what] = "cgroup v1 " + s.file
			if s.what == "processes" {
				c.pids = dir
			}
		}
	}
	return c
}

// set sets the limit named what.
func (l *Limits) set(what string, v int64) {
	switch what {
	case "memory":
		l.Memory = v
	case "processes":
		l.Processes = int(v)
	case "cpu":
		l.CPU = int(v)
	}
}

// get is the limit named what.
func (l Limits) get(what string) int64 {
	switch what {
	case "memory":
		return l.Memory
	case "processes":
		return int64(l.Processes)
	case "cpu":
		return int64(l.CPU)
	}
	return 0
}

// joinV1 makes the v1 cgroup name under the controller ctl, writes v to
// its file (none when file is "") and moves pid in. It returns the
// directory if it made it.
func joinV1(root, ctl, name, file string, v int64, pid int) (string, error) {
	dir := filepath.Join(root, ctl, name)
	if err := os.Mkdir(dir, 0755); err != nil {
		return "", err
	}
	if file != "" {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			return dir, err
		}
		if ctl == "memory" {
			// Without this the kernel swaps instead of refusing; it is
			// absent when swap accounting is off.
			os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(v, 10)), 0)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return dir, err
	}
	return dir, nil
}

// freeze stops (or, with !on, lets go) every process of the cgroup, and
// returns once the kernel says it is done.
func (c *cgroups) freeze(on bool) error {
	file, val, done := "freezer.state", "FROZEN", "FROZEN"
	if !on {
		val, done = "THAWED", "THAWED"
	}
	if c.v2 {
		file, val, done = "cgroup.freeze", "1", "frozen 1"
		if !on {
			val, done = "0", "frozen 0"
		}
	}
	if err := os.WriteFile(filepath.Join(c.freezer, file), []byte(val), 0); err != nil {
		return err
	}
	// v1 passes through FREEZING, v2 reports in cgroup.events: a task
	// in the middle of a system call is frozen when it returns.
	check := filepath.Join(c.freezer, file)
	if c.v2 {
		check = filepath.Join(c.freezer, "cgroup.events")
	}
	for i := 0; ; i++ {
		b, err := os.ReadFile(check)
		if err != nil {
			return err
		}
		if c.v2 && bytes.Contains(b, []byte(done)) || !c.v2 && strings.TrimSpace(string(b)) == done {
			return nil
		}
		if i == 5000 {
			return fmt.Errorf("%s: still %q", check, strings.TrimSpace(string(b)))
		}
		time.Sleep(time.Millisecond)
	}
}

// remove removes the cgroups, deepest first, once their last process,
// which may still be dying, has left them.
func (c *cgroups) remove() error {
	var errs []error
	for i := len(c.made) - 1; i >= 0; i-- {
		errs = append(errs, removeCgroup(c.made[i]))
	}
	return errors.Join(errs...)
}

// removeCgroup removes a cgroup once its last process has left it.
func removeCgroup(dir string) error {
	var err error
	for i := 0; i < 500; i++ {
		err = os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}
