package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/peterh/liner"

	"loom/lang"
)

// contPrompt is the prompt for the lines of an unfinished command.
const contPrompt = "> "

// historyFile is where the interactive shell keeps its history:
// $XDG_STATE_HOME/loom/history, or ~/.local/state/loom/history.
func historyFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "loom", "history")
}

// interactive is the shell on a terminal: line editing, history kept
// across sessions, completion, a prompt naming the current system, a
// continuation prompt while a command is unfinished. Ctrl-C interrupts
// the running command (or drops the line being typed); Ctrl-D leaves.
func interactive(ctx context.Context, e *env) error {
	r := e.runner(os.Stdin, os.Stdout, os.Stderr)
	defer r.Close()

	// liner keeps the terminal raw from NewLiner to Close; commands run
	// with the modes the terminal had, so that host programs see a
	// terminal that echoes and edits lines.
	cooked, cookedErr := liner.TerminalMode()
	line := liner.NewLiner()
	defer line.Close()
	raw, rawErr := liner.TerminalMode()
	setMode := func(m liner.ModeApplier, err error) {
		if err == nil && cookedErr == nil && rawErr == nil {
			m.ApplyMode()
		}
	}
	line.SetCtrlCAborts(true)
	line.SetTabCompletionStyle(liner.TabPrints)
	line.SetWordCompleter(completer(r, e.client))

	hist := historyFile()
	if f, err := os.Open(hist); err == nil {
		line.ReadHistory(f)
		f.Close()
	}
	saveHistory := func() {
		if hist == "" || os.MkdirAll(filepath.Dir(hist), 0o700) != nil {
			return
		}
		if f, err := os.OpenFile(hist, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
			line.WriteHistory(f)
			f.Close()
		}
	}

	// Interrupts go to the running command, never to the shell, whose
	// own context (cancelled by main on the first interrupt) is set
	// aside; a terminate signal still ends the shell.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	base := context.WithoutCancel(ctx)
	var mu sync.Mutex
	var cancelCmd context.CancelFunc
	go func() {
		for s := range sigs {
			if s != os.Interrupt {
				line.Close() // gives the terminal back its modes
				os.Exit(1)
			}
			mu.Lock()
			if cancelCmd != nil {
				cancelCmd()
			}
			mu.Unlock()
		}
	}()

	var buf strings.Builder
	for {
		prompt := r.SystemName() + "% "
		if buf.Len() > 0 {
			prompt = contPrompt
		}
		text, err := line.Prompt(prompt)
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			buf.Reset()
			continue
		case err == io.EOF:
			fmt.Println()
			return nil
		case err != nil:
			return err
		}
		if strings.TrimSpace(text) != "" {
			line.AppendHistory(text)
			saveHistory()
		}
		buf.WriteString(text + "\n")
		f, err := lang.Parse([]byte(buf.String()), "")
		if lang.IsIncomplete(err) {
			continue
		}
		buf.Reset()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		cmdCtx, cancel := context.WithCancel(base)
		mu.Lock()
		cancelCmd = cancel
		mu.Unlock()
		setMode(cooked, cookedErr)
		err = r.Run(cmdCtx, f)
		setMode(raw, rawErr)
		mu.Lock()
		cancelCmd = nil
		mu.Unlock()
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "interrupted")
		}
		if r.Exited() {
			return nil
		}
	}
}
