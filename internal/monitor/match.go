package monitor

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// matchBatch is the number of consecutive entries one match worker takes.
const matchBatch = 64

// maxChunkEvents ends a chunk early once its entries have raised this many
// events: they are held in memory until the chunk is proven to be in the
// tree (no alert for an entry the log did not commit to), and an event
// carries its entry, some kilobytes. The count lags the fetch by the
// batches in flight, a few hundred entries at most.
const maxChunkEvents = 2000

// maxChunkEventBytes ends a chunk early once its events carry this many
// bytes of entry bodies as evidence: a log of large entries that all raise
// events would otherwise hold maxChunkEvents of them. The count lags like
// the number of events, by entries that the memory budget bounds.
const maxChunkEventBytes = 8 << 20

// errChunkFull stops a chunk's fetch at maxChunkEvents or
// maxChunkEventBytes.
var errChunkFull = errors.New("chunk raised its maximum of events")

// matchPipeline parses and matches a chunk's entries on GOMAXPROCS
// goroutines, while the scanner's goroutine keeps hashing them into the
// compact range in order. Entries go in batches of consecutive entries; the
// batches' events are collected in entry order, so the chunk's events come
// out in the same order as a serial scan's. At most 2*GOMAXPROCS batches are
// in flight: add blocks beyond that, which bounds memory whatever the chunk
// size.
//
//	add --batch--> jobs --> worker (parse+match) --+
//	  \                                            | done
//	   +--batch--> order ----> collector <----------+--> events, in order
type matchPipeline struct {
	s         *scanner
	cur       *matchJob
	jobs      chan *matchJob
	order     chan *matchJob
	events    []alert.Event
	obs       []*observation // for the log's pairs, in entry order
	recs      []index.Record // for the search index, in entry order
	err       error          // the first entry that could not be judged (tlog.UnavailableError)
	nevents   atomic.Int64   // len(events), for the fetching goroutine
	nbytes    atomic.Int64   // bytes of entry bodies in events, likewise
	collected chan struct{}
}

// full reports whether the chunk's events reached their bounds.
func (mp *matchPipeline) full() bool {
	return mp.nevents.Load() >= maxChunkEvents || mp.nbytes.Load() >= maxChunkEventBytes
}

type matchJob struct {
	now     time.Time
	entries []tlog.Entry
	leaves  [][]byte
	events  []alert.Event
	obs     []*observation
	recs    []index.Record
	err     error
	done    chan struct{}
}

func (s *scanner) newMatchPipeline() *matchPipeline {
	n := runtime.GOMAXPROCS(0)
	mp := &matchPipeline{s: s, jobs: make(chan *matchJob, 2*n), order: make(chan *matchJob, 2*n), collected: make(chan struct{})}
	for range n {
		go func() {
			for j := range mp.jobs {
				for i, e := range j.entries {
					evs, ob, rec, err := s.match(e, j.leaves[i], j.now)
					if err != nil && j.err == nil {
						j.err = err
					}
					j.events = append(j.events, evs...)
					if ob != nil {
						j.obs = append(j.obs, ob)
					}
					if rec != nil {
						j.recs = append(j.recs, *rec)
					}
					// Done with the entry: its bytes no longer count
					// against the budget, so drop the reference too.
					e.Release()
					j.entries[i] = tlog.Entry{}
				}
				close(j.done)
			}
		}()
	}
	go func() {
		defer close(mp.collected)
		for j := range mp.order {
			<-j.done
			mp.events = append(mp.events, j.events...)
			mp.obs = append(mp.obs, j.obs...)
			mp.recs = append(mp.recs, j.recs...)
			if j.err != nil && mp.err == nil {
				mp.err = j.err
			}
			mp.nevents.Store(int64(len(mp.events)))
			for _, ev := range j.events {
				if ev.Evidence.Entry != nil {
					mp.nbytes.Add(int64(len(ev.Evidence.Entry.Body)))
				}
			}
		}
	}()
	return mp
}

// add queues an entry; it is called from one goroutine, in entry order.
func (mp *matchPipeline) add(e tlog.Entry, leaf []byte) {
	if mp.cur == nil {
		// The clock is read here, on the scanner's goroutine, not by the
		// workers: Config.Now need not be safe for concurrent use.
		mp.cur = &matchJob{now: mp.s.now(), entries: make([]tlog.Entry, 0, matchBatch),
			leaves: make([][]byte, 0, matchBatch), done: make(chan struct{})}
	}
	mp.cur.entries = append(mp.cur.entries, e)
	mp.cur.leaves = append(mp.cur.leaves, leaf)
	if len(mp.cur.entries) == matchBatch {
		mp.flush()
	}
}

func (mp *matchPipeline) flush() {
	if mp.cur == nil {
		return
	}
	// order first: the collector waits for batches in this order, and the
	// workers drain jobs (as large as order) whatever the collector does.
	mp.order <- mp.cur
	mp.jobs <- mp.cur
	mp.cur = nil
}

// wait matches what is still queued, stops the goroutines and returns the
// events, observations and index records of every added entry, in entry
// order, or the first error of an entry that could not be judged.
func (mp *matchPipeline) wait() ([]alert.Event, []*observation, []index.Record, error) {
	mp.flush()
	close(mp.order)
	close(mp.jobs)
	<-mp.collected
	return mp.events, mp.obs, mp.recs, mp.err
}

// match parses and matches one entry and returns the events it causes,
// what it shows the log's pairs and its index record (nil without an
// index). An entry whose signer could not be had (tlog.UnavailableError)
// is an error: the chunk is no verdict. It is called concurrently by the
// match workers.
func (s *scanner) match(e tlog.Entry, leaf []byte, now time.Time) ([]alert.Event, *observation, *index.Record, error) {
	ids, err := s.src.Identities(s.parser, e)
	if ue := (*tlog.UnavailableError)(nil); errors.As(err, &ue) {
		return nil, nil, nil, fmt.Errorf("entry %d: %w", e.LogIndex, err)
	}
	var rec *index.Record
	if s.ix != nil {
		r := s.record(e, leaf, ids, err)
		rec = &r
	}
	if s.indexOnly {
		return nil, nil, rec, nil
	}
	evs, ob := s.judge(e, leaf, now, ids, err)
	return evs, ob, rec, nil
}

// judge matches an entry's identities (or parse error) and returns the
// events it causes and what it shows the log's pairs.
func (s *scanner) judge(e tlog.Entry, leaf []byte, now time.Time, ids []identity.Identity, err error) ([]alert.Event, *observation) {
	ev := entryEvents{log: s.log, keyID: s.keyID, from: s.from, now: now, entry: e, leaf: leaf}
	if err != nil {
		s.m.malformed.Inc()
		s.logger.Warn("malformed entry", "log", s.log, "index", e.LogIndex, "err", err)
		var ob *observation
		if s.obs != nil {
			// A CT entry is still seen from its leaf.
			ob = s.obs.extract(e, leaf, nil, nil)
		}
		return []alert.Event{ev.malformed(err)}, ob
	}
	res := s.cfg.Matcher.Match(ids)
	var events []alert.Event
	sev := s.cfg.WatchSeverity
	if sev == "" {
		sev = config.DefaultWatchSeverity
	}
	for _, h := range res.Watched {
		s.m.identityMatches.WithLabelValues(h.Rule).Inc()
		e := ev.watched(h, sev)
		s.logger.Info("watched identity signed", "log", s.log, "index", ev.entry.LogIndex, "rule", h.Rule,
			"subject", e.Evidence.Identity["subject"], "issuer", e.Evidence.Identity["issuer"])
		events = append(events, e)
	}
	if !res.Expected {
		s.m.unexpected.Inc()
		e := ev.unexpected(ids)
		s.logger.Warn("unexpected identity signed", "log", s.log, "index", ev.entry.LogIndex,
			"subject", e.Evidence.Identity["subject"], "issuer", e.Evidence.Identity["issuer"])
		events = append(events, e)
	}
	var ob *observation
	if s.obs != nil {
		ob = s.obs.extract(e, leaf, ids, res.Watched)
	}
	return events, ob
}
