package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux architecture Go supports).
const clockTicks = 100

// controllerProc is one controller process the harness started.
type controllerProc struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProc(name, logPath string, env []string, bin string, args ...string) (*controllerProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &controllerProc{Name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *controllerProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHealthy polls url until it answers 200, the process exits or timeout.
func (p *controllerProc) waitHealthy(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %v; see %s", p.Name, p.err, p.log)
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy at %s after %s; see %s", p.Name, url, timeout, p.log)
}

// procStats are a process's CPU time and resident memory from /proc.
type procStats struct {
	CPU     time.Duration // user + system
	RSS     int64         // bytes, now
	PeakRSS int64         // bytes, high-water mark (VmHWM)
}

func (p *controllerProc) stats() (procStats, error) {
	if p.exited() {
		return procStats{}, fmt.Errorf("%s exited: %v; see %s", p.Name, p.err, p.log)
	}
	return pidStats(p.cmd.Process.Pid)
}

// pidStats reads the CPU time and memory of process pid from /proc.
func pidStats(pid int) (procStats, error) {
	var s procStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := stat[bytes.LastIndexByte(stat, ')')+2:]
	f := strings.Fields(string(rest))
	// utime and stime are fields 14 and 15 of the line, 12 and 13 here.
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmHWM":
			dst = &s.PeakRSS
		case "VmRSS":
			dst = &s.RSS
		default:
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		*dst = kb * 1024
	}
	return s, nil
}

// stop ends the process (SIGTERM, then SIGKILL after a grace period).
func (p *controllerProc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// sumStats adds the stats of several processes (peak RSS: the sum of each
// one's peak).
func sumStats(procs []*controllerProc) (procStats, error) {
	var sum procStats
	for _, p := range procs {
		s, err := p.stats()
		if err != nil {
			return sum, err
		}
		sum.CPU += s.CPU
		sum.RSS += s.RSS
		sum.PeakRSS += s.PeakRSS
	}
	return sum, nil
}

// childrenNamed returns the pids of this process's children whose command
// name is one of names (kube-apiserver and etcd, started by envtest).
func childrenNamed(names ...string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := string(stat[open+1 : closing])
		f := strings.Fields(string(stat[closing+2:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if ppid == self && slices.Contains(names, comm) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuOf sums the CPU time of pids (those that are gone count nothing).
func cpuOf(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if s, err := pidStats(pid); err == nil {
			sum += s.CPU
		}
	}
	return sum
}
