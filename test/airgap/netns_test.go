//go:build airgap

package airgap

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The namespaces of the test network. Their names, and the veths', carry
// the test's prefix so a teardown never touches anything else.
const (
	nsUpstream = "sl-ag-upstream"
	nsCI       = "sl-ag-ci"
	nsMirror   = "sl-ag-mirror"
	nsCluster  = "sl-ag-cluster"
)

var namespaces = []string{nsUpstream, nsCI, nsMirror, nsCluster}

// Addresses, only ever configured inside the namespaces.
const (
	upstreamIP = "198.18.0.1"
	ciIP       = "198.18.0.2"
	mirrorIP   = "198.18.1.1"
	clusterIP  = "198.18.1.2"
)

// wire is a veth pair with one end in each of two namespaces.
type wire struct {
	a, aNS, aAddr string
	b, bNS, bAddr string
}

// wires join the namespaces of each side; nothing joins the sides.
var wires = []wire{
	{a: "ag-up0", aNS: nsUpstream, aAddr: upstreamIP + "/30", b: "ag-ci0", bNS: nsCI, bAddr: ciIP + "/30"},
	{a: "ag-mir0", aNS: nsMirror, aAddr: mirrorIP + "/30", b: "ag-cl0", bNS: nsCluster, bAddr: clusterIP + "/30"},
}

// ip runs the ip command and returns its output.
func ip(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// existingNamespaces lists which of the test's namespaces exist.
func existingNamespaces() ([]string, error) {
	out, err := ip("netns", "list")
	if err != nil {
		return nil, err
	}
	var found []string
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if slices.Contains(namespaces, name) {
			found = append(found, name)
		}
	}
	return found, nil
}

// strayLinks lists the test's veths found outside its namespaces (a link
// creation cut short could leave one in the root namespace).
func strayLinks() []string {
	var found []string
	for _, w := range wires {
		for _, name := range []string{w.a, w.b} {
			if _, err := ip("link", "show", "dev", name); err == nil {
				found = append(found, name)
			}
		}
	}
	return found
}

// setupNetwork creates the namespaces with loopback up and the two wires,
// addressed and up.
func setupNetwork() error {
	for _, ns := range namespaces {
		if _, err := ip("netns", "add", ns); err != nil {
			return err
		}
		if _, err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, w := range wires {
		// Both ends are created inside their namespaces: no end ever
		// exists in the root namespace.
		if _, err := ip("link", "add", w.a, "netns", w.aNS, "type", "veth", "peer", "name", w.b, "netns", w.bNS); err != nil {
			return err
		}
		for _, end := range [][3]string{{w.aNS, w.a, w.aAddr}, {w.bNS, w.b, w.bAddr}} {
			if _, err := ip("-n", end[0], "addr", "add", end[2], "dev", end[1]); err != nil {
				return err
			}
			if _, err := ip("-n", end[0], "link", "set", end[1], "up"); err != nil {
				return err
			}
		}
	}
	return nil
}

// teardownNetwork removes whatever of the test network exists: the
// processes still running in its namespaces (started by this test or by an
// earlier run that crashed; ended by their ids), the namespaces, which takes
// their veths with them, and any veth of the test left in the root
// namespace. It is safe to run when nothing exists.
func teardownNetwork() error {
	var errs []error
	existing, err := existingNamespaces()
	if err != nil {
		return err
	}
	for _, ns := range existing {
		if err := killNamespacePids(ns); err != nil {
			errs = append(errs, err)
		}
		if _, err := ip("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range strayLinks() {
		if _, err := ip("link", "del", "dev", name); err != nil {
			errs = append(errs, err)
		}
	}
	if left, err := existingNamespaces(); err != nil || len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left after teardown: %v %v", left, err))
	}
	if left := strayLinks(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("veths left after teardown: %v", left))
	}
	return errors.Join(errs...)
}

// killNamespacePids ends the processes running in ns by their ids and waits
// (boundedly) until none is left.
func killNamespacePids(ns string) error {
	const bound = 30 * time.Second
	deadline := time.Now().Add(bound)
	for {
		out, err := ip("netns", "pids", ns)
		if err != nil {
			return err
		}
		pids := strings.Fields(out)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still run in %s after %s", pids, ns, bound)
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
