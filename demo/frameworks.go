// Package demo holds the illustrative data parledger ships for
// demonstrations and tests: Hanoi's 2017-2020 PAR Index frameworks for the
// departments block and the districts block.
//
// The frameworks follow the published structure of Quyết định
// 6677/QĐ-UBND ngày 25/9/2017, but their point tables are illustrative: the
// official table is not public in any source available to the project.
// Each says so in its Illustrative flag and Notes. The Department of Home
// Affairs loads the real framework as JSON, CSV or an Excel sheet.
package demo

import (
	"embed"
	"fmt"

	"github.com/parledger/parledger/domain"
)

//go:embed frameworks/*.json
var frameworkFiles embed.FS

// frameworkPaths lists the embedded frameworks in the order Frameworks
// returns them.
var frameworkPaths = []string{
	"frameworks/hanoi-2017-so.json",
	"frameworks/hanoi-2017-huyen.json",
}

// Frameworks parses and validates the illustrative frameworks
// "hanoi-2017-so" (departments) and "hanoi-2017-huyen" (districts), in that
// order, with domain.ParseFrameworkJSON. Each call returns fresh copies the
// caller may change. An error means the embedded data is broken: a bug.
func Frameworks() ([]*domain.Framework, error) {
	out := make([]*domain.Framework, 0, len(frameworkPaths))
	for _, p := range frameworkPaths {
		f, err := frameworkFiles.Open(p)
		if err != nil {
			return nil, fmt.Errorf("demo framework %s: %w", p, err)
		}
		fw, err := domain.ParseFrameworkJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("demo framework %s: %w", p, err)
		}
		out = append(out, fw)
	}
	return out, nil
}
