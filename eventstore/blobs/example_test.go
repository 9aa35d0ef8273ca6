package blobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/parledger/parledger/eventstore/blobs"
)

// A unit uploads evidence; the event cites the returned hash and size, and
// a reader fetches the file back, verified, by that hash.
func ExampleStore_Put() {
	dir, err := os.MkdirTemp("", "blobs-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := blobs.Open(dir, blobs.Options{})
	if err != nil {
		log.Fatal(err)
	}
	b, err := s.Put(context.Background(), strings.NewReader("Biên bản kiểm tra"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Hash, b.Size)

	r, err := s.Open(context.Background(), b.Hash)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	content, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(content))

	_, err = s.Put(context.Background(), strings.NewReader(""))
	fmt.Println(errors.Is(err, blobs.ErrEmpty), err)
	// Output:
	// 41c944b584696b4ab95f79c5852cbe42f52e5ede395dd3a7cafe4d1ce9330a3d 22
	// Biên bản kiểm tra
	// true invalid: empty file
}
