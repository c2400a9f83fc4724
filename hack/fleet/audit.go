package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// apiCounts are the requests one user made, as the API server's audit log
// recorded them.
type apiCounts struct {
	Total  int64
	Reads  int64 // get, list, watch
	Writes int64 // create, update, patch, delete that changed (or tried to change) stored state
	DryRun int64 // mutating requests with dryRun set: cost, but no write
	ByVerb map[string]int64
}

func (a apiCounts) sub(b apiCounts) apiCounts {
	return apiCounts{Total: a.Total - b.Total, Reads: a.Reads - b.Reads, Writes: a.Writes - b.Writes, DryRun: a.DryRun - b.DryRun, ByVerb: subMap(a.ByVerb, b.ByVerb)}
}

func (a apiCounts) add(b apiCounts) apiCounts {
	return a.sub(apiCounts{Total: -b.Total, Reads: -b.Reads, Writes: -b.Writes, DryRun: -b.DryRun, ByVerb: negate(b.ByVerb)})
}

func negate(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[k] = -v
	}
	return out
}

// auditCounter follows the audit log as the API server writes it and
// counts requests per user.
type auditCounter struct {
	path string
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	users  map[string]*apiCounts
	events int64
}

func newAuditCounter(path string) *auditCounter {
	a := &auditCounter{path: path, stop: make(chan struct{}), done: make(chan struct{}), users: map[string]*apiCounts{}}
	go a.follow()
	return a
}

type auditEvent struct {
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
}

func (a *auditCounter) follow() {
	defer close(a.done)
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(a.path); err != nil {
			select {
			case <-a.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			partial = append(partial, line...)
			select {
			case <-a.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return
		}
		if len(partial) > 0 {
			line = append(partial, line...)
			partial = nil
		}
		var ev auditEvent
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		a.record(ev)
	}
}

func (a *auditCounter) record(ev auditEvent) {
	// A watch is counted when it starts; every other request when it ends.
	switch {
	case ev.Verb == "watch" && ev.Stage != "ResponseStarted":
		return
	case ev.Verb != "watch" && ev.Stage != "ResponseComplete" && ev.Stage != "Panic":
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events++
	c := a.users[ev.User.Username]
	if c == nil {
		c = &apiCounts{ByVerb: map[string]int64{}}
		a.users[ev.User.Username] = c
	}
	c.Total++
	key := ev.Verb
	if ev.ObjectRef != nil {
		key += " " + ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			key += "/" + ev.ObjectRef.Subresource
		}
	}
	switch ev.Verb {
	case "get", "list", "watch":
		c.Reads++
	default:
		if strings.Contains(ev.RequestURI, "dryRun=") {
			c.DryRun++
			key += " (dry run)"
		} else {
			c.Writes++
		}
	}
	c.ByVerb[key]++
}

// snapshot returns the counts of the given users, summed.
func (a *auditCounter) snapshot(users ...string) apiCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	sum := apiCounts{ByVerb: map[string]int64{}}
	for _, u := range users {
		if c := a.users[u]; c != nil {
			sum = sum.add(*c)
		}
	}
	return sum
}

// settle waits until the log has stopped growing for a moment, so a
// snapshot holds every request made before it.
func (a *auditCounter) settle() {
	var last int64 = -1
	for range 10 {
		time.Sleep(300 * time.Millisecond)
		a.mu.Lock()
		n := a.events
		a.mu.Unlock()
		if n == last {
			return
		}
		last = n
	}
}

func (a *auditCounter) close() {
	close(a.stop)
	<-a.done
}
