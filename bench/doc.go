/*
Package bench measures parledger at national scale and beside the system a
team would otherwise build, a PostgreSQL table of events, on the same
machine in the same run. It is benchmark code only: nothing in the product
imports it, and its PostgreSQL peer is not a store of parledger's.

Each measurement reports its rate or latency percentiles together with the
machine's own limit measured in the same run (the disk's fsync rate for
durable appends, encoding/json's decode rate for a replay), so that the
ratio, not the raw figure, is what compares across machines.
`parledger bench` runs them from the command line and scripts/bench runs
them all with the peer; docs/benchmarks.md has the figures.
*/
package bench
