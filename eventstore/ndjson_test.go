package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/eventstore/storetest"
)

func mustOpen(tb testing.TB) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// exportOf fills a store with events whose payloads are hard to carry
// byte for byte (HTML characters, U+2028, Vietnamese) and exports it.
func exportOf(t *testing.T) (*bolt.Store, []byte) {
	t.Helper()
	src := mustOpen(t)
	for i := 0; i < 1234; i++ {
		e := storetest.NewEvent("SelfScoreRecorded", i)
		e.Payload = []byte(fmt.Sprintf(`{"n":%d,"note":"<b>Tự chấm</b> & \u2028 \"q\"","points":"0.25"}`, i))
		if i%7 == 0 {
			e.Metadata = map[string]string{"client": "test", "đơn vị": "Sở Nội vụ"}
		}
		storetest.MustAppend(t, src, fmt.Sprintf("assessment-%d", i%9), eventstore.Any, e)
	}
	var buf bytes.Buffer
	n, err := eventstore.Export(context.Background(), src, &buf)
	if err != nil || n != 1234 {
		t.Fatalf("Export = %d, %v; want 1234 events", n, err)
	}
	return src, buf.Bytes()
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	src, file := exportOf(t)
	want := storetest.Collect(t, src.ReadAll(ctx, eventstore.ReadAllOptions{}))

	t.Run("OK", func(t *testing.T) {
		dst := mustOpen(t)
		st, err := eventstore.Import(ctx, dst, bytes.NewReader(file), nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Events != 1234 || st.Imported != 1234 || st.Skipped != 0 {
			t.Errorf("stats = %+v, want 1234 imported", st)
		}
		got := storetest.Collect(t, dst.ReadAll(ctx, eventstore.ReadAllOptions{}))
		for i := range want {
			if got[i].ID != want[i].ID || got[i].ContentHash != want[i].ContentHash || got[i].Revision != want[i].Revision ||
				got[i].Stream != want[i].Stream || !got[i].RecordedAt.Equal(want[i].RecordedAt) || !bytes.Equal(got[i].Payload, want[i].Payload) {
				t.Fatalf("event %d differs after import:\n got  %+v\n want %+v", i, got[i], want[i])
			}
		}
		// Exporting the copy gives the same file, byte for byte.
		var again bytes.Buffer
		if _, err := eventstore.Export(ctx, dst, &again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), file) {
			t.Errorf("export of the imported ledger differs from the original export")
		}
		// Importing the same file again is a no-op.
		st, err = eventstore.Import(ctx, dst, bytes.NewReader(file), nil)
		if err != nil || st.Imported != 0 || st.Skipped != 1234 {
			t.Errorf("second import = %+v, %v; want all skipped", st, err)
		}
		if head, _ := dst.Head(ctx); head != 1234 {
			t.Errorf("head = %d after importing twice, want 1234", head)
		}
	})
	t.Run("OKResume", func(t *testing.T) {
		dst := mustOpen(t)
		if err := dst.Import(ctx, want[:300]); err != nil {
			t.Fatal(err)
		}
		var calls int
		st, err := eventstore.Import(ctx, dst, bytes.NewReader(file), func(int64) { calls++ })
		if err != nil || st.Skipped != 300 || st.Imported != 934 {
			t.Errorf("resumed import = %+v, %v; want 300 skipped, 934 imported", st, err)
		}
		if calls == 0 {
			t.Errorf("progress was never reported")
		}
	})
	t.Run("ErrImportMismatch", func(t *testing.T) {
		dst := mustOpen(t)
		storetest.MustAppend(t, dst, "other", eventstore.NoStream, storetest.NewEvent("E", 1))
		_, err := eventstore.Import(ctx, dst, bytes.NewReader(file), nil)
		if !errors.Is(err, eventstore.ErrImportMismatch) {
			t.Errorf("err = %v, want ErrImportMismatch", err)
		}
		if head, _ := dst.Head(ctx); head != 1 {
			t.Errorf("head = %d after a refused import, want 1", head)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		lines := strings.SplitAfter(string(file), "\n")
		edit := func(i int, from, to string) string {
			out := append([]string(nil), lines...)
			out[i] = strings.Replace(out[i], from, to, 1)
			return strings.Join(out, "")
		}
		for _, tt := range []struct {
			name string
			file string
			want error
			line string
		}{
			{"PayloadEdited", edit(700, `"points":"0.25"`, `"points":"0.75"`), eventstore.ErrHashMismatch, "line 701"},
			{"UnknownField", edit(5, `"position"`, `"extra":1,"position"`), eventstore.ErrInvalid, "line 6"},
			{"NotJSON", edit(9, `{`, `[`), eventstore.ErrInvalid, "line 10"},
			{"EventMissing", strings.Join(append(append([]string(nil), lines[:100]...), lines[101:]...), ""), eventstore.ErrInvalid, "not a whole export"},
			{"PayloadNotCompact", edit(3, `"payload":{"n"`, `"payload":{ "n"`), eventstore.ErrInvalid, "line 4"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				dst := mustOpen(t)
				_, err := eventstore.Import(ctx, dst, strings.NewReader(tt.file), nil)
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.line) {
					t.Errorf("err = %v, want %v mentioning %q", err, tt.want, tt.line)
				}
				if head, _ := dst.Head(ctx); head != 0 {
					t.Errorf("head = %d after a refused import, want 0: a bad file wrote events", head)
				}
			})
		}
	})
}
