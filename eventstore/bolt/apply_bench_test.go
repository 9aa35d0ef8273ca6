package bolt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// BenchmarkApply measures how fast the applier moves events from memory
// into ledger.db, by transaction size: 98,304 events of 64 streams wait
// in memory (the applier held back), then one flush commits them all.
func BenchmarkApply(b *testing.B) {
	const total = 3 * 32768
	payload := []byte(`{"campaign":"hanoi-2017","unit":"001","item":"3.2.4","points":"1.25","previous":"0.75",` +
		`"note":"Đã ban hành kế hoạch kiểm soát thủ tục hành chính năm 2017 đúng thời hạn, có tài liệu kiểm chứng kèm theo",` +
		`"evidence":["9f2c4e1a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"]}`)
	for _, batch := range []int{1024, 8192, 32768} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var applied time.Duration
			for i := 0; i < b.N; i++ {
				s, err := open(b.TempDir(), Options{}, func(s *Store) { s.applyMin, s.applyMax, s.applyDelay = 1<<30, batch, time.Hour })
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now().UTC()
				revs := map[string]uint64{}
				var evs []eventstore.Event
				for i := 0; i < total; i++ {
					st := fmt.Sprintf("assessment-%d", i%64)
					e := eventstore.Event{EventData: eventstore.EventData{ID: uuid.New(), Type: "SelfScoreRecorded", SchemaVersion: 1, Payload: payload,
						Actor: eventstore.Actor{ID: "unit-001-officer", Role: "unit", Scope: "001"}}, Stream: st, Revision: revs[st], RecordedAt: now}
					revs[st]++
					e.ContentHash = e.ComputeHash()
					evs = append(evs, e)
					if len(evs) == 1000 || i == total-1 {
						if err := s.Import(context.Background(), evs); err != nil {
							b.Fatal(err)
						}
						evs = evs[:0]
					}
				}
				if st := s.Stats(); st.Applies != 0 {
					b.Fatalf("the applier ran %d times before the flush", st.Applies)
				}
				if err := s.flush(); err != nil {
					b.Fatal(err)
				}
				applied += s.Stats().ApplyTime
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total*b.N)/applied.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
