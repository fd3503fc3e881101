package esdb

// An in-process stand-in for the EventStoreDB gRPC Streams service, so the
// store can be exercised through the real client library without a
// server. It follows the documented behaviour the store relies on — byte
// offsets as positions (one record per event, commit = prepare), reads from
// a position that holds no record refused, the expected-revision checks and
// their idempotency (exact at the slot, a bounded id window for Any), stream
// reads reporting positions (22.10+), filtered catch-up subscriptions with
// checkpoints — and can inject the failures the store must survive. It is
// not EventStoreDB: passing against it shows the store's logic and its use
// of the client, not the server's semantics.

import (
	"context"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type fakeRecord struct {
	pos         uint64
	stream      string
	rev         uint64
	id          uuid.UUID
	typ         string
	contentType string
	meta        []byte
	data        []byte
	created     int64
}

type fakeServer struct {
	api.UnimplementedStreamsServer

	mu       sync.Mutex
	log      []*fakeRecord
	byPos    map[uint64]int // position → index in log
	byStream map[string][]*fakeRecord
	nextPos  uint64
	changed  chan struct{} // closed and replaced on every append

	// Knobs, set before use or under mu.
	idWindow     int  // how many of the newest events Any-idempotency remembers (EventStoreDB: a bounded cache)
	caughtUp     bool // send caught-up messages (EventStoreDB 23.10+)
	failAppends  int  // the next appends fail with Unavailable, writing nothing
	loseReplies  int  // the next appends are written, then answered with Unavailable
	notLeader    int  // the next appends fail with a not-leader exception naming this node
	dropSubsOnce bool // the next subscription drops with Unavailable after its first event
	appends      int  // append calls received

	srv  *grpc.Server
	addr string
}

func startFake(t testing.TB) *fakeServer {
	t.Helper()
	f := &fakeServer{byPos: map[uint64]int{}, byStream: map[string][]*fakeRecord{}, nextPos: 1000, changed: make(chan struct{}), idWindow: 1 << 20, caughtUp: true}
	// A fresh server's log holds system events; so does ours.
	f.write("$users", "$UserCreated", []byte(`{"login":"admin"}`))
	f.write("$$$scavenges", "$metadata", []byte(`{"$maxAge":2592000}`))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	f.srv = grpc.NewServer()
	api.RegisterStreamsServer(f.srv, f)
	go func() { _ = f.srv.Serve(lis) }()
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *fakeServer) url() string { return "esdb://" + f.addr + "?tls=false" }

// write appends one record; mu must be held (or the server not yet shared).
func (f *fakeServer) write(stream, typ string, data []byte) *fakeRecord {
	return f.writeFull(stream, typ, uuid.New(), "application/json", nil, data)
}

func (f *fakeServer) writeFull(stream, typ string, id uuid.UUID, ct string, meta, data []byte) *fakeRecord {
	r := &fakeRecord{pos: f.nextPos, stream: stream, rev: uint64(len(f.byStream[stream])), id: id, typ: typ, contentType: ct, meta: meta, data: data, created: time.Now().UnixNano() / 100}
	f.byPos[r.pos] = len(f.log)
	f.log = append(f.log, r)
	f.byStream[stream] = append(f.byStream[stream], r)
	f.nextPos += uint64(60 + len(stream) + len(typ) + len(meta) + len(data))
	close(f.changed)
	f.changed = make(chan struct{})
	return r
}

func (f *fakeServer) set(fn func(f *fakeServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// tamper rewrites the data of the stored event with id, in place.
func (f *fakeServer) tamper(id string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.log {
		if r.id.String() == id {
			r.data = data
			return
		}
	}
	panic("tamper: no event " + id)
}

func toUUID(u *shared.UUID) uuid.UUID {
	if s := u.GetStructured(); s != nil {
		id, _ := esdbclient.ParseUUIDFromInt64(s.MostSignificantBits, s.LeastSignificantBits)
		return id
	}
	id, _ := uuid.Parse(u.GetString_())
	return id
}

func (f *fakeServer) Append(stream api.Streams_AppendServer) error {
	head, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := head.GetOptions()
	name := string(opts.GetStreamIdentifier().GetStreamName())
	var msgs []*api.AppendReq_ProposedMessage
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		msgs = append(msgs, req.GetProposedMessage())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appends++
	if f.notLeader > 0 {
		f.notLeader--
		host, port, _ := net.SplitHostPort(f.addr)
		stream.SetTrailer(metadata.Pairs("exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port))
		return status.Error(codes.NotFound, "Leader info available")
	}
	if f.failAppends > 0 {
		f.failAppends--
		return status.Error(codes.Unavailable, "fake: node is down")
	}
	ids := make([]uuid.UUID, len(msgs))
	for i, m := range msgs {
		ids[i] = toUUID(m.GetId())
	}
	recs := f.byStream[name]
	cur := len(recs) // next revision
	wrong := func() error {
		w := &api.AppendResp_WrongExpectedVersion{}
		if cur == 0 {
			w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		} else {
			w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(cur - 1)}
		}
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		return stream.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}})
	}
	success := func(first, last *fakeRecord) error {
		return stream.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.rev},
			PositionOption:        &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: last.pos, PreparePosition: first.pos}},
		}}})
	}
	// slot checks the events from revision start on against ids, the way
	// EventStoreDB checks a retry with an expected revision.
	slot := func(start int) error {
		if start+len(ids) > cur {
			return wrong()
		}
		for i, id := range ids {
			if recs[start+i].id != id {
				return wrong()
			}
		}
		return success(recs[start], recs[start+len(ids)-1])
	}
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_NoStream:
		if cur > 0 {
			return slot(0)
		}
	case *api.AppendReq_Options_Revision:
		switch {
		case int(e.Revision)+1 < cur:
			return slot(int(e.Revision) + 1)
		case int(e.Revision)+1 > cur:
			return wrong()
		}
	case *api.AppendReq_Options_StreamExists:
		if cur == 0 {
			return wrong()
		}
	case *api.AppendReq_Options_Any:
		// Idempotency from a bounded memory of recent ids.
		window := f.log[max(0, len(f.log)-f.idWindow):]
		where := map[uuid.UUID]*fakeRecord{}
		for _, r := range window {
			if r.stream == name {
				where[r.id] = r
			}
		}
		if r0, ok := where[ids[0]]; ok {
			for i, id := range ids {
				if r, ok := where[id]; !ok || r.rev != r0.rev+uint64(i) {
					return wrong() // corrupted idempotency
				}
			}
			return success(r0, where[ids[len(ids)-1]])
		}
	}
	var first, last *fakeRecord
	for i, m := range msgs {
		last = f.writeFull(name, m.GetMetadata()["type"], ids[i], m.GetMetadata()["content-type"], m.GetCustomMetadata(), m.GetData())
		if first == nil {
			first = last
		}
	}
	if f.loseReplies > 0 {
		f.loseReplies--
		return status.Error(codes.Unavailable, "fake: connection reset after the write")
	}
	return success(first, last)
}

func (f *fakeServer) event(r *fakeRecord) *api.ReadResp {
	most, least := esdbclient.UUIDAsInt64(r.id)
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.rev,
			PreparePosition:  r.pos,
			CommitPosition:   r.pos,
			Metadata:         map[string]string{"type": r.typ, "content-type": r.contentType, "created": strconv.FormatInt(r.created, 10)},
			CustomMetadata:   r.meta,
			Data:             r.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

var errInvalidPosition = status.Error(codes.Unknown, "fake: invalid position: no record starts there")

func (f *fakeServer) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	if sub := o.GetSubscription(); sub != nil {
		return f.subscribe(o, srv)
	}
	count := o.GetCount()
	back := o.GetReadDirection() == api.ReadReq_Options_Backwards
	f.mu.Lock()
	var out []*fakeRecord
	if so := o.GetStream(); so != nil {
		name := string(so.GetStreamIdentifier().GetStreamName())
		recs := f.byStream[name]
		if len(recs) == 0 {
			f.mu.Unlock()
			return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{StreamIdentifier: so.GetStreamIdentifier()}}})
		}
		i := 0
		switch r := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			i = int(min(r.Revision, uint64(len(recs))))
			if back {
				i = int(min(r.Revision, uint64(len(recs)-1)))
			}
		case *api.ReadReq_Options_StreamOptions_End:
			i = len(recs)
			if back {
				i = len(recs) - 1
			}
		}
		for ; uint64(len(out)) < count && i >= 0 && i < len(recs); i = step(i, back) {
			out = append(out, recs[i])
		}
	} else {
		ao := o.GetAll()
		i := 0
		switch p := ao.GetAllOption().(type) {
		case *api.ReadReq_Options_AllOptions_Position:
			idx, ok := f.byPos[p.Position.GetPreparePosition()]
			if !ok && !back {
				f.mu.Unlock()
				return errInvalidPosition
			}
			if back {
				// Backwards from a position: the records before it.
				i = -1
				for j := len(f.log) - 1; j >= 0; j-- {
					if f.log[j].pos < p.Position.GetPreparePosition() {
						i = j
						break
					}
				}
			} else {
				i = idx
			}
		case *api.ReadReq_Options_AllOptions_End:
			i = len(f.log)
			if back {
				i = len(f.log) - 1
			}
		}
		for ; uint64(len(out)) < count && i >= 0 && i < len(f.log); i = step(i, back) {
			out = append(out, f.log[i])
		}
	}
	msgs := make([]*api.ReadResp, len(out))
	for i, r := range out {
		msgs[i] = f.event(r)
	}
	f.mu.Unlock()
	for _, m := range msgs {
		if err := srv.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func step(i int, back bool) int {
	if back {
		return i - 1
	}
	return i + 1
}

// matcher compiles a subscription's filter.
func matcher(fo *api.ReadReq_Options_FilterOptions) (func(r *fakeRecord) bool, error) {
	if fo == nil {
		return func(*fakeRecord) bool { return true }, nil
	}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	onStream := false
	switch x := fo.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_EventType:
		expr = x.EventType
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr, onStream = x.StreamIdentifier, true
	}
	var re *regexp.Regexp
	if expr.GetRegex() != "" {
		var err error
		if re, err = regexp.Compile(expr.GetRegex()); err != nil {
			return nil, err
		}
	}
	return func(r *fakeRecord) bool {
		s := r.typ
		if onStream {
			s = r.stream
		}
		if re != nil {
			return re.MatchString(s)
		}
		for _, p := range expr.GetPrefix() {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}, nil
}

func (f *fakeServer) subscribe(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	if o.GetAll() == nil {
		return status.Error(codes.Unimplemented, "fake: stream subscriptions")
	}
	match, err := matcher(o.GetFilter())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	window := uint32(32)
	if fo := o.GetFilter(); fo != nil && fo.GetMax() > 0 {
		window = fo.GetMax() * max(1, fo.GetCheckpointIntervalMultiplier())
	}
	f.mu.Lock()
	i := 0
	switch p := o.GetAll().GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		idx, ok := f.byPos[p.Position.GetPreparePosition()]
		if !ok {
			f.mu.Unlock()
			return errInvalidPosition
		}
		i = idx + 1 // subscriptions start after the position given
	case *api.ReadReq_Options_AllOptions_End:
		i = len(f.log)
	}
	drop := f.dropSubsOnce
	f.dropSubsOnce = false
	caughtUp := f.caughtUp
	f.mu.Unlock()
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	considered := uint32(0)
	live := false
	for {
		f.mu.Lock()
		var batch []*fakeRecord
		for ; i < len(f.log); i++ {
			batch = append(batch, f.log[i])
		}
		changed := f.changed
		f.mu.Unlock()
		for _, r := range batch {
			considered++
			if match(r) {
				if err := srv.Send(f.event(r)); err != nil {
					return err
				}
				if drop {
					return status.Error(codes.Unavailable, "fake: subscription dropped")
				}
			}
			if considered%window == 0 {
				if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{CommitPosition: r.pos, PreparePosition: r.pos}}}); err != nil {
					return err
				}
			}
		}
		if !live {
			live = true
			if caughtUp {
				if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
					return err
				}
			}
		}
		select {
		case <-changed:
		case <-srv.Context().Done():
			return srv.Context().Err()
		}
	}
}

// openFake opens a store on a fresh fake server.
func openFake(t testing.TB, f *fakeServer, mod func(o *Options)) *Store {
	t.Helper()
	o := DefaultOptions()
	o.Retry = RetryPolicy{MaxAttempts: 5, InitialDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, Multiplier: 2, Jitter: 0.5}
	if mod != nil {
		mod(o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, f.url(), o)
	if err != nil {
		t.Fatalf("Open(%s): %v", f.url(), err)
	}
	return s
}
