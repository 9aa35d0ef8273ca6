package demo

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/parledger/parledger/domain"
)

// Start is when the demo campaign begins: 08:00 on 25/9/2017 in Hanoi, the
// day Quyết định 6677/QĐ-UBND issued the framework. Load needs a clock
// showing Start or earlier.
var Start = time.Date(2017, time.September, 25, 8, 0, 0, 0, domain.Hanoi)

// hanoiDate returns midnight of a day in Hanoi.
func hanoiDate(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, domain.Hanoi)
}

// at returns the time hh:mm on day d.
func at(d time.Time, hh, mm int) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, domain.Hanoi)
}

// holidays2017 are the weekdays of 2017 that were public holidays in
// Vietnam (New Year, Tết, Hùng Kings, 30/4 and 1/5, National Day, with
// the days off in lieu). None falls between October and December.
var holidays2017 = []string{
	"2017-01-02", "2017-01-26", "2017-01-27", "2017-01-30", "2017-01-31", "2017-02-01",
	"2017-04-06", "2017-05-01", "2017-05-02", "2017-09-04",
}

// isWorkday reports whether d is a Monday to Friday and no holiday.
func isWorkday(d time.Time) bool {
	if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		return false
	}
	return !slices.Contains(holidays2017, d.In(domain.Hanoi).Format(time.DateOnly))
}

// workdays returns the working days from from to to, both included.
func workdays(from, to time.Time) []time.Time {
	var out []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if isWorkday(d) {
			out = append(out, d)
		}
	}
	return out
}

// workdayOnOrAfter returns d, or the Monday after it when it falls on a
// weekend.
func workdayOnOrAfter(d time.Time) time.Time {
	for !isWorkday(d) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// nextWorkday returns the first working day after d.
func nextWorkday(d time.Time) time.Time { return workdayOnOrAfter(d.AddDate(0, 0, 1)) }

// sampleDays returns n distinct days of days, in order; all of them when
// there are fewer.
func sampleDays(rng *rand.Rand, days []time.Time, n int) []time.Time {
	idx := rng.Perm(len(days))
	idx = idx[:min(n, len(idx))]
	slices.Sort(idx)
	out := make([]time.Time, len(idx))
	for i, j := range idx {
		out[i] = days[j]
	}
	return out
}
